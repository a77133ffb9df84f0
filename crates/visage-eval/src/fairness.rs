//! Demographic differentials of verification: per group, the false match rate (FMR) and false
//! non-match rate (FNMR) at a threshold with exact 95% intervals; the ratio of the worst to the best
//! group (the FMR and FNMR differentials); and the per-group thresholds that would give every group the
//! same FMR.
//!
//! **Membership.** Group labels come from CSV files keyed by image (a column `image`: a path that the
//! pair's image path ends with) or by person (a column `name`, `person` or `subject`: the name of the
//! folder the image is in). A cell may hold several labels separated by commas or semicolons; each
//! becomes a group `column=value`. **A pair belongs to a group when both of its images carry the
//! label** (for impostor pairs this compares people within the group, as NIST FRVT's demographic
//! FMR does).

use crate::stats::Rate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Labels of images and of people.
#[derive(Debug, Clone, Default)]
pub struct GroupLabels {
    /// By file name, then the key (a path suffix) and its labels.
    by_image: HashMap<String, Vec<(String, BTreeSet<String>)>>,
    by_person: HashMap<String, BTreeSet<String>>,
    /// Every group seen, with the column it came from.
    pub groups: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_string()).collect()
}

const PERSON_KEYS: [&str; 3] = ["name", "person", "subject"];

impl GroupLabels {
    /// Adds the labels of one CSV file. `columns`: the label columns to use (default: every column
    /// that is not a key).
    pub fn add_file(&mut self, path: &Path, columns: Option<&[String]>) -> Result<(), GroupsError> {
        let text = std::fs::read_to_string(path).map_err(|source| GroupsError::Io { path: path.into(), source })?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> =
            split_csv(lines.next().unwrap_or_default()).iter().map(|h| h.to_lowercase()).collect();
        let bad = |reason: String| GroupsError::Format { path: path.into(), reason };
        let image_key = header.iter().position(|h| h == "image");
        let person_key = header.iter().position(|h| PERSON_KEYS.contains(&h.as_str()));
        if image_key.is_none() && person_key.is_none() {
            return Err(bad("needs a column `image` or `name` (or `person`, `subject`) as key".into()));
        }
        let label_columns: Vec<usize> = match columns {
            Some(wanted) => {
                let in_file: Vec<usize> =
                    wanted.iter().filter_map(|w| header.iter().position(|h| *h == w.to_lowercase())).collect();
                if in_file.is_empty() {
                    return Err(bad(format!("none of the columns {wanted:?} is in the header {header:?}")));
                }
                in_file
            }
            None => (0..header.len()).filter(|&i| Some(i) != image_key && Some(i) != person_key).collect(),
        };
        for (n, line) in lines.enumerate() {
            let fields = split_csv(line);
            if fields.len() != header.len() {
                return Err(bad(format!("line {}: {} fields, the header has {}", n + 2, fields.len(), header.len())));
            }
            let mut labels = BTreeSet::new();
            for &c in &label_columns {
                for value in fields[c].split([',', ';']).map(str::trim).filter(|v| !v.is_empty()) {
                    let group = format!("{}={}", header[c], value.to_lowercase());
                    self.groups.insert(group.clone(), header[c].clone());
                    labels.insert(group);
                }
            }
            match image_key {
                Some(k) => {
                    let key = fields[k].replace('\\', "/");
                    let file = key.rsplit('/').next().unwrap_or_default().to_string();
                    self.by_image.entry(file).or_default().push((key, labels));
                }
                None => self.by_person.entry(fields[person_key.expect("checked")].clone()).or_default().extend(labels),
            }
        }
        Ok(())
    }

    /// The groups of an image: its own labels and those of its person (the folder it is in).
    pub fn labels_of(&self, image: &Path) -> BTreeSet<String> {
        let mut labels = BTreeSet::new();
        let text = image.to_string_lossy().replace('\\', "/");
        let file = image.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        for (key, l) in self.by_image.get(&file).into_iter().flatten() {
            if text.ends_with(key.as_str())
                && (text.len() == key.len() || text[..text.len() - key.len()].ends_with('/'))
            {
                labels.extend(l.iter().cloned());
            }
        }
        if let Some(person) = image.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()) {
            if let Some(l) = self.by_person.get(person) {
                labels.extend(l.iter().cloned());
            }
        }
        labels
    }
}

/// A scored pair with the groups both its images belong to.
#[derive(Debug, Clone)]
pub struct GroupedScore {
    pub score: f32,
    pub genuine: bool,
    pub groups: BTreeSet<String>,
}

/// One group's error rates at the threshold.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRates {
    pub group: String,
    pub attribute: String,
    pub fmr: Rate,
    pub fnmr: Rate,
    /// The threshold at which this group's FMR would be the overall FMR at the threshold, when the
    /// group has enough impostor pairs for that FMR (at least one accepted impostor expected).
    pub threshold_for_equal_fmr: Option<f32>,
}

/// Worst-to-best ratios within one attribute.
#[derive(Debug, Clone, Serialize)]
pub struct Differential {
    pub attribute: String,
    /// Groups compared (those with at least `min_pairs` pairs of the kind).
    pub groups: Vec<String>,
    /// Highest FMR / lowest FMR, `None` when the lowest is zero (the ratio is then unbounded).
    pub fmr_ratio: Option<f64>,
    pub fnmr_ratio: Option<f64>,
    pub fmr_worst: Option<String>,
    pub fnmr_worst: Option<String>,
}

/// The whole fairness table.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub threshold: f32,
    /// Over all pairs.
    pub overall_fmr: Rate,
    pub overall_fnmr: Rate,
    pub groups: Vec<GroupRates>,
    pub differentials: Vec<Differential>,
    /// Groups with fewer pairs of a kind than this are listed but left out of the ratios.
    pub min_pairs: u64,
}

/// Per-group rates at `threshold`, differentials and FMR-equalising thresholds.
pub fn fairness(
    scores: &[GroupedScore],
    groups: &BTreeMap<String, String>,
    threshold: f32,
    min_pairs: u64,
) -> FairnessReport {
    let rates = |pairs: &mut dyn Iterator<Item = &GroupedScore>| {
        let (mut imp, mut fm, mut gen, mut fnm) = (0u64, 0u64, 0u64, 0u64);
        for p in pairs {
            if p.genuine {
                gen += 1;
                fnm += u64::from(p.score < threshold);
            } else {
                imp += 1;
                fm += u64::from(p.score >= threshold);
            }
        }
        (Rate::new(fm, imp), Rate::new(fnm, gen))
    };
    let (overall_fmr, overall_fnmr) = rates(&mut scores.iter());
    let mut table = Vec::new();
    for (group, attribute) in groups {
        let (fmr, fnmr) = rates(&mut scores.iter().filter(|p| p.groups.contains(group)));
        if fmr.trials + fnmr.trials == 0 {
            continue;
        }
        let impostors: Vec<f32> =
            scores.iter().filter(|p| !p.genuine && p.groups.contains(group)).map(|p| p.score).collect();
        let threshold_for_equal_fmr = equalising_threshold(&impostors, overall_fmr.rate);
        table.push(GroupRates {
            group: group.clone(),
            attribute: attribute.clone(),
            fmr,
            fnmr,
            threshold_for_equal_fmr,
        });
    }
    let attributes: BTreeSet<&String> = table.iter().map(|g| &g.attribute).collect();
    let differentials = attributes
        .into_iter()
        .map(|attribute| {
            let members: Vec<&GroupRates> = table.iter().filter(|g| &g.attribute == attribute).collect();
            let ratio = |pick: &dyn Fn(&GroupRates) -> Rate| {
                let eligible: Vec<(&GroupRates, Rate)> =
                    members.iter().map(|g| (*g, pick(g))).filter(|(_, r)| r.trials >= min_pairs).collect();
                if eligible.len() < 2 {
                    return (None, None);
                }
                let worst = eligible.iter().max_by(|a, b| a.1.rate.total_cmp(&b.1.rate)).expect("two");
                let best = eligible.iter().min_by(|a, b| a.1.rate.total_cmp(&b.1.rate)).expect("two");
                let r = (best.1.rate > 0.0).then(|| worst.1.rate / best.1.rate);
                (r, Some(worst.0.group.clone()))
            };
            let (fmr_ratio, fmr_worst) = ratio(&|g| g.fmr);
            let (fnmr_ratio, fnmr_worst) = ratio(&|g| g.fnmr);
            Differential {
                attribute: attribute.clone(),
                groups: members.iter().map(|g| g.group.clone()).collect(),
                fmr_ratio,
                fnmr_ratio,
                fmr_worst,
                fnmr_worst,
            }
        })
        .collect();
    FairnessReport { threshold, overall_fmr, overall_fnmr, groups: table, differentials, min_pairs }
}

/// The lowest threshold with FMR at most `target` on these impostor scores; `None` when the group is
/// too small for the target (fewer than one accepted impostor expected) or the target is zero.
fn equalising_threshold(impostors: &[f32], target: f64) -> Option<f32> {
    let n = impostors.len();
    if target <= 0.0 || (n as f64) * target < 1.0 {
        return None;
    }
    let mut sorted = impostors.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * n as f64 + 1e-9).floor() as usize;
    Some(sorted.get(allowed).map_or(f32::NEG_INFINITY, |&s| crate::metrics::next_up(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(score: f32, genuine: bool, groups: &[&str]) -> GroupedScore {
        GroupedScore { score, genuine, groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn rates_ratios_and_equalising_thresholds() {
        let mut scores = Vec::new();
        // Group a: 10 impostors, 2 above 0.5; 10 genuine, 1 below. Group b: 10 impostors, 1 above;
        // 10 genuine, 2 below.
        for i in 0..10 {
            scores.push(pair(if i < 2 { 0.6 + i as f32 * 0.01 } else { 0.1 }, false, &["g=a"]));
            scores.push(pair(if i < 1 { 0.4 } else { 0.9 }, true, &["g=a"]));
            scores.push(pair(if i < 1 { 0.7 } else { 0.2 }, false, &["g=b"]));
            scores.push(pair(if i < 2 { 0.3 } else { 0.9 }, true, &["g=b"]));
        }
        let groups: BTreeMap<String, String> =
            [("g=a".to_string(), "g".to_string()), ("g=b".to_string(), "g".to_string())].into();
        let r = fairness(&scores, &groups, 0.5, 5);
        assert_eq!(r.overall_fmr.errors, 3);
        assert_eq!(r.overall_fmr.trials, 20);
        let a = &r.groups[0];
        assert_eq!((a.fmr.errors, a.fnmr.errors), (2, 1));
        let d = &r.differentials[0];
        assert!((d.fmr_ratio.unwrap() - 2.0).abs() < 1e-12);
        assert!((d.fnmr_ratio.unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(d.fmr_worst.as_deref(), Some("g=a"));
        assert_eq!(d.fnmr_worst.as_deref(), Some("g=b"));
        // Overall FMR 0.15: group a allows 1 of 10 → its threshold lies above its second impostor
        // (0.6), at most one accepted; group b allows 1 → above 0.2.
        let ta = a.threshold_for_equal_fmr.unwrap();
        assert!(ta > 0.6 && ta <= 0.61, "{ta}");
        let tb = r.groups[1].threshold_for_equal_fmr.unwrap();
        assert!(tb > 0.2 && tb < 0.21, "{tb}");
        // With a minimum of 50 pairs no group is compared.
        assert!(fairness(&scores, &groups, 0.5, 50).differentials[0].fmr_ratio.is_none());
    }

    #[test]
    fn labels_from_image_and_person_files() {
        let dir = tempfile::tempdir().unwrap();
        let by_image = dir.path().join("g.csv");
        std::fs::write(&by_image, "image,name,gender\nA_B/A_B_0001.jpg,A_B,female\nC/C_0001.jpg,C,male\n").unwrap();
        let by_person = dir.path().join("r.csv");
        std::fs::write(
            &by_person,
            "name,race_labels,primary_if_single\nA_B,\"latino,african\",\nC,caucasian,caucasian\n",
        )
        .unwrap();
        let mut labels = GroupLabels::default();
        labels.add_file(&by_image, None).unwrap();
        labels.add_file(&by_person, Some(&["race_labels".to_string()])).unwrap();
        let l = labels.labels_of(Path::new("/data/lfw/A_B/A_B_0001.jpg"));
        let want: BTreeSet<String> =
            ["gender=female", "race_labels=african", "race_labels=latino"].iter().map(|s| s.to_string()).collect();
        assert_eq!(l, want);
        // A suffix must match whole path components.
        assert!(!labels.labels_of(Path::new("/x/XC/C_0001.jpg")).contains("gender=male"));
        assert!(labels.groups.contains_key("race_labels=caucasian"));
        std::fs::write(&by_person, "who,what\nx,y\n").unwrap();
        assert!(labels.add_file(&by_person, None).is_err());
    }
}
