//! Grouping the library's faces into people with [`crate::cluster::average_linkage`], incrementally
//! or from scratch, keeping every correction.
//!
//! - Incremental (the default): each existing person is a fixed cluster; only faces not yet assigned
//!   are clustered, joining a person or forming new ones. Existing people are never merged or split.
//! - Full: everything is clustered again, except that each *confirmed* person (one the user named or
//!   corrected) starts from its pinned faces and never merges with another confirmed person, and no
//!   face joins a person it was marked "not" as. Other people keep their ids where most of their faces
//!   stay together.

use crate::cluster::{average_linkage, neighbours, Seeds};
use crate::db::{blob_to_embedding, log_event, Library};
use crate::error::Result;
use ndarray::Array2;
use rusqlite::params;
use serde::Serialize;
use std::collections::HashMap;

/// The similarity threshold of the library's clustering, chosen on LFW (docs/library.md): the best
/// pairwise F1 of average linkage over a sweep of thresholds.
pub const DEFAULT_THRESHOLD: f32 = 0.40;

/// Candidate pairs per face in the neighbour graph.
pub const NEIGHBOURS: usize = 30;

/// What a clustering run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    /// Faces in the library.
    pub faces: usize,
    /// Faces whose person was decided in this run.
    pub clustered: usize,
    /// People after the run.
    pub people: usize,
    /// People created in this run.
    pub new_people: usize,
}

/// One face as clustering sees it.
struct FaceRow {
    id: i64,
    person: Option<i64>,
    pinned: bool,
    embedding: Vec<f32>,
}

/// Clusters the library's faces at `threshold` (incrementally unless `full`) and stores the result in
/// one transaction.
pub fn cluster(library: &mut Library, threshold: f32, full: bool) -> Result<ClusterReport> {
    let faces = load_faces(library)?;
    let confirmed = confirmed_people(library)?;
    let forbidden = not_person(library)?;
    let queries: Vec<usize> = (0..faces.len()).filter(|&i| full || faces[i].person.is_none()).collect();
    if queries.is_empty() {
        return Ok(ClusterReport { faces: faces.len(), people: count_people(library)?, ..ClusterReport::default() });
    }
    let points = matrix(&faces)?;
    let seeds = seeds(&faces, &confirmed, &forbidden, full);
    let graph = neighbours(points.view(), &queries, threshold, NEIGHBOURS).symmetric(threshold, NEIGHBOURS);
    let labels = average_linkage(points.view(), &graph, threshold, &seeds);
    let anchors = label_anchors(&labels, &seeds);
    let mut report = store(library, &faces, &labels, &anchors, &confirmed, full)?;
    report.clustered = queries.len();
    Ok(report)
}

fn load_faces(library: &Library) -> Result<Vec<FaceRow>> {
    let mut stmt = library.conn().prepare("SELECT id, person_id, pinned, embedding FROM faces ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(FaceRow {
            id: r.get(0)?,
            person: r.get(1)?,
            pinned: r.get::<_, i64>(2)? != 0,
            embedding: blob_to_embedding(&r.get::<_, Vec<u8>>(3)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn confirmed_people(library: &Library) -> Result<std::collections::HashSet<i64>> {
    let mut stmt = library.conn().prepare("SELECT id FROM people WHERE confirmed = 1")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn not_person(library: &Library) -> Result<HashMap<i64, Vec<i64>>> {
    let mut stmt = library.conn().prepare("SELECT face_id, person_id FROM not_person")?;
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (face, person) = row?;
        out.entry(face).or_default().push(person);
    }
    Ok(out)
}

fn count_people(library: &Library) -> Result<usize> {
    Ok(library.conn().query_row("SELECT COUNT(*) FROM people", [], |r| r.get::<_, i64>(0))? as usize)
}

fn matrix(faces: &[FaceRow]) -> Result<Array2<f32>> {
    let dim = faces.first().map_or(0, |f| f.embedding.len());
    if faces.iter().any(|f| f.embedding.len() != dim) {
        return Err(crate::LibraryError::Invalid("the library holds embeddings of different sizes".into()));
    }
    let flat: Vec<f32> = faces.iter().flat_map(|f| f.embedding.iter().copied()).collect();
    Array2::from_shape_vec((faces.len(), dim), flat).map_err(|e| crate::LibraryError::Invalid(e.to_string()))
}

/// Incremental: every assigned face starts in its person. Full: pinned faces of confirmed people do.
fn seeds(
    faces: &[FaceRow],
    confirmed: &std::collections::HashSet<i64>,
    forbidden: &HashMap<i64, Vec<i64>>,
    full: bool,
) -> Seeds {
    let mut seeds = Seeds::free(faces.len());
    let mut group_of: HashMap<i64, usize> = HashMap::new();
    for (i, face) in faces.iter().enumerate() {
        let person = face.person.filter(|p| !full || (face.pinned && confirmed.contains(p)));
        if let Some(p) = person {
            let g = *group_of.entry(p).or_insert_with(|| {
                seeds.anchor.push(Some(p));
                seeds.anchor.len() - 1
            });
            seeds.group[i] = Some(g);
        }
        seeds.forbidden[i] = forbidden.get(&face.id).cloned().unwrap_or_default();
    }
    seeds
}

/// The person each label stands for, from its seeded faces.
fn label_anchors(labels: &[usize], seeds: &Seeds) -> HashMap<usize, i64> {
    let mut anchors = HashMap::new();
    for (i, &label) in labels.iter().enumerate() {
        if let Some(p) = seeds.group[i].and_then(|g| seeds.anchor[g]) {
            anchors.insert(label, p);
        }
    }
    anchors
}

/// Writes the labels as people: anchored labels keep their person; in a full run, other labels take
/// the previous unconfirmed person most of their faces had (each at most once); the rest are new.
fn store(
    library: &mut Library,
    faces: &[FaceRow],
    labels: &[usize],
    anchors: &HashMap<usize, i64>,
    confirmed: &std::collections::HashSet<i64>,
    full: bool,
) -> Result<ClusterReport> {
    let mut person_of = anchors.clone();
    if full {
        reuse_previous_ids(faces, labels, confirmed, &mut person_of);
    }
    let tx = library.transaction()?;
    let mut new_people = 0;
    let mut distinct: Vec<usize> = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for label in distinct {
        if let std::collections::hash_map::Entry::Vacant(slot) = person_of.entry(label) {
            tx.execute("INSERT INTO people (name, confirmed) VALUES (NULL, 0)", [])?;
            slot.insert(tx.last_insert_rowid());
            new_people += 1;
        }
    }
    {
        let mut update = tx.prepare("UPDATE faces SET person_id = ?2 WHERE id = ?1")?;
        for (face, label) in faces.iter().zip(labels) {
            let person = person_of[label];
            if face.person != Some(person) {
                update.execute(params![face.id, person])?;
            }
        }
    }
    tx.execute(
        "DELETE FROM people WHERE id NOT IN (SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL)",
        [],
    )?;
    let people: i64 = tx.query_row("SELECT COUNT(*) FROM people", [], |r| r.get(0))?;
    log_event(&tx, "cluster", serde_json::json!({"full": full, "faces": faces.len(), "new_people": new_people}))?;
    tx.commit()?;
    Ok(ClusterReport { faces: faces.len(), clustered: 0, people: people as usize, new_people })
}

fn reuse_previous_ids(
    faces: &[FaceRow],
    labels: &[usize],
    confirmed: &std::collections::HashSet<i64>,
    person_of: &mut HashMap<usize, i64>,
) {
    let mut overlap: HashMap<(usize, i64), usize> = HashMap::new();
    for (face, &label) in faces.iter().zip(labels) {
        if let Some(p) = face.person.filter(|p| !confirmed.contains(p)) {
            *overlap.entry((label, p)).or_default() += 1;
        }
    }
    let mut ranked: Vec<((usize, i64), usize)> = overlap.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut used: std::collections::HashSet<i64> = person_of.values().copied().collect();
    for ((label, person), _) in ranked {
        if !person_of.contains_key(&label) && used.insert(person) {
            person_of.insert(label, person);
        }
    }
}
