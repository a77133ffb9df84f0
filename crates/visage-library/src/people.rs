//! Reading the library: people with their cover face, the faces of a person, totals.

use crate::db::Library;
use crate::error::{LibraryError, Result};
use serde::Serialize;
use std::path::PathBuf;

/// The face shown for a person: their best-quality face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cover {
    pub face: i64,
    pub image: PathBuf,
    pub bbox: [f32; 4],
}

/// One person of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub person: i64,
    pub name: Option<String>,
    pub faces: usize,
    /// Named or corrected by the user.
    pub confirmed: bool,
    pub cover: Option<Cover>,
}

/// One face of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceRecord {
    pub face: i64,
    pub person: Option<i64>,
    pub image: PathBuf,
    pub bbox: [f32; 4],
    pub score: f32,
    pub quality: f32,
    /// Placed by the user (kept by reclustering).
    pub pinned: bool,
}

/// Totals of the library.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub images: usize,
    pub bad_images: usize,
    pub faces: usize,
    pub unassigned_faces: usize,
    pub people: usize,
}

/// People with at least `min_faces` faces, most faces first.
pub fn people(library: &Library, min_faces: usize) -> Result<Vec<Person>> {
    let conn = library.conn();
    let mut stmt = conn.prepare(
        "SELECT p.id, p.name, p.confirmed, COUNT(f.id) FROM people p JOIN faces f ON f.person_id = p.id
         GROUP BY p.id HAVING COUNT(f.id) >= ?1 ORDER BY COUNT(f.id) DESC, p.id",
    )?;
    let rows = stmt.query_map([min_faces as i64], |r| {
        Ok(Person {
            person: r.get(0)?,
            name: r.get(1)?,
            confirmed: r.get::<_, i64>(2)? != 0,
            faces: r.get::<_, i64>(3)? as usize,
            cover: None,
        })
    })?;
    let mut people = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for p in &mut people {
        p.cover =
            faces(library, p.person)?.into_iter().next().map(|f| Cover { face: f.face, image: f.image, bbox: f.bbox });
    }
    Ok(people)
}

/// The faces of a person, best quality first.
pub fn faces(library: &Library, person: i64) -> Result<Vec<FaceRecord>> {
    let mut stmt = library.conn().prepare(
        "SELECT f.id, f.person_id, i.path, f.x1, f.y1, f.x2, f.y2, f.score, f.quality, f.pinned
         FROM faces f JOIN images i ON i.id = f.image_id WHERE f.person_id = ?1 ORDER BY f.quality DESC, f.id",
    )?;
    let rows = stmt.query_map([person], |r| {
        Ok(FaceRecord {
            face: r.get(0)?,
            person: r.get(1)?,
            image: PathBuf::from(r.get::<_, String>(2)?),
            bbox: [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
            score: r.get(7)?,
            quality: r.get(8)?,
            pinned: r.get::<_, i64>(9)? != 0,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The faces of a person, or an error if there is no such person.
pub fn faces_of_person(library: &Library, person: i64) -> Result<Vec<FaceRecord>> {
    if !library.person_exists(person)? {
        return Err(LibraryError::NoPerson(person));
    }
    faces(library, person)
}

/// How many images, faces and people the library holds.
pub fn totals(library: &Library) -> Result<Totals> {
    let count =
        |sql: &str| -> Result<usize> { Ok(library.conn().query_row(sql, [], |r| r.get::<_, i64>(0))? as usize) };
    Ok(Totals {
        images: count("SELECT COUNT(*) FROM images")?,
        bad_images: count("SELECT COUNT(*) FROM images WHERE error IS NOT NULL")?,
        faces: count("SELECT COUNT(*) FROM faces")?,
        unassigned_faces: count("SELECT COUNT(*) FROM faces WHERE person_id IS NULL")?,
        people: count("SELECT COUNT(*) FROM people")?,
    })
}
