//! Comparing the components of one stage (`eval wider --detector all`, `eval lfw --recognizer all`):
//! the choice of one component or all of them, the list of candidates taken from the registry
//! (`DetectorKind::ALL`, `RecognizerKind::ALL`, so a component added there is compared without a
//! change here), and the note for candidates that cannot run here (not installed or imported, or
//! not supported by the backend), which are skipped rather than failing the comparison.

use serde::Serialize;
use std::fmt::Display;
use std::str::FromStr;
use visage::detect::DetectorKind;
use visage::recognize::RecognizerKind;

/// One component by name, or every component of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice<K> {
    One(K),
    All,
}

impl<K: FromStr<Err = String>> FromStr for Choice<K> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Choice::All);
        }
        K::from_str(s).map(Choice::One).map_err(|e| format!("{e}, or all"))
    }
}

impl<K: Copy> Choice<K> {
    /// The components to run: the one named, or every one of `registry` in its order.
    pub fn candidates(self, registry: &[K]) -> Vec<K> {
        match self {
            Choice::One(k) => vec![k],
            Choice::All => registry.to_vec(),
        }
    }
}

/// Every detector the registry knows, default first.
pub fn detectors() -> Vec<DetectorKind> {
    DetectorKind::ALL.to_vec()
}

/// Every recogniser the registry knows, default first.
pub fn recognizers() -> Vec<RecognizerKind> {
    RecognizerKind::ALL.to_vec()
}

/// A candidate that was not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// The candidates that ran, each with its result, and those skipped.
pub type Compared<K, R> = (Vec<(K, R)>, Vec<Skipped>);

/// Runs `run` for each candidate. When comparing all, a candidate whose set-up fails (`build`) is
/// skipped with its error as the note; a single named candidate's error is returned. Errors while
/// running a candidate that was set up are returned either way.
pub fn run_each<K: Copy + Display, B, R>(
    candidates: &[K],
    comparing: bool,
    build: impl Fn(K) -> anyhow::Result<B>,
    mut run: impl FnMut(K, B) -> anyhow::Result<R>,
) -> anyhow::Result<Compared<K, R>> {
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for &k in candidates {
        match build(k) {
            Ok(b) => done.push((k, run(k, b)?)),
            Err(e) if comparing => {
                let reason = format!("{e:#}").replace('\n', " ");
                eprintln!("visage: skipping {k}: {reason}");
                skipped.push(Skipped { name: k.to_string(), reason });
            }
            Err(e) => return Err(e),
        }
    }
    if done.is_empty() && !skipped.is_empty() {
        anyhow::bail!(
            "no component could run: {}",
            skipped.iter().map(|s| format!("{}: {}", s.name, s.reason)).collect::<Vec<_>>().join("; ")
        );
    }
    Ok((done, skipped))
}

/// Prints the notes for skipped candidates under a table.
pub fn print_skipped(skipped: &[Skipped]) {
    for s in skipped {
        println!("  skipped {}: {}", s.name, s.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_one_name_is_parsed_and_unknown_names_are_refused() {
        assert_eq!("all".parse::<Choice<DetectorKind>>().unwrap(), Choice::All);
        assert_eq!("ultraface".parse::<Choice<DetectorKind>>().unwrap(), Choice::One(DetectorKind::UltraFace));
        assert_eq!("sface".parse::<Choice<RecognizerKind>>().unwrap(), Choice::One(RecognizerKind::SFace));
        assert!("nope".parse::<Choice<DetectorKind>>().unwrap_err().ends_with("or all"));
        assert_eq!(Choice::All.candidates(&detectors()), DetectorKind::ALL.to_vec());
        assert_eq!(Choice::One(RecognizerKind::Fusion).candidates(&recognizers()), vec![RecognizerKind::Fusion]);
    }

    #[test]
    fn failed_set_ups_are_skipped_only_when_comparing() {
        let build = |k: DetectorKind| {
            if k == DetectorKind::UltraFace {
                anyhow::bail!("not installed")
            }
            Ok(k)
        };
        let run = |_: DetectorKind, b: DetectorKind| Ok(b.to_string());
        let (done, skipped) = run_each(&detectors(), true, build, run).unwrap();
        assert_eq!(done.len(), DetectorKind::ALL.len() - 1);
        assert_eq!((skipped[0].name.as_str(), skipped[0].reason.as_str()), ("ultraface", "not installed"));
        assert!(run_each(&[DetectorKind::UltraFace], false, build, run).is_err());
        // Comparing, but nothing could run: an error naming why.
        let err = run_each(&[DetectorKind::UltraFace], true, build, run).unwrap_err().to_string();
        assert!(err.contains("ultraface: not installed"), "{err}");
    }
}
