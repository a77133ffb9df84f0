//! Calibration pairs from a folder-per-person dataset (such as LFW's `lfw-deepfunneled/`): every genuine
//! pair (two images of one person) and a number of impostor pairs (two people) drawn at random, so
//! that the impostor count supports low false-accept rates by the rule of 30 (3 million pairs for
//! FAR 1e-5), far beyond the 3,000 impostor pairs of LFW's protocol.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Image files of a folder-per-person dataset.
#[derive(Debug, Clone, Default)]
pub struct FolderDataset {
    /// Every image, grouped by person.
    pub images: Vec<PathBuf>,
    /// The person (index into `people`) of each image.
    pub person: Vec<u32>,
    /// Folder names, sorted.
    pub people: Vec<String>,
}

/// Why a folder dataset cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FoldersError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}: no sub-folder with images (expected one folder per person)")]
    Empty(PathBuf),
    #[error("{0}: images of at least two people are needed for impostor pairs")]
    OnePerson(PathBuf),
    #[error("{asked} impostor pairs asked for, but the dataset has only {available} distinct ones")]
    TooManyImpostors { asked: u64, available: u64 },
}

const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, FoldersError> {
    let io = |source| FoldersError::Io { path: dir.to_path_buf(), source };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    entries.sort();
    Ok(entries)
}

/// Reads `dir`: each sub-folder is one person, its image files (jpg, jpeg, png, webp) that person's.
/// Folders without images are skipped.
pub fn read_folders(dir: &Path) -> Result<FolderDataset, FoldersError> {
    let mut data = FolderDataset::default();
    for folder in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let images: Vec<PathBuf> =
            sorted_entries(&folder)?.into_iter().filter(|p| p.is_file() && is_image(p)).collect();
        if images.is_empty() {
            continue;
        }
        let id = data.people.len() as u32;
        data.people.push(folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        data.person.extend(std::iter::repeat_n(id, images.len()));
        data.images.extend(images);
    }
    match data.people.len() {
        0 => Err(FoldersError::Empty(dir.to_path_buf())),
        1 => Err(FoldersError::OnePerson(dir.to_path_buf())),
        _ => Ok(data),
    }
}

impl FolderDataset {
    /// Every pair of two images of the same person, as image indices `(i, j)` with `i < j`.
    pub fn genuine_pairs(&self) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        let mut start = 0;
        while start < self.person.len() {
            let end = start + self.person[start..].iter().take_while(|&&p| p == self.person[start]).count();
            for i in start..end {
                pairs.extend((i + 1..end).map(|j| (i as u32, j as u32)));
            }
            start = end;
        }
        pairs
    }

    /// How many distinct pairs of images of two different people there are.
    pub fn impostor_pair_count(&self) -> u64 {
        let n = self.images.len() as u64;
        let mut same = 0u64;
        let mut counts = std::collections::HashMap::<u32, u64>::new();
        for &p in &self.person {
            *counts.entry(p).or_default() += 1;
        }
        for c in counts.values() {
            same += c * (c - 1) / 2;
        }
        n * (n - 1) / 2 - same
    }

    /// `count` distinct impostor pairs `(i, j)`, `i < j`, drawn uniformly at random (without
    /// replacement) with a seeded generator, so a calibration can be reproduced.
    pub fn draw_impostors(&self, count: u64, seed: u64) -> Result<Vec<(u32, u32)>, FoldersError> {
        let available = self.impostor_pair_count();
        // Rejection sampling slows down as the draw approaches every pair; stop at half of them.
        if count > available / 2 {
            return Err(FoldersError::TooManyImpostors { asked: count, available: available / 2 });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = self.images.len() as u32;
        let mut seen = HashSet::with_capacity(count as usize);
        let mut pairs = Vec::with_capacity(count as usize);
        while (pairs.len() as u64) < count {
            let (a, b) = (rng.gen_range(0..n), rng.gen_range(0..n));
            let (i, j) = (a.min(b), a.max(b));
            if self.person[i as usize] != self.person[j as usize] && seen.insert((i, j)) {
                pairs.push((i, j));
            }
        }
        Ok(pairs)
    }
}

/// Cosine similarities (dot products of unit embeddings) of `pairs`; pairs with an image without a
/// face are left out. Returns the scores and how many pairs were left out.
pub fn score_pairs(embeddings: &[Option<Vec<f32>>], pairs: &[(u32, u32)]) -> (Vec<f32>, usize) {
    let scores: Vec<Option<f32>> = pairs
        .par_iter()
        .map(|&(i, j)| match (&embeddings[i as usize], &embeddings[j as usize]) {
            (Some(a), Some(b)) => Some(visage_core::cosine_similarity(a, b)),
            _ => None,
        })
        .collect();
    let skipped = scores.iter().filter(|s| s.is_none()).count();
    (scores.into_iter().flatten().collect(), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three people with 3, 1 and 2 images.
    fn dataset() -> (tempfile::TempDir, FolderDataset) {
        let dir = tempfile::tempdir().unwrap();
        for (person, n) in [("ann", 3), ("bob", 1), ("cat", 2)] {
            std::fs::create_dir(dir.path().join(person)).unwrap();
            for k in 0..n {
                std::fs::write(dir.path().join(person).join(format!("{k}.jpg")), b"x").unwrap();
            }
            std::fs::write(dir.path().join(person).join("notes.txt"), b"not an image").unwrap();
        }
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let data = read_folders(dir.path()).unwrap();
        (dir, data)
    }

    #[test]
    fn reads_people_and_lists_every_genuine_pair() {
        let (_dir, d) = dataset();
        assert_eq!(d.people, ["ann", "bob", "cat"]);
        assert_eq!(d.images.len(), 6, "text files and empty folders are not images");
        assert_eq!(d.person, [0, 0, 0, 1, 2, 2]);
        assert_eq!(d.genuine_pairs(), [(0, 1), (0, 2), (1, 2), (4, 5)]);
        // 15 pairs in all, 4 genuine.
        assert_eq!(d.impostor_pair_count(), 11);
    }

    #[test]
    fn impostor_draws_are_distinct_cross_person_and_reproducible() {
        let (_dir, d) = dataset();
        let a = d.draw_impostors(5, 7).unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 5, "no pair twice");
        assert!(a.iter().all(|&(i, j)| i < j && d.person[i as usize] != d.person[j as usize]));
        assert_eq!(a, d.draw_impostors(5, 7).unwrap(), "same seed, same pairs");
        assert!(matches!(d.draw_impostors(6, 7), Err(FoldersError::TooManyImpostors { .. })));
    }

    #[test]
    fn refuses_datasets_without_two_people() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read_folders(dir.path()), Err(FoldersError::Empty(_))));
        std::fs::create_dir(dir.path().join("solo")).unwrap();
        std::fs::write(dir.path().join("solo/a.png"), b"x").unwrap();
        assert!(matches!(read_folders(dir.path()), Err(FoldersError::OnePerson(_))));
    }

    #[test]
    fn scores_leave_out_images_without_a_face() {
        let e = vec![Some(vec![1.0, 0.0]), None, Some(vec![0.0, 1.0]), Some(vec![1.0, 0.0])];
        let (scores, skipped) = score_pairs(&e, &[(0, 1), (0, 2), (0, 3)]);
        assert_eq!(skipped, 1);
        assert_eq!(scores, [0.0, 1.0]);
    }
}
