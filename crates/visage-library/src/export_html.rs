//! `library export --html DIR`: a static page of face thumbnails per person. Thumbnails are cut from
//! the photos by visage and written as small JPEGs in `DIR/thumbs/`; originals are never copied or
//! linked. Every file written is recorded in the library, so `library forget` can remove it.

use crate::db::{log_event, Library};
use crate::error::{LibraryError, Result};
use crate::people::{faces, people, FaceRecord, Person};
use crate::thumbnails::{save_jpeg, thumbnail};
use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Side of a thumbnail, in pixels.
pub const THUMBNAIL_SIZE: u32 = 112;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub page: PathBuf,
    pub people: usize,
    pub thumbnails: usize,
    /// Photos that could not be read again (moved or deleted since the scan); their faces are left out.
    pub unreadable: Vec<PathBuf>,
}

/// Writes `dir/index.html` and `dir/thumbs/face-<id>.jpg` for the people with at least `min_faces`
/// faces. `load` decodes a photo the way the scan did (so boxes line up).
pub fn export_html(
    library: &mut Library,
    dir: &Path,
    min_faces: usize,
    load: impl Fn(&Path) -> std::result::Result<RgbImage, String> + Sync,
) -> Result<ExportReport> {
    let thumbs = dir.join("thumbs");
    visage::store::private_files::create_private_dir(&thumbs).map_err(LibraryError::io(&thumbs))?;
    let everyone = people(library, min_faces)?;
    let mut sections = Vec::new();
    for p in &everyone {
        sections.push((p.clone(), faces(library, p.person)?));
    }
    let (written, unreadable) = write_thumbnails(&sections, &thumbs, &load)?;
    let page = dir.join("index.html");
    std::fs::write(&page, render(&sections, &written)).map_err(LibraryError::io(&page))?;
    record(library, &page, &written)?;
    Ok(ExportReport { page, people: everyone.len(), thumbnails: written.len(), unreadable })
}

/// Cuts every face's thumbnail, decoding each photo once (photos in parallel).
fn write_thumbnails(
    sections: &[(Person, Vec<FaceRecord>)],
    thumbs: &Path,
    load: &(impl Fn(&Path) -> std::result::Result<RgbImage, String> + Sync),
) -> Result<(BTreeMap<i64, PathBuf>, Vec<PathBuf>)> {
    let mut by_image: BTreeMap<&Path, Vec<&FaceRecord>> = BTreeMap::new();
    for f in sections.iter().flat_map(|(_, faces)| faces) {
        by_image.entry(&f.image).or_default().push(f);
    }
    let jobs: Vec<(&Path, Vec<&FaceRecord>)> = by_image.into_iter().collect();
    let mut written = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut failure = None;
    visage::parallel::map_ordered(
        &jobs,
        visage::parallel::default_workers(),
        |(image, faces)| -> Option<Result<Vec<(i64, PathBuf)>>> {
            let photo = load(image).ok()?;
            Some(
                faces
                    .iter()
                    .map(|f| {
                        let path = thumbs.join(format!("face-{}.jpg", f.face));
                        save_jpeg(&thumbnail(&photo, f.bbox, THUMBNAIL_SIZE), &path)
                            .map_err(|e| LibraryError::Invalid(format!("{}: {e}", path.display())))?;
                        Ok((f.face, path))
                    })
                    .collect(),
            )
        },
        |i, outcome| match outcome {
            None => unreadable.push(jobs[i].0.to_path_buf()),
            Some(Ok(files)) => written.extend(files),
            Some(Err(e)) => failure = Some(e),
        },
    );
    match failure {
        Some(e) => Err(e),
        None => Ok((written, unreadable)),
    }
}

fn record(library: &mut Library, page: &Path, written: &BTreeMap<i64, PathBuf>) -> Result<()> {
    let tx = library.transaction()?;
    let mut stmt = tx.prepare("INSERT OR REPLACE INTO thumbnails (path, face_id) VALUES (?1, ?2)")?;
    stmt.execute(rusqlite::params![page.to_string_lossy(), 0])?;
    for (face, path) in written {
        stmt.execute(rusqlite::params![path.to_string_lossy(), face])?;
    }
    drop(stmt);
    log_event(&tx, "export-html", serde_json::json!({"page": page, "thumbnails": written.len()}))?;
    tx.commit()?;
    Ok(())
}

/// The page: one section per person with their thumbnails.
fn render(sections: &[(Person, Vec<FaceRecord>)], written: &BTreeMap<i64, PathBuf>) -> String {
    let mut html = String::from(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>People</title>\n",
        "<style>body{font-family:sans-serif;margin:1.5em;background:#fafafa}",
        "section{margin-bottom:1.5em}h2{font-size:1.1em;margin:.2em 0}",
        ".faces{display:flex;flex-wrap:wrap;gap:4px}img{width:112px;height:112px;border-radius:6px}</style>\n",
        "</head><body>\n<h1>People</h1>\n",
    ));
    for (person, faces) in sections {
        let title = person.name.clone().unwrap_or_else(|| format!("Person {}", person.person));
        html.push_str(&format!(
            "<section id=\"person-{}\"><h2>{} <small>({} face{})</small></h2><div class=\"faces\">\n",
            person.person,
            escape(&title),
            person.faces,
            if person.faces == 1 { "" } else { "s" }
        ));
        for f in faces.iter().filter(|f| written.contains_key(&f.face)) {
            html.push_str(&format!("<img src=\"thumbs/face-{0}.jpg\" alt=\"face {0}\" title=\"face {0}\">\n", f.face));
        }
        html.push_str("</div></section>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("<b>\"A&B\"</b>"), "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;");
    }
}
