//! The `visage` commands on a PostgreSQL + pgvector gallery (`--store postgres://...`), and
//! `visage store migrate` from the embedded SQLite store, on real photos.

use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{path_str, postgres_server, run, sample_photos, Run, Sandbox};

/// Runs `visage` with the key in `data`; `store` (if any) as VISAGE_STORE.
fn visage(data: &Path, store: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_DATA_DIR", data)
        .env_remove("VISAGE_KEY")
        .env_remove("VISAGE_PG_TEMPLATES")
        .env_remove("VISAGE_BACKEND");
    match store {
        Some(s) => cmd.env("VISAGE_STORE", s),
        None => cmd.env_remove("VISAGE_STORE"),
    };
    run(cmd, args)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

/// A crop around one face of a demo photo, located with `visage detect`.
fn portrait(dir: &Path, photo: usize, face: usize) -> PathBuf {
    let data = tempfile::tempdir().unwrap();
    let det = visage(data.path(), None, &["detect", "--json", s(&sample_photos()[photo])]);
    let v: Value = serde_json::from_str(det.stdout.trim()).unwrap();
    let b: Vec<f64> = serde_json::from_value(v["faces"][face]["bbox"].clone()).unwrap();
    let img = image::open(&sample_photos()[photo]).unwrap().to_rgb8();
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let x = (b[0] - w * 0.7).max(0.0) as u32;
    let y = (b[1] - h * 0.7).max(0.0) as u32;
    let cw = ((w * 2.4) as u32).min(img.width() - x);
    let ch = ((h * 2.4) as u32).min(img.height() - y);
    let out = dir.join(format!("p{photo}-{face}.jpg"));
    image::imageops::crop_imm(&img, x, y, cw, ch).to_image().save(&out).unwrap();
    out
}

fn matches(data: &Path, store: Option<&str>, image: &Path) -> Vec<Option<String>> {
    let out = visage(data, store, &["identify", "--json", s(image)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let mut names: Vec<Option<String>> =
        v["faces"].as_array().unwrap().iter().map(|f| f["match"].as_str().map(str::to_string)).collect();
    names.sort();
    names
}

fn audit_intact(data: &Path, store: Option<&str>) -> bool {
    let out = visage(data, store, &["audit", "verify", "--json"]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(out.code == 0, v["intact"] == true);
    v["intact"] == true
}

#[test]
fn commands_on_postgres_and_migration_from_sqlite() {
    let photos = tempfile::tempdir().unwrap();
    let (a, b) = (portrait(photos.path(), 3, 0), portrait(photos.path(), 3, 1));
    let group = &sample_photos()[3];
    // 1. A SQLite gallery, as a user has it today.
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let enrol = |store: Option<&str>, who: &str, img: &Path| {
        let out = visage(d, store, &["enroll", "--subject", who, "--purpose", "door", "--evidence", "f-1", s(img)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    enrol(None, "ann", &a);
    let key = visage(d, None, &["keys", "create", "--scopes", "identify", "--json"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    assert_eq!(matches(d, None, group), [None, None, None, Some("ann".into())]);

    // 2. Migrate it into PostgreSQL: counts and chain checked by the command.
    let url = postgres_server().create_database("cli");
    let out = visage(d, None, &["store", "migrate", "--from", &format!("sqlite:{}", s(d)), "--to", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["copied"]["subjects"], 1);
    assert_eq!(report["copied"]["templates"], 1);
    assert_eq!(report["copied"]["api_keys"], 1);
    assert_eq!(report["audit_chain"], "intact");
    // Into a non-empty database: refused.
    let again = visage(d, None, &["store", "migrate", "--from", &format!("sqlite:{}", s(d)), "--to", &url]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);

    // 3. The same commands on PostgreSQL.
    let pg = Some(url.as_str());
    enrol(pg, "bea", &b);
    assert_eq!(matches(d, pg, group), [None, None, Some("ann".into()), Some("bea".into())]);
    let subjects = visage(d, pg, &["subjects", "--json"]);
    assert_eq!(subjects.code, 0, "{}", subjects.stderr);
    assert!(subjects.stdout.contains("\"ann\"") && subjects.stdout.contains("\"bea\""), "{}", subjects.stdout);
    let export = visage(d, pg, &["export", "ann"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert!(export.stdout.contains("\"enroll\""));
    assert_eq!(visage(d, pg, &["consent", "revoke", "bea"]).code, 0);
    assert_eq!(visage(d, pg, &["delete", "ann"]).code, 0);
    assert_eq!(matches(d, pg, group), [None, None, None, None], "erased and revoked: nobody is identified");
    assert!(audit_intact(d, pg));
    // The SQLite gallery is untouched by all this.
    assert_eq!(matches(d, None, group), [None, None, None, Some("ann".into())]);
    assert!(audit_intact(d, None));

    // A wrong URL is a clear error, not a panic.
    let bad = visage(d, Some("postgres://postgres@127.0.0.1:1/nothing"), &["subjects"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("PostgreSQL"), "{}", bad.stderr);
}

/// `visage store bench` on both backends, small: the gallery is filled (bulk import with consent,
/// then single enrolments), the audit chain stays intact, searches find the exact best subject, and a
/// gallery that is not empty is refused.
#[test]
fn store_bench_fills_and_searches_both_backends() {
    let url = postgres_server().create_database("bench");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", s(&dir.path().join("g")));
    for store in [sqlite.as_str(), url.as_str()] {
        let args = ["store", "bench", "--size", "3000", "--queries", "40", "--enrolments", "20"];
        let out = visage(dir.path(), Some(store), &args);
        assert_eq!(out.code, 0, "{store}: {}", out.stderr);
        let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(v["size"], 3000);
        assert_eq!(v["queries"], 40);
        assert!(v["enrolments_per_s"].as_f64().unwrap() > 0.0);
        // Every query is a noisy copy of one gallery vector; at this size both searches are exact.
        assert!(v["recall_at_1_vs_exact"].as_f64().unwrap() >= 0.95, "{store}: {v}");
        // Every subject holds a consent, so the purge at start-up keeps them all.
        let subjects = visage(dir.path(), Some(store), &["subjects", "--json"]);
        assert_eq!(subjects.code, 0, "{}", subjects.stderr);
        let listed: Value = serde_json::from_str(subjects.stdout.trim()).unwrap();
        assert_eq!(listed.as_array().map(Vec::len), Some(3000), "{store}");
        assert!(audit_intact(dir.path(), Some(store)), "{store}");
        let again = visage(dir.path(), Some(store), &args);
        assert_ne!(again.code, 0);
        assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    }
}
