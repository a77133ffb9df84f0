//! Finding images in folders: which files count as images (by extension), listed in path order so that
//! every run sees the same images in the same order.

use std::path::{Path, PathBuf};

/// The extensions of the formats visage decodes, lower case.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"];

/// Whether a path names an image by its extension (any case).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The image files in `dir` (and, with `recursive`, in every folder below it), sorted by path.
pub fn image_files(dir: &Path, recursive: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                if recursive {
                    folders.push(path);
                }
            } else if is_image_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_images_by_extension_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.JPG", "a.png", "notes.txt", "sub/c.webp"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect()
        };
        assert_eq!(names(image_files(dir.path(), false).unwrap()), ["a.png", "b.JPG"]);
        assert_eq!(names(image_files(dir.path(), true).unwrap()), ["a.png", "b.JPG", "sub/c.webp"]);
        assert!(image_files(&dir.path().join("missing"), false).is_err());
    }
}
