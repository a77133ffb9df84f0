//! Evaluation commands on real data from ../shared/data (skipped with a message when it is absent):
//! calibration and `--target-far`, run on a small subset to keep the test quick.

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{lfw_dir, path_str, run, Run, Sandbox};

fn visage(cache: &Path, args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_CACHE_DIR", cache).env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

/// The first `n` genuine and `n` impostor pairs of LFW's pairs.csv as a plain `img1,img2,label` CSV
/// with absolute paths.
fn lfw_subset(lfw: &Path, n: usize, out: &Path) -> Vec<(PathBuf, PathBuf, bool)> {
    let text = std::fs::read_to_string(lfw.join("pairs.csv")).unwrap();
    let images = lfw.join("lfw-deepfunneled");
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let pair = (images.join(f[2]), images.join(f[3]), f[1] == "1");
        if pair.2 && genuine.len() < n {
            genuine.push(pair);
        } else if !pair.2 && impostor.len() < n {
            impostor.push(pair);
        }
    }
    let all: Vec<_> = genuine.into_iter().chain(impostor).collect();
    let mut csv = String::from("img1,img2,label\n");
    for (a, b, g) in &all {
        csv.push_str(&format!("{},{},{}\n", a.display(), b.display(), u8::from(*g)));
    }
    std::fs::write(out, csv).unwrap();
    all
}

#[test]
fn calibrate_on_lfw_subset_then_verify_at_a_target_far() {
    let Some(lfw) = lfw_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pairs_csv = dir.path().join("pairs.csv");
    let pairs = lfw_subset(&lfw, 100, &pairs_csv);
    let cal = dir.path().join("cal.json");
    let report = dir.path().join("report");
    let args = ["calibrate", "--pairs", s(&pairs_csv), "--out", s(&cal), "--min-errors", "10", "--json"];
    let mut with_report = args.to_vec();
    with_report.extend(["--report", s(&report)]);
    let run = visage(&cache, &with_report);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["genuine_pairs"], 100);
    assert_eq!(v["impostor_pairs"], 100);
    // 100 impostors, at least 10 accepted: only FAR 1e-1 is supported.
    let points = v["operating_points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{v}");
    assert_eq!(points[0]["target_far"], 0.1);
    assert!(points[0]["far"]["errors"].as_u64().unwrap() <= 10);
    // The model separates LFW pairs well: EER under 5%, FRR at FAR 0.1 under 5%.
    assert!(v["eer"]["rate"].as_f64().unwrap() < 0.05, "{v}");
    assert!(points[0]["frr"]["rate"].as_f64().unwrap() < 0.05, "{v}");
    for f in ["report.md", "roc.png", "roc.svg", "det.png", "det.svg", "scores.png", "scores.svg"] {
        assert!(report.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("| 1e-1 |") && md.contains("Clopper-Pearson"), "{md}");

    // The rerun takes every embedding from the cache and gives the same calibration.
    let again = visage(&cache, &args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("from the embedding cache"), "{}", again.stderr);
    let w: Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(w["operating_points"], v["operating_points"]);

    // verify at FAR 0.1: a genuine pair matches and reports its estimated FAR.
    let (a, b, _) = &pairs[0];
    let run = visage(&cache, &["verify", s(a), s(b), "--target-far", "0.1", "--calibration", s(&cal), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(out["target_far"], 0.1);
    assert_eq!(as_f32(&out["threshold"]), as_f32(&points[0]["threshold"]), "{out}");
    let far = out["estimated_far"].as_f64().unwrap();
    assert!(far > 0.0 && far <= 0.1, "{out}");
    // An impostor pair scores low: a high estimated FAR.
    let (a, b, _) = &pairs[150];
    let run = visage(&cache, &["verify", s(a), s(b), "--target-far", "0.1", "--calibration", s(&cal), "--json"]);
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(run.code, if out["match"] == true { 0 } else { 1 }, "{out}");
    assert!(out["estimated_far"].as_f64().is_some(), "{out}");

    // identify at FAR 0.1: the enrolled person is found in another photo of them, with an estimated FAR.
    let gallery = dir.path().join("gallery");
    let (a, b, _) = &pairs[0];
    let run = visage(
        &cache,
        &["enroll", "--subject", "p1", "--purpose", "test", "--evidence", "test", "--data-dir", s(&gallery), s(a)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = visage(
        &cache,
        &["identify", s(b), "--data-dir", s(&gallery), "--target-far", "0.1", "--calibration", s(&cal), "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(out["target_far"], 0.1);
    assert_eq!(as_f32(&out["threshold"]), as_f32(&points[0]["threshold"]), "{out}");
    assert_eq!(out["faces"][0]["match"], "p1", "{out}");
    let far = out["faces"][0]["estimated_far"].as_f64().unwrap();
    assert!(far > 0.0 && far <= 0.1, "{out}");
    let (a, b, _) = &pairs[150];

    // A FAR the data cannot support is refused, naming the limit.
    let run = visage(&cache, &["verify", s(a), s(b), "--target-far", "0.001", "--calibration", s(&cal)]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("below what the calibration data supports"), "{}", run.stderr);
    // A calibration of another model is refused.
    let mut foreign: Value = serde_json::from_str(&std::fs::read_to_string(&cal).unwrap()).unwrap();
    foreign["source"]["model_sha256"] = Value::from("00".repeat(32));
    let foreign_path = dir.path().join("foreign.json");
    std::fs::write(&foreign_path, foreign.to_string()).unwrap();
    let run = visage(&cache, &["verify", s(a), s(b), "--target-far", "0.1", "--calibration", s(&foreign_path)]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("calibration was made with embedding model"), "{}", run.stderr);
}

#[test]
fn open_set_identification_on_lfw_people_subset() {
    let Some(lfw) = lfw_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("plot");
    let run = visage(
        &dir.path().join("cache"),
        &["eval", "identify", "--data", s(&lfw), "--people", "150", "--plot", s(&plot), "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["people"], 150);
    let p = &v["protocol"];
    let mated = p["mated_searches"].as_u64().unwrap();
    let non_mated = p["non_mated_searches"].as_u64().unwrap();
    assert!(mated > 50 && non_mated > 50, "{p}");
    // Rank-1 on LFW with this model is high; rank-5 is at least rank-1.
    let rank1 = p["rank1"]["rate"].as_f64().unwrap();
    assert!(rank1 > 0.9, "{p}");
    assert!(p["rank5"]["rate"].as_f64().unwrap() >= rank1);
    // Fewer than 3,000 non-mated searches: FPIR 1e-2 and 1e-3 are not reported (rule of 30).
    let unsupported: Vec<f64> = serde_json::from_value(p["unsupported_fpir"].clone()).unwrap();
    assert!(unsupported.contains(&0.001) && unsupported.contains(&0.01), "{p}");
    assert!(plot.join("det-identify.png").is_file() && plot.join("det-identify.svg").is_file());
}

#[test]
fn fairness_on_lfw_subset_with_gender_labels() {
    let Some(lfw) = lfw_dir() else { return };
    let attributes = lfw.join("../lfw-attributes/lfw_gender_afifi.csv");
    if !attributes.is_file() {
        eprintln!("SKIPPED: ../shared/data/lfw-attributes not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pairs_csv = dir.path().join("pairs.csv");
    lfw_subset(&lfw, 100, &pairs_csv);
    let run = visage(
        &dir.path().join("cache"),
        &["eval", "fairness", "--pairs", s(&pairs_csv), "--groups", s(&attributes), "--threshold", "0.25", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let groups = v["report"]["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert!(names.contains(&"gender=male") && names.contains(&"gender=female"), "{names:?}");
    // Every pair in a gender group has both images labelled; the groups hold at most all pairs.
    let genuine_in_groups: u64 = groups.iter().map(|g| g["fnmr"]["trials"].as_u64().unwrap()).sum();
    assert!(genuine_in_groups > 50 && genuine_in_groups <= 100, "{v}");
    for g in groups {
        let ci: Vec<f64> = serde_json::from_value(g["fmr"]["ci95"].clone()).unwrap();
        assert!(ci[0] <= g["fmr"]["rate"].as_f64().unwrap() && ci[1] >= g["fmr"]["rate"].as_f64().unwrap());
    }

    // Impostor pairs drawn within each group instead: up to 150 per group, reproducibly.
    let args = [
        "eval",
        "fairness",
        "--pairs",
        s(&pairs_csv),
        "--groups",
        s(&attributes),
        "--threshold",
        "0.25",
        "--within-group-impostors",
        "150",
        "--json",
    ];
    let first = visage(&dir.path().join("cache"), &args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let v: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    let male = v["report"]["groups"].as_array().unwrap().iter().find(|g| g["group"] == "gender=male").unwrap().clone();
    assert_eq!(male["fmr"]["trials"], 150, "{male}");
    let again = visage(&dir.path().join("cache"), &args);
    assert_eq!(again.stdout, first.stdout, "the drawn pairs are the same on every run");
}

#[test]
fn wider_face_ap_on_a_few_images() {
    let Some(data) = visage_testkit::shared_data().map(|d| d.join("widerface-val-subset")).filter(|d| d.is_dir())
    else {
        eprintln!("SKIPPED: ../shared/data/widerface-val-subset not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = visage(
        &dir.path().join("cache"),
        &["eval", "wider", "--data", s(&data), "--limit", "12", "--plot", s(dir.path()), "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["images"], 12);
    for detector in ["centerface", "ultraface"] {
        for set in ["easy", "medium", "hard"] {
            let ap = v["detectors"][detector][set].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&ap), "{detector} {set}: {ap}");
        }
    }
    // CenterFace at full resolution finds most easy faces; it beats UltraFace (320x240) on hard ones.
    assert!(v["detectors"]["centerface"]["easy"].as_f64().unwrap() > 0.7, "{v}");
    assert!(
        v["detectors"]["centerface"]["hard"].as_f64().unwrap() > v["detectors"]["ultraface"]["hard"].as_f64().unwrap(),
        "{v}"
    );
    assert!(dir.path().join("pr.png").is_file());
    // `all` (the default) compares every detector visage knows: each is measured or skipped with a
    // reason, and each measured one has its speed.
    let skipped: Vec<&str> = v["skipped"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for kind in visage::detect::DetectorKind::ALL {
        let name = kind.to_string();
        match v["detectors"].get(&name) {
            Some(d) => assert!(
                d["ms_per_image"].as_f64().unwrap() > 0.0 && d["images_per_second"].as_f64().unwrap() > 0.0,
                "{d}"
            ),
            None => assert!(skipped.contains(&name.as_str()), "{name} neither measured nor skipped: {v}"),
        }
    }
    // The text table: one row per detector measured, with the speed columns.
    let run = visage(
        &dir.path().join("cache"),
        &["eval", "wider", "--data", s(&data), "--limit", "2", "--detector", "ultraface"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("ms/image") && run.stdout.lines().any(|l| l.starts_with("ultraface ")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.lines().any(|l| l.starts_with("centerface ")), "{}", run.stdout);
    let run = visage(&dir.path().join("cache"), &["eval", "wider", "--data", s(&data), "--detector", "nope"]);
    assert!(run.code != 0 && run.stderr.contains("or all"), "{}", run.stderr);
}

#[test]
fn lfw_recognizer_all_compares_every_recogniser_on_a_few_pairs() {
    let Some(lfw) = lfw_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // One genuine and one impostor pair of each fold: 20 pairs.
    let args = ["eval", "lfw", "--data", s(&lfw), "--recognizer", "all", "--limit", "1", "--json"];
    let run = visage(&cache, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let skipped: Vec<&str> = v["skipped"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for kind in visage::recognize::RecognizerKind::ALL {
        let name = kind.to_string();
        let Some(r) = v["recognizers"].get(&name) else {
            assert!(skipped.contains(&name.as_str()), "{name} neither measured nor skipped: {v}");
            continue;
        };
        assert_eq!(r["pairs"], 20, "{r}");
        // Twenty easy pairs: every recogniser gets nearly all right, and its speed is measured.
        assert!(r["accuracy"].as_f64().unwrap() >= 0.85, "{name}: {r}");
        assert!(r["stage_ms"]["embed"].as_f64().unwrap() > 0.0 && r["images_per_second"].as_f64().is_some(), "{r}");
    }
    assert!(v["recognizers"].get("arcface").is_some(), "the default always runs: {v}");
    // Again as a table, from the embedding cache: one row per recogniser, speed marked as cached.
    let mut text_args = args.to_vec();
    text_args.pop();
    let run = visage(&cache, &text_args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("arcface ") || l.starts_with("sface ")).collect();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert!(rows.iter().all(|r| r.contains('%') && r.contains("cached")), "{}", run.stdout);
    // One recogniser by name keeps the detailed report.
    let run = visage(&cache, &["eval", "lfw", "--data", s(&lfw), "--limit", "1", "--recognizer", "sface", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["pairs"], 20);
}

/// A JSON number as the f32 it was written from (typed output prints an f32's shortest form, a JSON
/// value built from it its f64 widening: the same f32 either way).
fn as_f32(v: &Value) -> f32 {
    v.as_f64().expect("a number") as f32
}
