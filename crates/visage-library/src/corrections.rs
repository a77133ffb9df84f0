//! The user's corrections: name, merge, move a face, split, "not this person", forget a person.
//!
//! A person the user names or corrects becomes *confirmed*: its faces at that moment are pinned to it,
//! and a full reclustering starts from them and never merges it with another confirmed person. Moving a
//! face out of a person, splitting, and "not this person" also record that the face is not that
//! person, which every later clustering respects. Each correction is one transaction.

use crate::db::{log_event, Library};
use crate::error::{LibraryError, Result};
use rusqlite::{params, Transaction};

fn require_person(library: &Library, person: i64) -> Result<()> {
    if library.person_exists(person)? {
        Ok(())
    } else {
        Err(LibraryError::NoPerson(person))
    }
}

/// Marks a person confirmed and pins its current faces to it.
fn confirm(tx: &Transaction<'_>, person: i64) -> Result<()> {
    tx.execute("UPDATE people SET confirmed = 1 WHERE id = ?1", [person])?;
    tx.execute("UPDATE faces SET pinned = 1 WHERE person_id = ?1", [person])?;
    Ok(())
}

/// Gives a person a name (an empty name removes it) and confirms them.
pub fn name(library: &mut Library, person: i64, name: &str) -> Result<()> {
    require_person(library, person)?;
    let name = name.trim();
    let tx = library.transaction()?;
    tx.execute("UPDATE people SET name = ?2 WHERE id = ?1", params![person, (!name.is_empty()).then_some(name)])?;
    confirm(&tx, person)?;
    log_event(&tx, "name", serde_json::json!({"person": person}))?;
    tx.commit()?;
    Ok(())
}

/// Moves every face of the `from` people into `into` and deletes them. `into` keeps its name, or takes
/// the first name among `from` if it has none.
pub fn merge(library: &mut Library, into: i64, from: &[i64]) -> Result<()> {
    require_person(library, into)?;
    for &p in from {
        require_person(library, p)?;
        if p == into {
            return Err(LibraryError::Invalid(format!("cannot merge person {p} into itself")));
        }
    }
    let tx = library.transaction()?;
    for &p in from {
        tx.execute(
            "UPDATE people SET name = (SELECT name FROM people WHERE id = ?2) WHERE id = ?1 AND name IS NULL",
            params![into, p],
        )?;
        tx.execute("UPDATE faces SET person_id = ?1 WHERE person_id = ?2", params![into, p])?;
        tx.execute("INSERT OR IGNORE INTO not_person (face_id, person_id) SELECT face_id, ?1 FROM not_person WHERE person_id = ?2", params![into, p])?;
        tx.execute("DELETE FROM not_person WHERE person_id = ?1", [p])?;
        tx.execute("DELETE FROM people WHERE id = ?1", [p])?;
    }
    // The user merged them: a face inside the merged person is no longer "not" it.
    tx.execute(
        "DELETE FROM not_person WHERE person_id = ?1 AND face_id IN (SELECT id FROM faces WHERE person_id = ?1)",
        [into],
    )?;
    confirm(&tx, into)?;
    log_event(&tx, "merge", serde_json::json!({"into": into, "from": from}))?;
    tx.commit()?;
    Ok(())
}

/// Moves one face to `person` (pinned), recording that it is not the person it was in.
pub fn move_face(library: &mut Library, face: i64, person: i64) -> Result<()> {
    let old = library.face_person(face)?;
    require_person(library, person)?;
    let tx = library.transaction()?;
    tx.execute("UPDATE faces SET person_id = ?2, pinned = 1 WHERE id = ?1", params![face, person])?;
    tx.execute("DELETE FROM not_person WHERE face_id = ?1 AND person_id = ?2", params![face, person])?;
    if let Some(old) = old.filter(|&o| o != person) {
        tx.execute("INSERT OR IGNORE INTO not_person (face_id, person_id) VALUES (?1, ?2)", params![face, old])?;
        drop_if_empty(&tx, old)?;
    }
    confirm(&tx, person)?;
    log_event(&tx, "move", serde_json::json!({"face": face, "from": old, "to": person}))?;
    tx.commit()?;
    Ok(())
}

/// Takes `faces` out of `person` into a new confirmed person; returns its id. Both are confirmed.
pub fn split(library: &mut Library, person: i64, faces: &[i64]) -> Result<i64> {
    require_person(library, person)?;
    if faces.is_empty() {
        return Err(LibraryError::Invalid("name the faces to split off".into()));
    }
    for &f in faces {
        if library.face_person(f)? != Some(person) {
            return Err(LibraryError::Invalid(format!("face {f} is not in person {person}")));
        }
    }
    let tx = library.transaction()?;
    tx.execute("INSERT INTO people (name, confirmed) VALUES (NULL, 1)", [])?;
    let new = tx.last_insert_rowid();
    for &f in faces {
        tx.execute("UPDATE faces SET person_id = ?2, pinned = 1 WHERE id = ?1", params![f, new])?;
        tx.execute("INSERT OR IGNORE INTO not_person (face_id, person_id) VALUES (?1, ?2)", params![f, person])?;
    }
    confirm(&tx, person)?;
    drop_if_empty(&tx, person)?;
    log_event(&tx, "split", serde_json::json!({"person": person, "faces": faces, "new": new}))?;
    tx.commit()?;
    Ok(new)
}

/// "Not this person": takes the face out of `person` (it is clustered again, never into `person`),
/// and confirms the person's other faces.
pub fn not_this_person(library: &mut Library, face: i64, person: i64) -> Result<()> {
    if library.face_person(face)? != Some(person) {
        return Err(LibraryError::Invalid(format!("face {face} is not in person {person}")));
    }
    let tx = library.transaction()?;
    tx.execute("UPDATE faces SET person_id = NULL, pinned = 0 WHERE id = ?1", [face])?;
    tx.execute("INSERT OR IGNORE INTO not_person (face_id, person_id) VALUES (?1, ?2)", params![face, person])?;
    confirm(&tx, person)?;
    drop_if_empty(&tx, person)?;
    log_event(&tx, "not-person", serde_json::json!({"face": face, "person": person}))?;
    tx.commit()?;
    Ok(())
}

/// Erases a person and all their faces; returns the thumbnail files the library had written of them
/// (the caller deletes them). Their photos stay scanned, so a rescan does not bring the faces back.
pub fn forget_person(library: &mut Library, person: i64) -> Result<Vec<std::path::PathBuf>> {
    require_person(library, person)?;
    let tx = library.transaction()?;
    let thumbs = {
        let mut stmt =
            tx.prepare("SELECT path FROM thumbnails WHERE face_id IN (SELECT id FROM faces WHERE person_id = ?1)")?;
        let rows = stmt.query_map([person], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(std::path::PathBuf::from)).collect::<rusqlite::Result<Vec<_>>>()?
    };
    tx.execute("DELETE FROM thumbnails WHERE face_id IN (SELECT id FROM faces WHERE person_id = ?1)", [person])?;
    let faces = tx.execute("DELETE FROM faces WHERE person_id = ?1", [person])?;
    tx.execute("DELETE FROM not_person WHERE person_id = ?1", [person])?;
    tx.execute("DELETE FROM people WHERE id = ?1", [person])?;
    log_event(&tx, "forget-person", serde_json::json!({"person": person, "faces": faces}))?;
    tx.commit()?;
    Ok(thumbs)
}

fn drop_if_empty(tx: &Transaction<'_>, person: i64) -> Result<()> {
    tx.execute("DELETE FROM people WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM faces WHERE person_id = ?1)", [person])?;
    Ok(())
}
