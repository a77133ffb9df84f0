//! `visage library` as a user runs it, on real LFW photos: scan (incremental, resumable after a kill,
//! bad files), cluster, corrections that survive rescans and reclustering, search, export, enrol,
//! forget. Skipped with a message when ../shared/data/lfw is absent.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use visage_testkit::{lfw_dir, models_home, path_str, run, Run, USER_SETTINGS};

/// A scratch library: its own data dir, library file and caches.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    fn photos(&self) -> PathBuf {
        self.dir.path().join("photos")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data/library.db")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_visage"));
        cmd.env("VISAGE_HOME", models_home().root())
            .env("VISAGE_DATA_DIR", self.dir.path().join("data"))
            .env("VISAGE_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("VISAGE_LIBRARY");
        for name in USER_SETTINGS {
            cmd.env_remove(name);
        }
        cmd
    }

    fn visage(&self, args: &[&str]) -> Run {
        run(self.command(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.visage(args);
        assert_eq!(out.code, 0, "{args:?} failed:\n{}{}", out.stdout, out.stderr);
        out.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(self.ok(args).trim()).unwrap()
    }

    /// Copies images `from..to` of an LFW person into `photos/<name>/`.
    fn add_lfw(&self, lfw: &Path, name: &str, from: usize, to: usize) -> Vec<PathBuf> {
        let dir = self.photos().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        (from..to)
            .map(|i| {
                let file = format!("{name}_{:04}.jpg", i + 1);
                let target = dir.join(&file);
                std::fs::copy(lfw.join("lfw-deepfunneled").join(name).join(&file), &target).unwrap();
                target
            })
            .collect()
    }

    /// `person id -> the LFW names of its faces`.
    fn people_names(&self) -> HashMap<i64, Vec<String>> {
        let people = self.json(&["library", "people", "--json"]);
        let mut out = HashMap::new();
        for p in people["people"].as_array().unwrap() {
            let id = p["person"].as_i64().unwrap();
            let faces = self.json(&["library", "faces", &id.to_string(), "--json"]);
            let names =
                faces["faces"].as_array().unwrap().iter().map(|f| folder(f["image"].as_str().unwrap())).collect();
            out.insert(id, names);
        }
        out
    }

    fn faces_of(&self, person: i64) -> Vec<Value> {
        self.json(&["library", "faces", &person.to_string(), "--json"])["faces"].as_array().unwrap().clone()
    }
}

fn folder(image: &str) -> String {
    Path::new(image).parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()
}

/// The person most of whose faces come from `name`'s folder.
fn person_of(people: &HashMap<i64, Vec<String>>, name: &str) -> i64 {
    *people.iter().max_by_key(|(_, names)| names.iter().filter(|n| *n == name).count()).unwrap().0
}

fn scan_summary(out: &str) -> Value {
    let last = out.lines().last().expect("a summary line");
    serde_json::from_str::<Value>(last).unwrap()["summary"].clone()
}

const PEOPLE: [&str; 3] = ["George_W_Bush", "Colin_Powell", "Tony_Blair"];

#[test]
fn people_are_found_and_corrections_survive_rescans_and_reclustering() {
    let Some(lfw) = lfw_dir() else { return };
    let s = Scratch::new();
    for name in PEOPLE {
        s.add_lfw(&lfw, name, 0, 5);
    }
    let photos = s.photos();
    let first = scan_summary(&s.ok(&["library", "scan", "--json", path_str(&photos)]));
    assert_eq!(first["added"], 15, "{first}");
    assert!(!s.dir.path().join("data/visage.db").exists(), "scanning touched the consent gallery");
    s.ok(&["library", "cluster"]);
    let people = s.people_names();
    for name in PEOPLE {
        let p = person_of(&people, name);
        let own = people[&p].iter().filter(|n| *n == name).count();
        assert!(own >= 4, "{name}: only {own} of 5 faces in one person: {people:?}");
        assert!(people[&p].iter().all(|n| n == name), "person {p} mixes people: {:?}", people[&p]);
    }
    let (bush, powell, blair) =
        (person_of(&people, PEOPLE[0]), person_of(&people, PEOPLE[1]), person_of(&people, PEOPLE[2]));

    // Corrections: a name, a (deliberately wrong) move, and "not this person".
    s.ok(&["library", "name", &bush.to_string(), "George"]);
    let moved = s.faces_of(powell)[0]["face"].as_i64().unwrap();
    s.ok(&["library", "move", &moved.to_string(), &bush.to_string()]);
    let rejected = s.faces_of(blair)[0]["face"].as_i64().unwrap();
    s.ok(&["library", "not-person", &rejected.to_string(), &blair.to_string()]);
    assert!(s.faces_of(blair).iter().all(|f| f["face"] != rejected));

    // New photos: only they are read; they join the existing people without renumbering.
    for name in PEOPLE {
        s.add_lfw(&lfw, name, 5, 7);
    }
    let second = scan_summary(&s.ok(&["library", "scan", "--json", path_str(&photos)]));
    assert_eq!((second["added"].as_u64(), second["unchanged"].as_u64()), (Some(6), Some(15)), "{second}");
    s.ok(&["library", "cluster"]);
    let people = s.people_names();
    assert_eq!(people[&bush].iter().filter(|n| *n == PEOPLE[0]).count(), 7, "{people:?}");
    assert!(people[&powell].iter().filter(|n| *n == PEOPLE[1]).count() >= 5, "{people:?}");

    // Everything regrouped from scratch: the corrections still hold.
    s.ok(&["library", "cluster", "--full"]);
    let check = |when: &str| {
        let bush_faces: Vec<i64> = s.faces_of(bush).iter().map(|f| f["face"].as_i64().unwrap()).collect();
        assert!(bush_faces.contains(&moved), "{when}: the moved face left person {bush}");
        assert!(s.faces_of(blair).iter().all(|f| f["face"] != rejected), "{when}: the rejected face is back");
        let listed = s.json(&["library", "people", "--json"]);
        let named = listed["people"].as_array().unwrap().iter().find(|p| p["person"] == bush).unwrap().clone();
        assert_eq!(named["name"], "George", "{when}");
        assert!(named["cover"]["image"].is_string() && named["cover"]["bbox"].as_array().unwrap().len() == 4);
    };
    check("after cluster --full");
    std::fs::write(photos.join("George_W_Bush/George_W_Bush_0001.jpg"), b"edited away").unwrap();
    s.ok(&["library", "scan", path_str(&photos)]);
    s.ok(&["library", "cluster", "--full"]);
    check("after a rescan and cluster --full");

    // Search with a photo the library has not seen.
    let query = lfw.join("lfw-deepfunneled/George_W_Bush/George_W_Bush_0100.jpg");
    let found = s.json(&["library", "search", "--json", path_str(&query)]);
    let result = &found["faces"][0]["result"];
    assert_eq!(result["person"], bush, "{found}");
    let photos_found: Vec<String> =
        result["photos"].as_array().unwrap().iter().map(|p| folder(p["image"].as_str().unwrap())).collect();
    assert!(photos_found.iter().filter(|n| *n == PEOPLE[0]).count() >= 5, "{photos_found:?}");
}

#[test]
fn a_killed_scan_resumes_without_losing_or_repeating_anything() {
    let Some(lfw) = lfw_dir() else { return };
    let s = Scratch::new();
    s.add_lfw(&lfw, "Colin_Powell", 0, 40);
    let mut child = s
        .command()
        .args(["library", "scan", "--json", "--workers", "2", path_str(&s.photos())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        reported.push(v["image"].as_str().unwrap().to_string());
        if reported.len() == 8 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    assert_eq!(reported.len(), 8, "the scan ended before it could be killed");

    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let stored: HashSet<String> = conn
        .prepare("SELECT path FROM images")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(stored.len() < 40, "the scan finished before the kill");
    for image in &reported {
        assert!(stored.contains(image), "{image} was reported but is not in the library");
    }
    drop(conn);

    let out = s.ok(&["library", "scan", "--json", path_str(&s.photos())]);
    let summary = scan_summary(&out);
    assert_eq!(summary["files"], 40);
    assert_eq!(summary["unchanged"].as_u64().unwrap() as usize, stored.len(), "{summary}");
    assert_eq!(summary["added"].as_u64().unwrap() as usize, 40 - stored.len(), "{summary}");

    // Same faces as a scan that was never interrupted.
    let clean = Scratch::new();
    let clean_summary = scan_summary(&clean.ok(&["library", "scan", "--json", path_str(&s.photos())]));
    let faces = |db: &Path| -> i64 {
        rusqlite::Connection::open(db).unwrap().query_row("SELECT COUNT(*) FROM faces", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(faces(&s.db()), faces(&clean.db()));
    assert_eq!(clean_summary["added"], 40);
}

#[test]
fn bad_files_are_reported_skipped_and_never_fatal() {
    let Some(lfw) = lfw_dir() else { return };
    let s = Scratch::new();
    let good = s.add_lfw(&lfw, "Tony_Blair", 0, 1);
    let dir = s.photos().join("Tony_Blair");
    let bytes = std::fs::read(&good[0]).unwrap();
    std::fs::write(dir.join("truncated.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(dir.join("text.jpg"), b"this is not a photo").unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"ignored: not an image name").unwrap();
    let out = s.visage(&["library", "scan", "--json", path_str(&s.photos())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary = scan_summary(&out.stdout);
    assert_eq!(summary["added"], 1, "{summary}");
    assert_eq!(summary["bad"].as_array().unwrap().len(), 3, "{summary}");
    for name in ["truncated.jpg", "text.jpg", "empty.png"] {
        assert!(out.stderr.contains(name), "{name} not reported:\n{}", out.stderr);
    }
    // Reported once: a rescan skips them until they change.
    let again = scan_summary(&s.ok(&["library", "scan", "--json", path_str(&s.photos())]));
    assert_eq!((again["unchanged"].as_u64(), again["bad"].as_array().unwrap().len()), (Some(4), 0));
    // A missing folder is a clear error.
    let missing = s.visage(&["library", "scan", path_str(&s.dir.path().join("nowhere"))]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nowhere"), "{}", missing.stderr);
}

#[test]
fn a_library_scanned_with_sface_groups_and_searches_with_it_and_refuses_another_recogniser() {
    let Some(lfw) = lfw_dir() else { return };
    let s = Scratch::new();
    s.add_lfw(&lfw, "Tony_Blair", 0, 3);
    s.add_lfw(&lfw, "Colin_Powell", 0, 3);
    let photos = path_str(&s.photos()).to_string();
    let summary = scan_summary(&s.ok(&["library", "scan", "--json", "--recognizer", "sface", &photos]));
    assert_eq!(summary["added"], 6, "{summary}");
    s.ok(&["library", "cluster"]);
    // Each person is one of the two (a Blair photo shows a second, unrelated face: a person of its own).
    let people = s.people_names();
    assert!(people.values().all(|names| names.iter().all(|n| *n == names[0])), "{people:?}");
    for name in ["Tony_Blair", "Colin_Powell"] {
        assert_eq!(people[&person_of(&people, name)].len(), 3, "{name}: {people:?}");
    }
    let probe = lfw.join("lfw-deepfunneled/Tony_Blair/Tony_Blair_0010.jpg");
    let found = s.json(&["library", "search", "--json", "--recognizer", "sface", path_str(&probe)]);
    let text = found.to_string();
    assert!(text.contains("Tony_Blair_0001.jpg") && !text.contains("Colin_Powell_0001.jpg"), "{found}");
    for args in [vec!["library", "scan", photos.as_str()], vec!["library", "search", path_str(&probe)]] {
        let refused = s.visage(&args);
        assert_ne!(refused.code, 0, "{args:?}");
        assert!(refused.stderr.contains("pass --recognizer sface"), "{}", refused.stderr);
    }
}

#[test]
fn enrol_promotes_a_person_with_consent_and_forget_erases() {
    let Some(lfw) = lfw_dir() else { return };
    let s = Scratch::new();
    s.add_lfw(&lfw, "Gerhard_Schroeder", 0, 4);
    s.add_lfw(&lfw, "Ariel_Sharon", 0, 3);
    s.ok(&["library", "scan", path_str(&s.photos())]);
    s.ok(&["library", "cluster"]);
    let people = s.people_names();
    let gerhard = person_of(&people, "Gerhard_Schroeder");
    let sharon = person_of(&people, "Ariel_Sharon");
    assert!(!s.dir.path().join("data/visage.db").exists(), "the library wrote to the gallery");

    let no_consent = s.visage(&["library", "enroll", &gerhard.to_string(), "--subject", "gerhard"]);
    assert_eq!(no_consent.code, 2, "enrolment without consent details was accepted");
    let out = s.json(&[
        "library",
        "enroll",
        &gerhard.to_string(),
        "--subject",
        "gerhard",
        "--purpose",
        "photos",
        "--evidence",
        "form-1",
        "--max-faces",
        "2",
        "--json",
    ]);
    assert_eq!(out["subject"], "gerhard");
    assert_eq!(out["templates"].as_array().unwrap().len(), 2);
    let subjects = s.ok(&["subjects", "--json"]);
    assert!(subjects.contains("gerhard"), "{subjects}");
    let identified = s.json(&[
        "identify",
        "--json",
        path_str(&lfw.join("lfw-deepfunneled/Gerhard_Schroeder/Gerhard_Schroeder_0050.jpg")),
    ]);
    assert!(identified.to_string().contains("gerhard"), "{identified}");

    // Export, then forget one person: their faces and thumbnails go, and a rescan does not bring them back.
    let html = s.dir.path().join("export");
    s.ok(&["library", "export", "--html", path_str(&html)]);
    let sharon_thumbs: Vec<PathBuf> =
        s.faces_of(sharon).iter().map(|f| html.join(format!("thumbs/face-{}.jpg", f["face"]))).collect();
    assert!(sharon_thumbs.iter().all(|t| t.is_file()));
    s.ok(&["library", "forget", &sharon.to_string()]);
    assert!(sharon_thumbs.iter().all(|t| !t.exists()));
    s.ok(&["library", "scan", path_str(&s.photos())]);
    s.ok(&["library", "cluster"]);
    assert!(s.people_names().values().flatten().all(|n| n != "Ariel_Sharon"));

    // Forget everything: the database and every file the export wrote.
    s.ok(&["library", "forget"]);
    assert!(!s.db().exists());
    assert!(!html.join("index.html").exists() && !html.join("thumbs").exists());
    let gone = s.visage(&["library", "people"]);
    assert_eq!(gone.code, 2);
    assert!(gone.stderr.contains("no library"), "{}", gone.stderr);
    // The gallery is untouched by forgetting the library.
    assert!(s.ok(&["subjects", "--json"]).contains("gerhard"));
}

#[test]
fn the_exported_page_shows_every_thumbnail_in_headless_chromium() {
    let Some(lfw) = lfw_dir() else { return };
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        let apt = |args: &[&str]| assert!(Command::new("apt-get").args(args).status().unwrap().success());
        apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", "chromium"]);
    }
    let s = Scratch::new();
    let originals = [s.add_lfw(&lfw, "Donald_Rumsfeld", 0, 3), s.add_lfw(&lfw, "Ariel_Sharon", 0, 3)].concat();
    s.ok(&["library", "scan", path_str(&s.photos())]);
    s.ok(&["library", "cluster"]);
    let sharon = person_of(&s.people_names(), "Ariel_Sharon");
    s.ok(&["library", "name", &sharon.to_string(), "Ariel <Sharon>"]);
    let html = s.dir.path().join("page");
    let report = s.json(&["library", "export", "--html", path_str(&html), "--json"]);
    let thumbnails = report["thumbnails"].as_u64().unwrap();
    assert!(thumbnails >= 6, "{report}");

    // Originals are never copied: only index.html and small thumbnails.
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(html.join("thumbs")).unwrap() {
        let path = entry.unwrap().path();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (112, 112));
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    assert_eq!(sizes.len() as u64, thumbnails);
    let original_sizes: Vec<u64> = originals.iter().map(|p| std::fs::metadata(p).unwrap().len()).collect();
    assert!(sizes.iter().all(|s| !original_sizes.contains(s)));

    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(page.contains("Ariel &lt;Sharon&gt;"), "the name is not escaped");
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("library-export.png");
    let url = format!("file://{}", html.join("index.html").display());
    let browser = |extra: &[&str]| {
        Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,700"])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let dom = String::from_utf8_lossy(&browser(&["--dump-dom"]).stdout).into_owned();
    assert_eq!(dom.matches("<img").count() as u64, thumbnails, "{dom}");
    browser(&[&format!("--screenshot={}", shot.display())]);
    let screenshot = image::open(&shot).expect("chromium wrote a screenshot").to_rgb8();
    // Rendered photos are coloured; text, the background and broken-image icons are grey.
    let coloured = screenshot
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0.map(i32::from);
            (r - g).abs().max((g - b).abs()).max((r - b).abs()) > 12
        })
        .count() as u64;
    assert!(coloured > thumbnails * 112 * 112 / 3, "only {coloured} coloured pixels in {}", shot.display());
}
