//! Gender on LFW with the Afifi & Abdelhamed labels, reported per group (women, men, and the
//! perceived race labels of USC SAIL where one label is given) on a part of LFW that the decision
//! was not tuned on.
//!
//! **Parts.** The calibration of [`visage::attributes`]'s gender estimate was fitted on the people
//! whose names start with A, B or C (the *tuning* part, [`is_tuning`]); every other person is the
//! *test* part, the one to quote. Both are reported, and the logistic map is fitted again on the
//! tuning part ([`fit_logistic`]) so that the constants can be checked.
//!
//! **Per group.** Each face is labelled `female`, `male` or `uncertain`. `accuracy` is the share of
//! the group's faces given their own label (uncertain counts as not right), `decided_accuracy` the
//! share right among those not uncertain, with its exact 95% interval, and `forced_accuracy` the
//! share right when the side of P(male) = 0.5 is taken even in the uncertain band.

use crate::fairness::GroupLabels;
use crate::metrics::{auc, ScoredPair};
use crate::stats::clopper_pearson;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use visage::attributes::{AttributeSet, GenderCalibration, GenderLabel};
use visage::{choose_face, FaceAnalyzer, FaceChoice, VisageError};

/// Where the data is and how to run.
#[derive(Debug, Clone)]
pub struct GenderOptions {
    /// `lfw-deepfunneled/`.
    pub images_dir: PathBuf,
    /// `image,name,gender` (male, female or conflict).
    pub labels: PathBuf,
    /// `name,race_labels,primary_if_single` (optional).
    pub races: Option<PathBuf>,
    /// Only every `stride`-th labelled image (1: all), for quick runs and tests.
    pub stride: usize,
    pub threads: usize,
    /// The decision under test.
    pub calibration: GenderCalibration,
}

/// One group's results.
#[derive(Debug, Clone, Serialize)]
pub struct GroupAccuracy {
    pub group: String,
    pub faces: usize,
    pub right: usize,
    pub wrong: usize,
    pub uncertain: usize,
    /// Right / faces (uncertain is not right).
    pub accuracy: f64,
    /// Right / (right + wrong), with its exact 95% interval.
    pub decided_accuracy: f64,
    pub decided_ci95: [f64; 2],
    /// Right when the side of P(male) = 0.5 is taken for every face.
    pub forced_accuracy: f64,
    /// Uncertain / faces.
    pub uncertain_share: f64,
}

/// The results of one part of the data.
#[derive(Debug, Clone, Serialize)]
pub struct PartReport {
    /// `tuning` or `test`.
    pub part: String,
    pub faces: usize,
    pub no_face: usize,
    /// ROC AUC of the raw output against the labels.
    pub auc: f64,
    pub groups: Vec<GroupAccuracy>,
}

/// A logistic map `P(male) = 1 / (1 + exp(-(slope * raw + intercept)))`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogisticFit {
    pub slope: f64,
    pub intercept: f64,
}

/// The decision in use and where its uncertain band lies in raw outputs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DecisionReport {
    pub slope: f32,
    pub intercept: f32,
    pub min_confidence: f32,
    /// Raw outputs in `[band.0, band.1)` are labelled uncertain.
    pub band: (f32, f32),
}

/// `visage eval gender`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct GenderReport {
    pub labels: String,
    pub races: Option<String>,
    /// Labelled images evaluated (rows marked `conflict` are left out).
    pub images: usize,
    pub skipped_conflict: usize,
    pub stride: usize,
    pub decision: DecisionReport,
    /// The logistic map fitted again on the tuning part (equal weight for both groups).
    pub refit_on_tuning: Option<LogisticFit>,
    pub parts: Vec<PartReport>,
}

/// Whether a person (LFW folder name) belongs to the tuning part: names starting with A, B or C.
pub fn is_tuning(name: &str) -> bool {
    matches!(name.chars().next().map(|c| c.to_ascii_uppercase()), Some('A'..='C'))
}

/// One scored face.
struct Scored {
    male: bool,
    raw: f32,
    tuning: bool,
    groups: Vec<String>,
}

/// Runs the evaluation. `on_image` is called after each image (for progress display).
pub fn run_gender(
    analyzer: &FaceAnalyzer,
    options: &GenderOptions,
    on_image: &(dyn Fn() + Sync),
) -> Result<GenderReport, VisageError> {
    let (rows, skipped_conflict) = read_gender_labels(&options.labels)?;
    let rows: Vec<(PathBuf, bool)> =
        rows.into_iter().step_by(options.stride.max(1)).map(|(i, m)| (options.images_dir.join(i), m)).collect();
    let mut races = GroupLabels::default();
    if let Some(path) = &options.races {
        races
            .add_file(path, Some(&["primary_if_single".to_string()]))
            .map_err(|e| VisageError::Invalid(e.to_string()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|e| VisageError::Invalid(format!("cannot start {} threads: {e}", options.threads)))?;
    let results: Vec<Result<(bool, Option<Scored>), VisageError>> = pool.install(|| {
        rows.par_iter()
            .map(|(path, male)| {
                let r = score_image(analyzer, path, *male, &races);
                on_image();
                r.map(|s| (is_tuning_path(path), s))
            })
            .collect()
    });
    let mut scored = Vec::new();
    let mut no_face = [0usize; 2];
    for r in results {
        match r? {
            (_, Some(s)) => scored.push(s),
            (tuning, None) => no_face[tuning as usize] += 1,
        }
    }
    let tuning: Vec<&Scored> = scored.iter().filter(|s| s.tuning).collect();
    let test: Vec<&Scored> = scored.iter().filter(|s| !s.tuning).collect();
    let c = options.calibration;
    let band = band_of(&c);
    let raw_tuning: Vec<(f32, bool)> = tuning.iter().map(|s| (s.raw, s.male)).collect();
    Ok(GenderReport {
        labels: options.labels.display().to_string(),
        races: options.races.as_ref().map(|p| p.display().to_string()),
        images: rows.len(),
        skipped_conflict,
        stride: options.stride.max(1),
        decision: DecisionReport { slope: c.slope, intercept: c.intercept, min_confidence: c.min_confidence, band },
        refit_on_tuning: fit_logistic(&raw_tuning),
        parts: vec![part("tuning", &tuning, no_face[1], &c), part("test", &test, no_face[0], &c)],
    })
}

fn is_tuning_path(path: &Path) -> bool {
    path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).is_some_and(is_tuning)
}

/// The raw gender output of the centred face of one image, with its groups; `None` without a face.
fn score_image(
    analyzer: &FaceAnalyzer,
    path: &Path,
    male: bool,
    races: &GroupLabels,
) -> Result<Option<Scored>, VisageError> {
    let image = analyzer.load(path)?;
    let faces = analyzer.detect(&image)?;
    let Ok(face) = choose_face(&faces, FaceChoice::Centred, image.width(), image.height()) else {
        return Ok(None);
    };
    let set = AttributeSet { gender: true, ..AttributeSet::NONE };
    let g = analyzer.attributes(&image, face, set, None)?.gender.expect("asked for gender");
    let mut groups = vec![if male { "men" } else { "women" }.to_string()];
    groups.extend(races.labels_of(path).into_iter().map(|l| l.replace("primary_if_single=", "race=")));
    Ok(Some(Scored { male, raw: g.male_score, tuning: is_tuning_path(path), groups }))
}

/// The raw outputs labelled uncertain: `[lo, hi)`.
pub fn band_of(c: &GenderCalibration) -> (f32, f32) {
    let logit = |p: f32| (p / (1.0 - p)).ln();
    let lo = (logit(1.0 - c.min_confidence) - c.intercept) / c.slope;
    let hi = (logit(c.min_confidence) - c.intercept) / c.slope;
    (lo, hi)
}

fn part(name: &str, faces: &[&Scored], no_face: usize, c: &GenderCalibration) -> PartReport {
    let mut by_group: BTreeMap<&str, Vec<&Scored>> = BTreeMap::new();
    for s in faces {
        for g in &s.groups {
            by_group.entry(g.as_str()).or_default().push(s);
        }
    }
    // Women and men first, then the race groups by size.
    let mut groups: Vec<GroupAccuracy> = by_group.iter().map(|(g, of)| group_accuracy(g, of, c)).collect();
    groups.sort_by_key(|g| (!["women", "men"].contains(&g.group.as_str()), g.group != "women", usize::MAX - g.faces));
    let pairs: Vec<ScoredPair> = faces.iter().map(|s| ScoredPair { score: s.raw, genuine: s.male, fold: 0 }).collect();
    PartReport { part: name.into(), faces: faces.len(), no_face, auc: auc(&pairs), groups }
}

fn group_accuracy(group: &str, faces: &[&Scored], c: &GenderCalibration) -> GroupAccuracy {
    let (mut right, mut wrong, mut uncertain, mut forced) = (0, 0, 0, 0);
    for s in faces {
        let g = c.decide(s.raw);
        forced += ((g.p_male >= 0.5) == s.male) as usize;
        match g.label {
            GenderLabel::Uncertain => uncertain += 1,
            GenderLabel::Male if s.male => right += 1,
            GenderLabel::Female if !s.male => right += 1,
            _ => wrong += 1,
        }
    }
    let n = faces.len().max(1) as f64;
    let decided = right + wrong;
    let ci = clopper_pearson(right as u64, decided as u64, 0.95);
    GroupAccuracy {
        group: group.to_string(),
        faces: faces.len(),
        right,
        wrong,
        uncertain,
        accuracy: right as f64 / n,
        decided_accuracy: right as f64 / decided.max(1) as f64,
        decided_ci95: [ci.0, ci.1],
        forced_accuracy: forced as f64 / n,
        uncertain_share: uncertain as f64 / n,
    }
}

/// Fits `P(male) = sigmoid(slope * raw + intercept)` by Newton's method on the log-likelihood, with
/// the two labels weighted equally whatever their counts. `None` without both labels or when the fit
/// does not converge (perfectly separated data).
pub fn fit_logistic(samples: &[(f32, bool)]) -> Option<LogisticFit> {
    let males = samples.iter().filter(|s| s.1).count() as f64;
    let females = samples.len() as f64 - males;
    if males == 0.0 || females == 0.0 {
        return None;
    }
    let (wm, wf) = (0.5 / males, 0.5 / females);
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(raw, male) in samples {
            let x = raw as f64;
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let w = if male { wm } else { wf };
            let g = w * (p - male as u8 as f64);
            let h = w * p * (1.0 - p);
            (ga, gb, haa, hab, hbb) = (ga + g * x, gb + g, haa + h * x * x, hab + h * x, hbb + h);
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-300 {
            return None;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() < 1e-9 && db.abs() < 1e-9 {
            return (a.is_finite() && b.is_finite()).then_some(LogisticFit { slope: a, intercept: b });
        }
    }
    None
}

/// `(image, is_male)` rows and the number of `conflict` rows skipped.
pub fn read_gender_labels(csv: &Path) -> Result<(Vec<(String, bool)>, usize), VisageError> {
    let text = std::fs::read_to_string(csv).map_err(|e| VisageError::Invalid(format!("{}: {e}", csv.display())))?;
    let mut rows = Vec::new();
    let mut conflict = 0;
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.trim().split(',').collect();
        match fields.as_slice() {
            [image, _, "male"] => rows.push((image.to_string(), true)),
            [image, _, "female"] => rows.push((image.to_string(), false)),
            [_, _, "conflict"] => conflict += 1,
            [] | [""] => {}
            _ => {
                return Err(VisageError::Invalid(format!(
                    "{}: line {}: expected image,name,gender (male|female|conflict)",
                    csv.display(),
                    i + 1
                )))
            }
        }
    }
    Ok((rows, conflict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logistic_fit_recovers_known_parameters() {
        // Outputs on a grid, labelled male with the probability the map gives: the expected counts
        // are reproduced exactly by many copies in proportion.
        let (slope, intercept) = (12.0f64, -8.0f64);
        let mut samples = Vec::new();
        for i in 0..=100 {
            let x = i as f32 / 100.0;
            let p = 1.0 / (1.0 + (-(slope * x as f64 + intercept)).exp());
            let males = (p * 1000.0).round() as usize;
            samples.extend(std::iter::repeat_n((x, true), males));
            samples.extend(std::iter::repeat_n((x, false), 1000 - males));
        }
        // Equal weighting shifts the intercept by the log of the class ratio.
        let m = samples.iter().filter(|s| s.1).count() as f64;
        let f = samples.len() as f64 - m;
        let fit = fit_logistic(&samples).unwrap();
        assert!((fit.slope - slope).abs() < 0.1, "{fit:?}");
        assert!((fit.intercept - (intercept + (f / m).ln())).abs() < 0.1, "{fit:?}");
        assert!(fit_logistic(&[(0.2, true), (0.4, true)]).is_none());
    }

    #[test]
    fn the_band_matches_the_decision_and_the_parts_split_by_name() {
        let c = visage::attributes::GENDER_CALIBRATION;
        let (lo, hi) = band_of(&c);
        assert!(lo < c.threshold() && c.threshold() < hi);
        assert_eq!(c.decide(lo - 1e-3).label, GenderLabel::Female);
        assert_eq!(c.decide((lo + hi) / 2.0).label, GenderLabel::Uncertain);
        assert_eq!(c.decide(hi + 1e-3).label, GenderLabel::Male);
        assert!(is_tuning("Aaron_Eckhart") && is_tuning("colin_Powell") && !is_tuning("George_W_Bush"));
        assert!(is_tuning_path(Path::new("/x/lfw-deepfunneled/Bill_Gates/Bill_Gates_0001.jpg")));
    }

    #[test]
    fn groups_count_uncertain_faces_as_not_right() {
        let c = visage::attributes::GENDER_CALIBRATION;
        let (lo, hi) = band_of(&c);
        let s = |male, raw| Scored { male, raw, tuning: false, groups: vec![] };
        let faces = [s(false, lo - 0.1), s(false, (lo + hi) / 2.0), s(false, hi + 0.1), s(false, 0.0)];
        let refs: Vec<&Scored> = faces.iter().collect();
        let g = group_accuracy("women", &refs, &c);
        assert_eq!((g.right, g.wrong, g.uncertain), (2, 1, 1));
        assert_eq!(g.accuracy, 0.5);
        assert!((g.decided_accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!(g.decided_ci95[0] < g.decided_accuracy && g.decided_accuracy < g.decided_ci95[1]);
    }
}
