//! The gallery as a user drives it: consent, enrolment, identification, erasure, export, audit, keys,
//! and what survives SIGKILL and concurrent writers.

use image::{Rgb, RgbImage};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use visage_testkit::{lfw_dir, path_str, run, sample_photos, Run, Sandbox};

fn visage_in(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_DATA_DIR", data).env_remove("VISAGE_KEY").env_remove("VISAGE_BACKEND");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, args)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

/// Portraits cut from the demo photos: one person each, face large enough to enrol.
struct People {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl People {
    fn new() -> People {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        People { _dir: dir, dir: path }
    }

    /// Face `face` of demo photo `photo`, cut out with a margin.
    fn portrait(&self, photo: usize, face: usize) -> PathBuf {
        let out = self.dir.join(format!("p{photo}-{face}.jpg"));
        if out.exists() {
            return out;
        }
        let data = tempfile::tempdir().unwrap();
        let det = visage_in(data.path(), &["detect", "--json", s(&sample_photos()[photo])], &[]);
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

    fn mirrored(&self, photo: usize) -> PathBuf {
        let out = self.dir.join(format!("mirror{photo}.jpg"));
        let img = image::open(&sample_photos()[photo]).unwrap().to_rgb8();
        image::imageops::flip_horizontal(&img).save(&out).unwrap();
        out
    }

    fn file(&self, name: &str, img: &RgbImage) -> PathBuf {
        let out = self.dir.join(name);
        img.save(&out).unwrap();
        out
    }
}

fn enroll(data: &Path, subject: &str, images: &[&Path], extra: &[&str]) -> Run {
    let mut args = vec!["enroll", "--subject", subject, "--purpose", "office-access", "--evidence", "form-42"];
    args.extend_from_slice(extra);
    args.extend(images.iter().map(|p| s(p)));
    visage_in(data, &args, &[])
}

fn identify(data: &Path, image: &Path) -> Value {
    let out = visage_in(data, &["identify", "--json", s(image)], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(out.stdout.trim()).unwrap()
}

fn audit_intact(data: &Path) -> bool {
    let out = visage_in(data, &["audit", "verify", "--json"], &[]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(out.code == 0, v["intact"] == true);
    v["intact"] == true
}

#[test]
fn enrol_identify_in_a_group_photo_delete_and_audit() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let a = people.portrait(0, 0);
    let b = people.portrait(0, 1);
    assert_eq!(enroll(d, "ann", &[&a], &["--name", "Ann"]).code, 0);
    let out = enroll(d, "bea", &[&b], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The mirrored group photo: a different image of the same three people.
    let group = people.mirrored(0);
    let v = identify(d, &group);
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    let mut matches: Vec<Option<&str>> = faces.iter().map(|f| f["match"].as_str()).collect();
    matches.sort();
    assert_eq!(matches, [None, Some("ann"), Some("bea")], "the stranger is unknown: {v}");
    // Either index, chosen by configuration, gives the same answers.
    for index in ["exact", "hnsw"] {
        let out = visage_in(d, &["identify", "--json", s(&group)], &[("VISAGE_INDEX", index)]);
        assert_eq!(out.code, 0, "{index}: {}", out.stderr);
        let w: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        // The same decisions and candidates; similarities equal up to the kernels' rounding.
        let (faces, expected) = (w["faces"].as_array().unwrap(), v["faces"].as_array().unwrap());
        assert_eq!(faces.len(), expected.len());
        for (f, e) in faces.iter().zip(expected) {
            assert_eq!(f["match"], e["match"], "{index}");
            let (fc, ec) = (f["candidates"].as_array().unwrap(), e["candidates"].as_array().unwrap());
            assert_eq!(fc.len(), ec.len(), "{index}");
            for (a, b) in fc.iter().zip(ec) {
                assert_eq!(a["subject"], b["subject"], "{index}");
                let diff = a["similarity"].as_f64().unwrap() - b["similarity"].as_f64().unwrap();
                assert!(diff.abs() < 1e-4, "{index}: {a} vs {b}");
            }
        }
    }
    let bad = visage_in(d, &["identify", "--index", "faiss", s(&group)], &[]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("exact, hnsw, auto"), "{}", bad.stderr);
    for f in faces {
        assert!(f["candidates"].as_array().unwrap().len() <= 3);
        if f["match"].is_null() {
            assert!(f["similarity"].as_f64().unwrap() < v["threshold"].as_f64().unwrap());
        }
    }

    let del = visage_in(d, &["delete", "ann"], &[]);
    assert_eq!(del.code, 0, "{}", del.stderr);
    let v = identify(d, &group);
    let matched: Vec<&Value> =
        v["faces"].as_array().unwrap().iter().map(|f| &f["match"]).filter(|m| !m.is_null()).collect();
    assert_eq!(matched, [&Value::from("bea")], "ann is no longer identified");
    let export = visage_in(d, &["export", "ann"], &[]);
    assert_eq!(export.code, 2);
    assert!(export.stderr.contains("unknown subject 'ann'"));

    assert!(audit_intact(d));
    let show = visage_in(d, &["audit", "show", "--subject", "ann", "--json"], &[]);
    let entries: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    let actions: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"enroll") && actions.contains(&"identify") && actions.contains(&"delete"), "{actions:?}");
    assert!(!show.stdout.contains("embedding"), "no biometric data in the audit log");
}

#[test]
fn the_same_person_is_identified_in_another_lfw_photo() {
    let Some(lfw) = lfw_dir() else { return };
    let data = tempfile::tempdir().unwrap();
    let img = |name: &str, i: u32| lfw.join(format!("lfw-deepfunneled/{name}/{name}_{i:04}.jpg"));
    for name in ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"] {
        // Enrol from the first two photos that show one usable face (LFW photos often show two people).
        let mut enrolled = 0;
        for i in 1..=12 {
            if enroll(data.path(), &name.to_lowercase(), &[&img(name, i)], &[]).code == 0 {
                enrolled += 1;
            }
            if enrolled == 2 {
                break;
            }
        }
        assert_eq!(enrolled, 2, "{name}");
    }
    for (name, expected) in
        [("Colin_Powell", Some("colin_powell")), ("Tony_Blair", Some("tony_blair")), ("Gerhard_Schroeder", None)]
    {
        let v = identify(data.path(), &img(name, 20));
        let best = v["faces"].as_array().unwrap().iter().max_by(|a, b| {
            let area = |f: &Value| {
                let b = f["bbox"].as_array().unwrap();
                (b[2].as_f64().unwrap() - b[0].as_f64().unwrap()) * (b[3].as_f64().unwrap() - b[1].as_f64().unwrap())
            };
            area(a).total_cmp(&area(b))
        });
        assert_eq!(best.unwrap()["match"].as_str(), expected, "{name}: {v}");
    }
}

#[test]
fn enrolment_needs_consent_one_good_face_and_no_duplicate() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let a = people.portrait(1, 0);

    let no_consent = visage_in(d, &["enroll", "--subject", "x", s(&a)], &[]);
    assert_eq!(no_consent.code, 2);
    assert!(
        no_consent.stderr.contains("--purpose") && no_consent.stderr.contains("--evidence"),
        "{}",
        no_consent.stderr
    );

    let group = &sample_photos()[1];
    let out = enroll(d, "x", &[group], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("3 faces found, but exactly one is required") && out.stderr.contains("sample2.jpg"),
        "{}",
        out.stderr
    );

    let wall = people.file("wall.png", &RgbImage::from_pixel(400, 300, Rgb([90, 90, 90])));
    let out = enroll(d, "x", &[&a, &wall], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("wall.png: no face found"), "{}", out.stderr);
    let list = visage_in(d, &["subjects", "--json"], &[]);
    assert_eq!(list.stdout.trim(), "[]", "a refused enrolment stores nothing (all or nothing)");

    let blurred = people.file("blurred.png", &image::imageops::blur(&image::open(&a).unwrap().to_rgb8(), 6.0));
    let out = enroll(d, "x", &[&blurred], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("blurred"), "{}", out.stderr);

    let img = image::open(&a).unwrap();
    let small = people.file(
        "small.png",
        &img.resize(img.width() / 4, img.height() / 4, image::imageops::FilterType::Triangle).to_rgb8(),
    );
    let out = enroll(d, "x", &[&small], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("minimum") || out.stderr.contains("no face found"), "{}", out.stderr);

    assert_eq!(enroll(d, "first", &[&a], &[]).code, 0);
    let mirrored = people.file("a-mirror.png", &image::imageops::flip_horizontal(&image::open(&a).unwrap().to_rgb8()));
    let dup = enroll(d, "second", &[&mirrored], &[]);
    assert_eq!(dup.code, 2);
    assert!(dup.stderr.contains("already matches enrolled subject 'first'"), "{}", dup.stderr);
    let forced = enroll(d, "second", &[&mirrored], &["--allow-duplicate"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let show = visage_in(d, &["audit", "show", "--subject", "second", "--json"], &[]);
    let entries: Value = serde_json::from_str(show.stdout.trim()).unwrap();
    let outcomes: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["refused-duplicate", "ok"]);
    assert_eq!(entries[1]["detail"]["allow_duplicate"], true);
    // Another image of an enrolled subject adds a template (it matches only itself and 'second', which
    // was enrolled with the same face, hence --allow-duplicate).
    assert_eq!(enroll(d, "first", &[&mirrored], &["--allow-duplicate"]).code, 0);
    let list: Value = serde_json::from_str(visage_in(d, &["subjects", "--json"], &[]).stdout.trim()).unwrap();
    assert_eq!(list[0]["subject"]["id"], "first");
    assert_eq!(list[0]["templates"], 2);
}

#[test]
fn export_revoke_expire_and_bad_input() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let a = people.portrait(2, 0);
    assert_eq!(enroll(d, "cleo", &[&a], &["--name", "Cleo"]).code, 0);

    let out = visage_in(d, &["export", "cleo"], &[]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["subject"]["display_name"], "Cleo");
    assert_eq!(v["consents"][0]["purpose"], "office-access");
    assert_eq!(v["consents"][0]["evidence"], "form-42");
    assert!(v["templates"][0].get("embedding").is_none());
    let file = d.join("cleo.json");
    let out = visage_in(d, &["export", "cleo", "--include-templates", "--out", s(&file)], &[]);
    assert_eq!(out.code, 0);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["templates"][0]["embedding"].as_array().unwrap().len(), 512);

    let out = visage_in(d, &["consent", "revoke", "cleo"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("1 template(s) removed"));
    let v = identify(d, &a);
    assert!(v["faces"][0]["match"].is_null(), "no templates, no identification");

    // Consent that expires in a few seconds: gone after it expires.
    // (Eight seconds: enrolment loads its models first, which takes seconds on a loaded machine.)
    let started = std::time::Instant::now();
    let expires = time_in(8);
    let out = enroll(d, "dora", &[&people.portrait(3, 1)], &["--expires", &expires]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::thread::sleep(std::time::Duration::from_secs(9).saturating_sub(started.elapsed()));
    let out = visage_in(d, &["purge-expired"], &[]);
    assert_eq!(out.code, 0);
    let list: Value = serde_json::from_str(visage_in(d, &["subjects", "--json"], &[]).stdout.trim()).unwrap();
    let dora = list.as_array().unwrap().iter().find(|r| r["subject"]["id"] == "dora").unwrap();
    assert_eq!(dora["templates"], 0, "expired consent: templates removed (at start-up)");

    for (args, message) in [
        (vec!["delete", "nobody"], "unknown subject 'nobody'"),
        (vec!["export", "nobody"], "unknown subject 'nobody'"),
        (vec!["consent", "revoke", "nobody"], "unknown subject 'nobody'"),
        (vec!["delete", "../etc"], "invalid subject id"),
        (vec!["delete", ""], "invalid subject id"),
    ] {
        let out = visage_in(d, &args, &[]);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
    let out = enroll(d, "eve", &[&a], &["--expires", "31/12/2030"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("invalid date"), "{}", out.stderr);
    assert!(audit_intact(d));
}

fn time_in(seconds: i64) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + seconds;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[test]
fn keys_wrong_corrupt_rotated() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let a = people.portrait(4, 0);
    assert_eq!(enroll(d, "fay", &[&a], &[]).code, 0);
    let key_file = d.join("visage.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let before = std::fs::read_to_string(&key_file).unwrap();

    let foreign = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = visage_in(d, &["subjects"], &[("VISAGE_KEY", foreign)]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("does not open this store"), "{}", out.stderr);
    let out = visage_in(d, &["subjects"], &[("VISAGE_KEY", "not a key")]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("invalid key from VISAGE_KEY"), "{}", out.stderr);

    let out = visage_in(d, &["keys", "rotate"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), before);
    let v = identify(d, &a);
    assert_eq!(v["faces"][0]["match"], "fay", "templates re-encrypted, still found");
    assert!(audit_intact(d));

    std::fs::write(&key_file, "corrupted\n").unwrap();
    let out = visage_in(d, &["subjects"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("visage.key"), "{}", out.stderr);
}

#[test]
fn audit_verify_names_the_first_edited_entry() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    assert_eq!(enroll(d, "gus", &[&people.portrait(5, 0)], &[]).code, 0);
    assert_eq!(enroll(d, "hal", &[&people.portrait(5, 1)], &[]).code, 0);
    identify(d, &sample_photos()[5]);
    assert!(audit_intact(d));
    let db = rusqlite::Connection::open(d.join("visage.db")).unwrap();
    db.execute("UPDATE audit SET subject = 'someone-else' WHERE seq = 2", []).unwrap();
    let out = visage_in(d, &["audit", "verify"], &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("TAMPERED: entry 2"), "{}", out.stdout);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    assert_eq!(visage_in(d, &["subjects"], &[]).code, 0);
    rusqlite::Connection::open(d.join("visage.db")).unwrap().pragma_update(None, "user_version", 42).unwrap();
    let out = visage_in(d, &["subjects"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("newer visage"), "{}", out.stderr);
}

/// A batch file enrolling `n` subjects from the demo portraits (duplicates allowed: the same faces
/// repeat under different ids).
fn batch_file(people: &People, prefix: &str, n: usize) -> PathBuf {
    let portraits = [people.portrait(0, 0), people.portrait(0, 1), people.portrait(1, 0), people.portrait(2, 1)];
    let mut text = String::from("subject,name,purpose,evidence,image\n");
    for i in 0..n {
        text.push_str(&format!("{prefix}{i},Person {i},access,form-{i},{}\n", s(&portraits[i % portraits.len()])));
    }
    let path = people.dir.join(format!("{prefix}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

fn subjects(d: &Path) -> Vec<(String, u64)> {
    let out = visage_in(d, &["subjects", "--json"], &[]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["subject"]["id"].as_str().unwrap().to_string(), r["templates"].as_u64().unwrap()))
        .collect()
}

#[test]
fn sigkill_during_batch_enrolment_loses_nothing_reported() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let batch = batch_file(&people, "k", 60);
    let mut child = Sandbox::shared()
        .command(env!("CARGO_BIN_EXE_visage"))
        .args(["enroll", "--allow-duplicate", "--batch", s(&batch)])
        .env("VISAGE_DATA_DIR", d)
        .env_remove("VISAGE_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while reported.len() < 8 {
        let line = lines.next().expect("enrolments reported").unwrap();
        reported.push(line.split_whitespace().nth(1).unwrap().to_string());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let stored = subjects(d);
    assert!(stored.len() >= reported.len() && stored.len() < 60, "killed mid-batch: {} stored", stored.len());
    for r in &reported {
        assert!(stored.iter().any(|(id, _)| id == r), "{r} was reported enrolled but is missing");
    }
    assert!(stored.iter().all(|(_, n)| *n == 1), "no half-written subject: {stored:?}");
    assert!(audit_intact(d));
}

#[test]
fn two_processes_enrolling_at_once_keep_everything() {
    let people = People::new();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let a = batch_file(&people, "a", 12);
    let b = batch_file(&people, "b", 12);
    let spawn = |batch: &Path| {
        Sandbox::shared()
            .command(env!("CARGO_BIN_EXE_visage"))
            .args(["enroll", "--allow-duplicate", "--batch", s(batch)])
            .env("VISAGE_DATA_DIR", d)
            .env_remove("VISAGE_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn(&a), spawn(&b));
    for p in [pa, pb] {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let stored = subjects(d);
    assert_eq!(stored.len(), 24);
    assert!(audit_intact(d));
}

/// Defect 2 of the security review: a data dir others can enter is named in a warning (visage keeps
/// its mode: it may be shared on purpose) and the database in it is still created 0600.
#[cfg(unix)]
#[test]
fn an_open_data_dir_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = visage_in(data.path(), &["subjects", "--json"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("chmod 700"), "no warning: {}", out.stderr);
    let db = std::fs::metadata(data.path().join("visage.db")).unwrap();
    assert_eq!(db.permissions().mode() & 0o777, 0o600);
}
