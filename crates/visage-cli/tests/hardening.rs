//! The binary under a careless user's hands and the tests under a user's state: a closed pipe ends it
//! quietly, errors state their reason once, thread counts are bounded, and the tests' sandbox ignores
//! a calibration and a gallery planted in the user's default dirs.

use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use visage::models::{ids, Manifest};
use visage::recognize::calibration::{Calibration, CalibrationSource};
use visage_testkit::{models_home, path_str, run, sample_photos, Run, Sandbox, USER_SETTINGS};

const BIN: &str = env!("CARGO_BIN_EXE_visage");

fn visage(args: &[&str]) -> Run {
    run(Sandbox::shared().command(BIN), args)
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // The reader is gone before the first line is written, as with `| head -0` (or `| head -1` on
    // output longer than the pipe's buffer).
    let mut child = Sandbox::shared()
        .command(BIN)
        .args(["models", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{status}: {stderr}");
}

#[test]
fn an_error_states_its_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let out = visage(&["detect", path_str(&empty)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.matches("the file is empty").count(), 1, "{}", out.stderr);
}

#[test]
fn thread_counts_are_bounded() {
    let photo = sample_photos()[0].clone();
    for (flag, value) in [("--intra-threads", "100000"), ("--intra-threads", "0")] {
        let out = visage(&["detect", flag, value, path_str(&photo)]);
        assert_eq!(out.code, 2, "{flag} {value} accepted: {}", out.stdout);
        assert!(out.stderr.contains("from 1 to 256"), "{}", out.stderr);
    }
    let out = visage(&["bench", "--workers", "100000"]);
    assert!(out.code == 2 && out.stderr.contains("from 1 to 256"), "{}", out.stderr);
}

/// A calibration of the embedding model under which every pair of faces matches at FAR 0.5.
fn planted_calibration(path: &Path) {
    let sha = Manifest::default_pack().model(ids::EMBEDDING).unwrap().sha256.clone();
    let source = CalibrationSource {
        model: "embedding".into(),
        model_sha256: sha,
        pipeline: "planted".into(),
        data: "planted".into(),
        skipped_pairs: 0,
        created: "now".into(),
    };
    let impostor: Vec<f32> = (0..1000).map(|i| -0.9 + i as f32 / 1000.0).collect();
    let genuine: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 250.0).collect();
    let c = Calibration::from_scores(&genuine, &impostor, source, 30).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    c.save(path).unwrap();
}

#[test]
fn the_sandbox_ignores_a_calibration_and_a_gallery_in_the_users_default_dirs() {
    // A user whose cache holds the models and an active calibration, and whose data dir holds a gallery.
    let user = tempfile::tempdir().unwrap();
    let cache = user.path().join(".cache/visage");
    std::fs::create_dir_all(&cache).unwrap();
    for entry in std::fs::read_dir(models_home().root()).unwrap().flatten() {
        if entry.file_name() != "calibration" {
            std::os::unix::fs::symlink(entry.path(), cache.join(entry.file_name())).unwrap();
        }
    }
    let sha = &Manifest::default_pack().model(ids::EMBEDDING).unwrap().sha256;
    planted_calibration(&cache.join("calibration").join(format!("{sha}.json")));
    let as_user = || {
        let mut cmd = Command::new(BIN);
        cmd.env("HOME", user.path());
        // The default dirs only: settings from the environment running the tests stay out of it.
        let dirs = ["VISAGE_HOME", "VISAGE_DATA_DIR", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"];
        for v in dirs.into_iter().chain(USER_SETTINGS) {
            cmd.env_remove(v);
        }
        cmd
    };
    let created = run(as_user(), &["keys", "create", "--scopes", "admin", "--json"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(user.path().join(".local/share/visage").is_dir(), "the user's gallery is in the default dir");
    let photo = path_str(&sample_photos()[0]).to_string();
    let keys = |r: Run| serde_json::from_str::<Value>(r.stdout.trim()).unwrap().as_array().unwrap().len();
    let verify = |r: Run| serde_json::from_str::<Value>(r.stdout.trim()).unwrap();

    // The user's own runs see both: the control that shows the planted state is real.
    assert_eq!(keys(run(as_user(), &["keys", "list", "--json"])), 1);
    let v = verify(run(as_user(), &["verify", "--json", &photo, &photo]));
    assert!(v["estimated_far"].is_number(), "the planted calibration is active for the user: {v}");

    // The same user environment through the sandbox sees neither.
    let sandboxed = || {
        let mut cmd = as_user();
        Sandbox::new().apply(&mut cmd);
        cmd
    };
    assert_eq!(keys(run(sandboxed(), &["keys", "list", "--json"])), 0);
    let v = verify(run(sandboxed(), &["verify", "--json", &photo, &photo]));
    assert!(v.get("estimated_far").is_none(), "the sandbox has no calibration: {v}");
}
