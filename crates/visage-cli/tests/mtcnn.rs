//! `--detector mtcnn` through the commands: detect, verify and calibrate on LFW pairs (accuracy close
//! to the default detector's), and `eval wider`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{lfw_dir, path_str, run, sample_photos, shared_data, Run, Sandbox};

fn visage(cache: &Path, args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_CACHE_DIR", cache).env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn detect_with_mtcnn_finds_the_faces_of_the_demo_photos() {
    let dir = tempfile::tempdir().unwrap();
    let photos = sample_photos();
    let v = json(&visage(dir.path(), &["detect", "--detector", "mtcnn", "--json", s(&photos[4])]));
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 5, "{v}");
    for f in faces {
        assert!(f["score"].as_f64().unwrap() > 0.9, "{f}");
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5, "{f}");
    }
    // Both backends.
    let t =
        json(&visage(dir.path(), &["detect", "--detector", "mtcnn", "--backend", "tract", "--json", s(&photos[4])]));
    assert_eq!(t["faces"].as_array().unwrap().len(), 5, "{t}");
    // A wrong name lists mtcnn among the choices.
    let bad = visage(dir.path(), &["detect", "--detector", "mtcn", s(&photos[4])]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("mtcnn"), "{}", bad.stderr);
}

/// The first `n` genuine and `n` impostor pairs of LFW as an `img1,img2,label` CSV.
fn lfw_pairs(lfw: &Path, n: usize, out: &Path) -> Vec<(PathBuf, PathBuf, bool)> {
    let text = std::fs::read_to_string(lfw.join("pairs.csv")).unwrap();
    let images = lfw.join("lfw-deepfunneled");
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let pair = (images.join(f[2]), images.join(f[3]), f[1] == "1");
        match pair.2 {
            true if genuine.len() < n => genuine.push(pair),
            false if impostor.len() < n => impostor.push(pair),
            _ => {}
        }
    }
    let all: Vec<_> = genuine.into_iter().chain(impostor).collect();
    let rows: String =
        all.iter().map(|(a, b, g)| format!("{},{},{}\n", a.display(), b.display(), u8::from(*g))).collect();
    std::fs::write(out, format!("img1,img2,label\n{rows}")).unwrap();
    all
}

#[test]
fn lfw_verification_with_mtcnn_is_as_good_as_with_centerface() {
    let Some(lfw) = lfw_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pairs_csv = dir.path().join("pairs.csv");
    let pairs = lfw_pairs(&lfw, 150, &pairs_csv);
    let eer = |detector: &str| {
        let cache = dir.path().join(format!("cache-{detector}"));
        let cal = dir.path().join(format!("cal-{detector}.json"));
        let args = ["calibrate", "--pairs", s(&pairs_csv), "--detector", detector, "--out", s(&cal), "--json"];
        let v = json(&visage(&cache, &args));
        assert_eq!(v["genuine_pairs"], 150, "{v}");
        assert_eq!(v["impostor_pairs"], 150, "{v}");
        v["eer"]["rate"].as_f64().unwrap()
    };
    let (mtcnn, centerface) = (eer("mtcnn"), eer("centerface"));
    eprintln!("EER on 300 LFW pairs: mtcnn {mtcnn:.4}, centerface {centerface:.4}");
    assert!(mtcnn < 0.05 && mtcnn <= centerface + 0.02, "EER mtcnn {mtcnn}, centerface {centerface}");
    // verify end to end: a genuine pair matches, an impostor pair does not.
    let cache = dir.path().join("cache-mtcnn");
    let (a, b, _) = &pairs[0];
    let v = json(&visage(&cache, &["verify", "--detector", "mtcnn", "--json", s(a), s(b)]));
    assert_eq!(v["match"], true, "{v}");
    let (a, b, _) = &pairs[150];
    let out = visage(&cache, &["verify", "--detector", "mtcnn", "--json", s(a), s(b)]);
    assert_eq!(out.code, 1, "{}", out.stdout);
}

#[test]
fn eval_wider_runs_mtcnn() {
    let Some(data) = shared_data() else {
        eprintln!("SKIPPED: ../shared/data not found");
        return;
    };
    let wider = data.join("widerface-val-subset");
    let dir = tempfile::tempdir().unwrap();
    let v = json(&visage(
        dir.path(),
        &["eval", "wider", "--data", s(&wider), "--detector", "mtcnn", "--limit", "20", "--json"],
    ));
    let ap = &v["detectors"]["mtcnn"];
    for set in ["easy", "medium", "hard"] {
        let x = ap[set].as_f64().unwrap_or_else(|| panic!("{v}"));
        assert!((0.0..=1.0).contains(&x), "{v}");
    }
    assert!(ap["easy"].as_f64().unwrap() > 0.5, "{v}");
}
