//! Searching the library with a face: the person it most likely is, and the photos that show it.

use crate::db::{blob_to_embedding, Library};
use crate::error::Result;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// A photo that shows the searched face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoHit {
    pub image: PathBuf,
    /// The face of the photo most similar to the query.
    pub face: i64,
    pub person: Option<i64>,
    pub similarity: f32,
}

/// The answer for one query face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// The person whose faces are, on average, most similar (when that average reaches the threshold).
    pub person: Option<i64>,
    pub person_similarity: Option<f32>,
    /// Photos with a face at or above the threshold, or a face of that person; most similar first.
    pub photos: Vec<PhotoHit>,
}

struct Row {
    face: i64,
    person: Option<i64>,
    image: PathBuf,
    similarity: f32,
}

/// Searches the library for the face with (L2-normalised) `embedding` at `threshold`.
pub fn search(library: &Library, embedding: &[f32], threshold: f32) -> Result<SearchResult> {
    let rows = scored_faces(library, embedding)?;
    let (person, person_similarity) = best_person(&rows, threshold).unzip();
    let mut best: HashMap<&PathBuf, &Row> = HashMap::new();
    for row in rows.iter().filter(|r| r.similarity >= threshold || (person.is_some() && r.person == person)) {
        let slot = best.entry(&row.image).or_insert(row);
        if row.similarity > slot.similarity {
            *slot = row;
        }
    }
    let mut photos: Vec<PhotoHit> = best
        .into_values()
        .map(|r| PhotoHit { image: r.image.clone(), face: r.face, person: r.person, similarity: r.similarity })
        .collect();
    photos.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.image.cmp(&b.image)));
    Ok(SearchResult { person, person_similarity, photos })
}

fn scored_faces(library: &Library, embedding: &[f32]) -> Result<Vec<Row>> {
    let mut stmt = library
        .conn()
        .prepare("SELECT f.id, f.person_id, i.path, f.embedding FROM faces f JOIN images i ON i.id = f.image_id")?;
    let rows = stmt.query_map([], |r| {
        let e = blob_to_embedding(&r.get::<_, Vec<u8>>(3)?);
        Ok(Row {
            face: r.get(0)?,
            person: r.get(1)?,
            image: PathBuf::from(r.get::<_, String>(2)?),
            similarity: e.iter().zip(embedding).map(|(a, b)| a * b).sum(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The person with the highest mean similarity (average linkage with the query), if at the threshold.
fn best_person(rows: &[Row], threshold: f32) -> Option<(i64, f32)> {
    let mut sums: HashMap<i64, (f32, usize)> = HashMap::new();
    for row in rows {
        if let Some(p) = row.person {
            let s = sums.entry(p).or_default();
            s.0 += row.similarity;
            s.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(p, (sum, n))| (p, sum / n as f32))
        .filter(|&(_, mean)| mean >= threshold)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}
