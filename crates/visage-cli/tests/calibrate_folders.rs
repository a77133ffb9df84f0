//! `visage calibrate --folders DIR --impostors N` on a small folder-per-person set made of LFW photos
//! (linked into a temporary folder, never copied into the repository; skipped without LFW).

use serde_json::Value;
use std::path::Path;
use visage_testkit::{lfw_dir, path_str, run, Run, Sandbox};

fn visage(cache: &Path, args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_CACHE_DIR", cache).env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

/// Eight LFW people with 2 to 4 photos each (20 photos, 18 genuine and 172 impostor pairs), linked into
/// `dir/<name>/`. Returns the genuine pair count.
fn people(lfw: &Path, dir: &Path) -> usize {
    let chosen = [
        ("George_W_Bush", 4),
        ("Colin_Powell", 3),
        ("Tony_Blair", 3),
        ("Donald_Rumsfeld", 2),
        ("Gerhard_Schroeder", 2),
        ("Ariel_Sharon", 2),
        ("Hugo_Chavez", 2),
        ("Serena_Williams", 2),
    ];
    let mut genuine = 0;
    for (name, n) in chosen {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        for k in 1..=n {
            let file = format!("{name}_{k:04}.jpg");
            std::os::unix::fs::symlink(lfw.join("lfw-deepfunneled").join(name).join(&file), dir.join(name).join(&file))
                .unwrap();
        }
        genuine += n * (n - 1) / 2;
    }
    genuine
}

#[test]
fn calibrates_on_every_genuine_pair_and_the_impostor_pairs_asked_for() {
    let Some(lfw) = lfw_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("people");
    let genuine = people(&lfw, &data);
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("cal.json"));
    let args = ["calibrate", "--folders", path_str(&data), "--impostors", "80", "--min-errors", "2"];
    let mut args = args.to_vec();
    args.extend(["--out", path_str(&out), "--json"]);
    let run = visage(&cache, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["genuine_pairs"], genuine as u64, "every genuine pair: {v}");
    assert_eq!(v["impostor_pairs"], 80);
    assert!(v["source"]["data"].as_str().unwrap().contains("80 impostor pairs drawn with seed 1"), "{v}");
    // 80 impostors and the rule of 2: FAR 1e-1 is tabulated (8 errors allowed), 1e-2 is not (0.8).
    let targets: Vec<f64> =
        v["operating_points"].as_array().unwrap().iter().map(|p| p["target_far"].as_f64().unwrap()).collect();
    assert_eq!(targets, [0.1]);
    assert!(v["eer"]["rate"].as_f64().unwrap() < 0.1, "LFW portraits separate well: {v}");
    assert!(out.is_file());

    // The same seed draws the same pairs: the same calibration.
    let again: Value = serde_json::from_str(visage(&cache, &args).stdout.trim()).unwrap();
    assert_eq!(again["operating_points"], v["operating_points"]);
}

#[test]
fn refuses_more_impostors_than_exist_and_impostors_without_folders() {
    let Some(lfw) = lfw_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("people");
    people(&lfw, &data);
    let cache = tmp.path().join("cache");
    let too_many = visage(&cache, &["calibrate", "--folders", path_str(&data), "--impostors", "1000000"]);
    assert_eq!(too_many.code, 2, "{}", too_many.stderr);
    assert!(too_many.stderr.contains("distinct ones"), "{}", too_many.stderr);
    let no_folders = visage(&cache, &["calibrate", "--pairs", "p.csv", "--impostors", "10"]);
    assert_eq!(no_folders.code, 2);
    assert!(no_folders.stderr.contains("--folders"), "{}", no_folders.stderr);
    let neither = visage(&cache, &["calibrate"]);
    assert_eq!(neither.code, 2);
}
