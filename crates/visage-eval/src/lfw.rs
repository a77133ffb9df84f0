//! The LFW verification protocol: 6,000 pairs in 10 folds of 300 genuine and 300 impostor pairs;
//! accuracy is the mean over folds, each tested at the threshold best on the other nine.

use crate::batch::embed_images_cached;
use crate::cache::EmbeddingCache;
use crate::metrics::{auc, best_accuracy_threshold, k_fold_accuracy, tar_at_far, ScoredPair};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use visage::{FaceAnalyzer, FaceChoice, StageTimings, VisageError};

/// Where the data is and how to run.
#[derive(Debug, Clone)]
pub struct LfwOptions {
    /// The LFW folder: `pairs.csv` and `lfw-deepfunneled/`.
    pub data: PathBuf,
    /// Images embedded in parallel.
    pub threads: usize,
    /// Where embeddings of earlier runs are kept (`None`: embed every image).
    pub cache: Option<std::sync::Arc<EmbeddingCache>>,
    /// Only the first N genuine and N impostor pairs of each fold (`None`: all), for quick runs.
    pub limit: Option<usize>,
}

/// The result, in the shape `visage eval lfw --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct LfwReport {
    pub data: String,
    pub pairs: usize,
    /// Of the pairs, those of two different people (what each FAR rests on).
    pub impostor_pairs: usize,
    pub images: usize,
    pub accuracy: f64,
    pub accuracy_std: f64,
    pub auc: f64,
    /// TAR at each FAR the data supports ("1e-3", "1e-2").
    pub tar_at_far: BTreeMap<String, f64>,
    /// The threshold at FAR = 1e-3 over all pairs: how the default threshold is chosen.
    pub threshold: f32,
    /// The accuracy-maximising threshold over all pairs.
    pub threshold_best_accuracy: f32,
    /// Images in which no face was found; their pairs count as rejected.
    pub no_face: usize,
    /// Images whose embeddings came from the cache of an earlier run.
    pub cached: usize,
    /// Speed over the images embedded in this run (`null` when every image came from the cache).
    pub images_per_second: Option<f64>,
    /// Mean time per image of each stage, in ms (one image on one thread).
    pub stage_ms: StageTimings,
    pub threads: usize,
    pub backend: String,
    pub detector: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LfwError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line}: {reason}")]
    Format { path: PathBuf, line: usize, reason: String },
    #[error(transparent)]
    Visage(#[from] VisageError),
}

struct Pair {
    fold: usize,
    genuine: bool,
    a: String,
    b: String,
}

fn read_pairs(path: &Path) -> Result<Vec<Pair>, LfwError> {
    let text = std::fs::read_to_string(path).map_err(|source| LfwError::Io { path: path.into(), source })?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if i == 0 && fields.first() == Some(&"fold") || line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| LfwError::Format { path: path.into(), line: i + 1, reason: reason.into() };
        let [fold, label, a, b] = fields[..] else {
            return Err(bad("expected fold,label,img1,img2"));
        };
        pairs.push(Pair {
            fold: fold.parse().map_err(|_| bad("fold is not a number"))?,
            genuine: match label {
                "1" => true,
                "0" => false,
                _ => return Err(bad("label must be 0 or 1")),
            },
            a: a.to_string(),
            b: b.to_string(),
        });
    }
    Ok(pairs)
}

/// The first `limit` genuine and `limit` impostor pairs of each fold, in file order.
fn limit_pairs(pairs: Vec<Pair>, limit: Option<usize>) -> Vec<Pair> {
    let Some(limit) = limit else { return pairs };
    let mut taken: HashMap<(usize, bool), usize> = HashMap::new();
    pairs
        .into_iter()
        .filter(|p| {
            let n = taken.entry((p.fold, p.genuine)).or_default();
            *n += 1;
            *n <= limit
        })
        .collect()
}

/// How many distinct images the pairs of an LFW folder use (for progress display), with `limit` as
/// in [`LfwOptions::limit`].
pub fn image_count(data: &Path, limit: Option<usize>) -> Result<usize, LfwError> {
    let pairs = limit_pairs(read_pairs(&data.join("pairs.csv"))?, limit);
    let mut names: Vec<&str> = pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    names.sort_unstable();
    names.dedup();
    Ok(names.len())
}

/// Runs the protocol. `on_image` is called after each image is embedded (for progress display).
pub fn run_lfw(
    analyzer: &FaceAnalyzer,
    options: &LfwOptions,
    on_image: &(dyn Fn() + Sync),
) -> Result<LfwReport, LfwError> {
    let pairs = limit_pairs(read_pairs(&options.data.join("pairs.csv"))?, options.limit);
    let images_dir = options.data.join("lfw-deepfunneled");
    let mut names: Vec<&str> = pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    names.sort_unstable();
    names.dedup();

    let paths: Vec<PathBuf> = names.iter().map(|n| images_dir.join(n)).collect();
    let batch = embed_images_cached(
        analyzer,
        options.cache.as_deref(),
        &paths,
        FaceChoice::Centred,
        options.threads,
        on_image,
    )?;
    let embeddings: HashMap<&str, Vec<f32>> =
        names.iter().zip(batch.embeddings).filter_map(|(&n, e)| Some((n, e?))).collect();
    let verifier = analyzer.verifier();
    let scored: Vec<ScoredPair> = pairs
        .iter()
        .map(|p| {
            let score = match (embeddings.get(p.a.as_str()), embeddings.get(p.b.as_str())) {
                (Some(a), Some(b)) => verifier.verify(a, b).similarity,
                _ => -1.0,
            };
            ScoredPair { score, genuine: p.genuine, fold: p.fold }
        })
        .collect();

    let (accuracy, accuracy_std, _) = k_fold_accuracy(&scored).ok_or_else(|| LfwError::Format {
        path: options.data.join("pairs.csv"),
        line: 0,
        reason: "the protocol needs pairs in at least two folds".into(),
    })?;
    let mut tar = BTreeMap::new();
    let mut threshold = f32::NAN;
    for (label, far) in [("1e-3", 1e-3), ("1e-2", 1e-2)] {
        if let Some((rate, t)) = tar_at_far(&scored, far) {
            tar.insert(label.to_string(), rate);
            if label == "1e-3" {
                threshold = t;
            }
        }
    }
    let all: Vec<&ScoredPair> = scored.iter().collect();
    Ok(LfwReport {
        data: options.data.display().to_string(),
        pairs: scored.len(),
        impostor_pairs: scored.iter().filter(|p| !p.genuine).count(),
        images: names.len(),
        accuracy,
        accuracy_std,
        auc: auc(&scored),
        tar_at_far: tar,
        threshold,
        threshold_best_accuracy: best_accuracy_threshold(&all),
        no_face: batch.no_face,
        cached: batch.cached,
        images_per_second: (batch.cached < names.len())
            .then(|| (names.len() - batch.cached) as f64 / batch.seconds.max(1e-9)),
        stage_ms: batch.mean_stage_ms,
        threads: options.threads,
        backend: analyzer.backend().to_string(),
        detector: analyzer.detector_kind().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_csv_and_rejects_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.csv");
        std::fs::write(&path, "fold,label,img1,img2\n0,1,A/A_0001.jpg,A/A_0002.jpg\n1,0,A/A_0001.jpg,B/B_0001.jpg\n")
            .unwrap();
        let pairs = read_pairs(&path).unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(pairs[0].genuine && !pairs[1].genuine && pairs[1].fold == 1);
        std::fs::write(&path, "fold,label,img1,img2\n0,yes,a,b\n").unwrap();
        assert!(matches!(read_pairs(&path), Err(LfwError::Format { line: 2, .. })));
    }

    #[test]
    fn the_limit_keeps_the_first_pairs_of_each_fold_and_label() {
        let pair = |fold, genuine, i: usize| Pair { fold, genuine, a: format!("a{i}"), b: format!("b{i}") };
        let pairs: Vec<Pair> = (0..2)
            .flat_map(|f| (0..3).map(move |i| pair(f, true, i)).chain((0..3).map(move |i| pair(f, false, i))))
            .collect();
        let kept = limit_pairs(pairs, Some(2));
        assert_eq!(kept.len(), 8);
        for (f, g) in [(0, true), (0, false), (1, true), (1, false)] {
            let names: Vec<&str> =
                kept.iter().filter(|p| p.fold == f && p.genuine == g).map(|p| p.a.as_str()).collect();
            assert_eq!(names, ["a0", "a1"]);
        }
        assert_eq!(limit_pairs(vec![pair(0, true, 0)], None).len(), 1);
    }
}
