//! `visage enroll --batch` on several workers: the photos of many lines analysed at once, the lines
//! committed and reported in the file's order, a bad line reported and skipped (never fatal), and the
//! consent and duplicate rules the same as on one worker.

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{path_str, run, sample_photos, Run, Sandbox};

fn visage_in(data: &Path, args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_DATA_DIR", data).env_remove("VISAGE_KEY").env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

/// Face `face` of demo photo `photo`, cut out with a margin into `dir` (one person per file).
fn portrait(dir: &Path, photo: usize, face: usize) -> PathBuf {
    let out = dir.join(format!("p{photo}-{face}.jpg"));
    let scratch = tempfile::tempdir().unwrap();
    let det = visage_in(scratch.path(), &["detect", "--json", path_str(&sample_photos()[photo])]);
    let v: Value = serde_json::from_str(det.stdout.trim()).unwrap();
    let b: Vec<f64> = serde_json::from_value(v["faces"][face]["bbox"].clone()).unwrap();
    let img = image::open(&sample_photos()[photo]).unwrap().to_rgb8();
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let x = (b[0] - w * 0.7).max(0.0) as u32;
    let y = (b[1] - h * 0.7).max(0.0) as u32;
    let cw = ((w * 2.4) as u32).min(img.width() - x);
    let ch = ((h * 2.4) as u32).min(img.height() - y);
    image::imageops::crop_imm(&img, x, y, cw, ch).to_image().save(&out).unwrap();
    out
}

/// The subjects stored and their template counts.
fn subjects(data: &Path) -> Vec<(String, u64)> {
    let out = visage_in(data, &["subjects", "--json"]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let mut all: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["subject"]["id"].as_str().unwrap().to_string(), r["templates"].as_u64().unwrap()))
        .collect();
    all.sort();
    all
}

#[test]
fn a_batch_on_two_workers_commits_in_order_and_reports_bad_lines() {
    let photos = tempfile::tempdir().unwrap();
    let dir = photos.path();
    let (a, b, c) = (portrait(dir, 0, 0), portrait(dir, 0, 1), portrait(dir, 1, 0));
    let csv = format!(
        "subject,name,purpose,evidence,image\n\
         s1,One,access,form-1,{a}\n\
         not,enough,fields\n\
         s2,Two,access,form-2,{b}\n\
         s3,Three,access,form-3,missing.jpg\n\
         bad id!,Four,access,form-4,{c}\n\
         s4,Again,access,form-5,{a}\n\
         s5,Five,access,form-6,{c}\n",
        a = path_str(&a),
        b = path_str(&b),
        c = path_str(&c),
    );
    let batch = dir.join("batch.csv");
    std::fs::write(&batch, csv).unwrap();

    let mut outputs = Vec::new();
    for workers in ["1", "2"] {
        let data = tempfile::tempdir().unwrap();
        let out = visage_in(data.path(), &["enroll", "--json", "--workers", workers, "--batch", path_str(&batch)]);
        assert_eq!(out.code, 2, "failed lines give exit code 2: {}", out.stderr);
        let enrolled: Vec<String> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["subject"].as_str().unwrap().to_string())
            .collect();
        // In the file's order; s4 is the face of s1, enrolled two lines before: a refused duplicate.
        assert_eq!(enrolled, ["s1", "s2", "s5"], "workers {workers}: {}", out.stderr);
        for expected in ["line 3: expected subject,name,purpose,evidence,image", "line 5: s3:", "line 6: bad id!:"] {
            assert!(out.stderr.contains(expected), "workers {workers}: no `{expected}` in {}", out.stderr);
        }
        assert!(out.stderr.contains("line 7: s4:") && out.stderr.contains("s1"), "{}", out.stderr);
        assert!(out.stderr.contains("3 enrolled, 4 failed"), "{}", out.stderr);
        let stored = subjects(data.path());
        assert_eq!(stored, [("s1".into(), 1), ("s2".into(), 1), ("s5".into(), 1)]);
        let audit = visage_in(data.path(), &["audit", "show", "--json"]);
        assert!(audit.stdout.contains("refused-duplicate"), "the duplicate refusal is audited");
        outputs.push(out.stdout);
    }
    let templates = |s: &str| -> Vec<Value> {
        s.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["quality"].clone()).collect()
    };
    assert_eq!(templates(&outputs[0]), templates(&outputs[1]), "one worker and two give the same enrolments");
}
