//! `visage watch` as a user runs it, on scenes built with FFmpeg from the NUAA webcam videos in
//! ../shared/data/video-nuaa-train: person A (subject 0001), then B (0005), then A again; A beside B;
//! and a printed photo of A. A is enrolled from another session (antispoof-nuaa-dev, session 2).
//! Also: an unreadable source exits 2, a live source that drops reconnects (and one that never
//! comes back ends with an error), Ctrl-C ends every track, the webhook receives the decisions,
//! `--draw` writes the video, and the service's Server-Sent Events carry the same events as the CLI.
//! FFmpeg is installed with apt-get when missing (as the active-liveness test does); without the
//! data the tests skip with a message.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use visage_testkit::{models_home, path_str, run, shared_data, Run, USER_SETTINGS};

const A: &str = "nuaa-0001";

fn s(p: &Path) -> &str {
    path_str(p)
}

fn visage(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_HOME", models_home().root()).env("VISAGE_DATA_DIR", data);
    for name in USER_SETTINGS {
        cmd.env_remove(name);
    }
    cmd
}

/// FFmpeg, installed from Debian's package when missing; false (after a message) where impossible.
fn have_ffmpeg() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let works = || Command::new("ffmpeg").arg("-version").output().is_ok_and(|o| o.status.success());
        if works() {
            return true;
        }
        let installed = Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
            && Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "ffmpeg"])
                .status()
                .is_ok_and(|s| s.success());
        if !installed || !works() {
            eprintln!("SKIPPED: ffmpeg is not installed and `apt-get install ffmpeg` failed here");
            return false;
        }
        true
    })
}

/// The scenes and a gallery with A enrolled, built once for all tests.
struct Scenes {
    _dir: tempfile::TempDir,
    gallery: PathBuf,
    /// A, B, A: 124 + 120 + 124 frames at 10 frames/s.
    aba: PathBuf,
    /// Frame index where each segment of `aba` starts, and its end.
    bounds: [u64; 4],
    /// A (left) beside B (right), 1280x480.
    side: PathBuf,
    print: PathBuf,
}

fn scenes() -> Option<&'static Scenes> {
    static SCENES: OnceLock<Option<Scenes>> = OnceLock::new();
    SCENES.get_or_init(build_scenes).as_ref()
}

fn build_scenes() -> Option<Scenes> {
    let data = shared_data().filter(|d| d.join("video-nuaa-train/real-0001-s1.mp4").is_file());
    let Some(data) = data.filter(|d| d.join("antispoof-nuaa-dev/real").is_dir()) else {
        eprintln!("SKIPPED: ../shared/data/video-nuaa-train or antispoof-nuaa-dev not found");
        return None;
    };
    if !have_ffmpeg() {
        return None;
    }
    let videos = data.join("video-nuaa-train");
    let (a, b) = (videos.join("real-0001-s1.mp4"), videos.join("real-0005-s2.mp4"));
    let dir = tempfile::tempdir().unwrap();
    let aba = dir.path().join("aba.mp4");
    ffmpeg(&[&a, &b, &a], "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]", &aba);
    let side = dir.path().join("side.mp4");
    ffmpeg(&[&a, &b], "[0:v][1:v]hstack=inputs=2:shortest=1[v]", &side);
    let (na, nb) = (frame_count(&a), frame_count(&b));
    assert_eq!(frame_count(&aba), 2 * na + nb);
    let gallery = dir.path().join("gallery");
    enrol_a(&data, &gallery, &[]);
    Some(Scenes {
        gallery,
        aba,
        bounds: [0, na, na + nb, 2 * na + nb],
        side,
        print: videos.join("print-0001-s1.mp4"),
        _dir: dir,
    })
}

fn ffmpeg(inputs: &[&Path], filter: &str, out: &Path) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-loglevel", "error", "-nostdin", "-y"]);
    for i in inputs {
        cmd.arg("-i").arg(i);
    }
    cmd.args([
        "-filter_complex",
        filter,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
    ]);
    assert!(cmd.arg(out).status().unwrap().success(), "ffmpeg {filter}");
}

fn frame_count(video: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(video)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Enrols A from session 2 of the antispoof set (the videos are session 1): three frames.
fn enrol_a(data: &Path, gallery: &Path, extra: &[&str]) {
    let labels = std::fs::read_to_string(data.join("antispoof-nuaa-dev/labels.csv")).unwrap();
    let mut photos: Vec<PathBuf> = labels
        .lines()
        .filter(|l| l.contains(",real,none,0001,") && l.split(',').nth(6) == Some("02"))
        .map(|l| data.join("antispoof-nuaa-dev").join(l.split(',').next().unwrap()))
        .collect();
    photos.sort();
    let picked: Vec<&str> = photos.iter().step_by(photos.len() / 3).take(3).map(|p| s(p)).collect();
    // The frames show a second, small face in the background (ignored below 100 px). Enrolment
    // checks liveness: this live subject passes it.
    let mut args = vec!["enroll", "--subject", A, "--purpose", "door", "--evidence", "test", "--min-face-size", "100"];
    args.extend(picked);
    args.extend(extra);
    let r = run(visage(gallery), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn watch(scenes: &Scenes, source: &Path, extra: &[&str]) -> (Run, Vec<Value>) {
    watch_gallery(&scenes.gallery, source, extra)
}

fn watch_gallery(gallery: &Path, source: &Path, extra: &[&str]) -> (Run, Vec<Value>) {
    let mut args = vec!["watch", s(source), "--json"];
    args.extend(extra);
    let r = run(visage(gallery), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (r, events)
}

/// Per track: (first frame, last frame, subjects it was identified as, decisions it got).
fn tracks(events: &[Value]) -> Vec<(u64, u64, Vec<String>, Vec<String>)> {
    let mut ids: Vec<u64> = events.iter().map(|e| e["track"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    ids.iter()
        .map(|&id| {
            let mine: Vec<&Value> = events.iter().filter(|e| e["track"] == id).collect();
            let kind = |k: &str| mine.iter().find(|e| e["event"] == k).unwrap_or_else(|| panic!("track {id}: no {k}"));
            let start = kind("track_start")["frame"].as_u64().unwrap();
            let end = kind("track_end")["frame"].as_u64().unwrap();
            let subjects = mine
                .iter()
                .filter(|e| e["event"] == "identified")
                .map(|e| e["subject"].as_str().unwrap().to_string())
                .collect();
            let decisions = mine
                .iter()
                .filter(|e| ["identified", "unknown", "spoof"].contains(&e["event"].as_str().unwrap()))
                .map(|e| e["event"].as_str().unwrap().to_string())
                .collect();
            (start, end, subjects, decisions)
        })
        .collect()
}

#[test]
fn a_then_b_then_a_one_track_per_appearance_and_a_is_named_only_while_in_view() {
    let Some(sc) = scenes() else { return };
    let hook = Receiver::start();
    let drawn = sc._dir.path().join("drawn.mp4");
    let (r, events) = watch(sc, &sc.aba, &["--webhook", &hook.url, "--draw", s(&drawn)]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    for e in &events {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["bbox", "event", "frame", "liveness", "similarity", "subject", "t", "track"]);
        assert!((e["t"].as_f64().unwrap() - e["frame"].as_f64().unwrap() / 10.0).abs() < 1e-6, "{e}");
    }
    let b = &sc.bounds;
    let segment = |f: u64| (0..3).find(|&i| f >= b[i] && f < b[i + 1]).unwrap();
    // The videos also show a person far in the background (a face of about 60 px): their short
    // tracks are real but not the appearances counted here; they are never named A (checked below).
    let foreground: Vec<Value> = events
        .iter()
        .filter(|e| {
            let start = events.iter().find(|s| s["event"] == "track_start" && s["track"] == e["track"]).unwrap();
            start["bbox"][2].as_f64().unwrap() - start["bbox"][0].as_f64().unwrap() >= 100.0
        })
        .cloned()
        .collect();
    let tracks = tracks(&foreground);
    // One track per appearance: each track lies within one segment, and each segment has one track.
    for (start, end, ..) in &tracks {
        assert_eq!(segment(*start), segment(*end), "a track spans two appearances: {tracks:?}");
    }
    for seg in 0..3 {
        let here: Vec<_> = tracks.iter().filter(|t| segment(t.0) == seg).collect();
        assert_eq!(here.len(), 1, "segment {seg}: {tracks:?}");
        let (_, _, subjects, decisions) = here[0];
        // No identity switch: a track's decisions never change between people.
        if seg == 1 {
            assert!(subjects.is_empty() && decisions == &["unknown"], "B must be unknown: {decisions:?} {subjects:?}");
        } else {
            assert_eq!(decisions, &["identified"], "A's appearance {seg}: {decisions:?}");
            assert_eq!(subjects, &[A]);
        }
    }
    // No event names A while only B is in view.
    for e in &events {
        if e["subject"] == A {
            assert_ne!(segment(e["frame"].as_u64().unwrap()), 1, "A named while B is in view: {e}");
        }
    }
    // Identified within a second of the track's start (10 frames at 10 frames/s).
    for e in events.iter().filter(|e| e["event"] == "identified") {
        let start = events.iter().find(|s| s["event"] == "track_start" && s["track"] == e["track"]).unwrap();
        let delay = e["t"].as_f64().unwrap() - start["t"].as_f64().unwrap();
        assert!(delay <= 1.0, "identified {delay} s after the track started");
    }
    // The webhook got exactly the decisions; the drawn video has every frame.
    let decisions: Vec<&Value> =
        events.iter().filter(|e| e["event"] != "track_start" && e["event"] != "track_end").collect();
    let posted = hook.finish();
    assert_eq!(posted.iter().collect::<Vec<_>>(), decisions);
    assert_eq!(frame_count(&drawn), b[3]);
    // The audit log: one entry per decision per track, with the stream and track ids.
    let r = run(visage(&sc.gallery), &["audit", "show", "--action", "watch", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries: Value = serde_json::from_str(&r.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    let ours: Vec<&Value> = entries.iter().filter(|e| e["detail"]["frames"].is_number()).collect();
    assert!(ours.len() >= decisions.len(), "{entries:?}");
    // Other tests watch other scenes into the same gallery at the same time, so their entries may be
    // interleaved with these: each decision must have its entry, found by stream, track and frame.
    for event in &decisions {
        let found = ours.iter().any(|entry| {
            entry["detail"]["stream"] == "cli"
                && entry["detail"]["track"] == event["track"]
                && entry["detail"]["frame"] == event["frame"]
        });
        assert!(found, "no audit entry for the decision {event}: {ours:?}");
    }
}

#[test]
fn a_beside_b_gives_two_tracks_a_named_and_b_unknown() {
    let Some(sc) = scenes() else { return };
    let (r, events) = watch(sc, &sc.side, &["--detect-every", "3"]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    let tracks = tracks(&events);
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    for e in events.iter().filter(|e| e["event"] == "identified" || e["event"] == "unknown") {
        let centre = (e["bbox"][0].as_f64().unwrap() + e["bbox"][2].as_f64().unwrap()) / 2.0;
        if centre < 640.0 {
            assert_eq!((e["event"].as_str(), e["subject"].as_str()), (Some("identified"), Some(A)), "{e}");
        } else {
            assert_eq!(e["event"], "unknown", "{e}");
        }
    }
    let decided: Vec<_> = tracks.iter().map(|t| t.3.clone()).collect();
    assert!(decided.contains(&vec!["identified".to_string()]) && decided.contains(&vec!["unknown".to_string()]));
}

#[test]
fn a_gallery_of_sface_templates_is_watched_with_sface() {
    let Some(sc) = scenes() else { return };
    let data = shared_data().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("gallery");
    enrol_a(&data, &gallery, &["--recognizer", "sface"]);
    let (_, events) = watch_gallery(&gallery, &sc.side, &["--recognizer", "sface"]);
    let decisions: Vec<(&str, Option<&str>, bool)> = events
        .iter()
        .filter(|e| e["event"] == "identified" || e["event"] == "unknown")
        .map(|e| {
            let left = e["bbox"][0].as_f64().unwrap() + e["bbox"][2].as_f64().unwrap() < 1280.0;
            (e["event"].as_str().unwrap(), e["subject"].as_str(), left)
        })
        .collect();
    assert!(decisions.contains(&("identified", Some(A), true)), "{decisions:?}");
    assert!(decisions.contains(&("unknown", None, false)), "{decisions:?}");
    for &(event, subject, left) in &decisions {
        let expected = if left { ("identified", Some(A)) } else { ("unknown", None) };
        assert_eq!((event, subject), expected, "{decisions:?}");
    }
    // Watching with the default recogniser is refused: it could not compare with these templates.
    let mismatched = run(visage(&gallery), &["watch", s(&sc.side), "--json"]);
    assert_ne!(mismatched.code, 0, "{}", mismatched.stderr);
    assert!(mismatched.stderr.contains("--recognizer sface"), "{}", mismatched.stderr);
}

#[test]
fn a_printed_photo_is_refused_with_require_live() {
    let Some(sc) = scenes() else { return };
    let (r, events) = watch(sc, &sc.print, &["--require-live"]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    // Every print track is refused: its decision is `spoof`, it is never searched (no similarity, no
    // `identified` or `unknown`), and nothing names A.
    let tracks = tracks(&events);
    assert!(!tracks.is_empty(), "the print was tracked: {}", r.stdout);
    for (start, end, subjects, decisions) in &tracks {
        assert!(subjects.is_empty(), "a print track was identified: {}", r.stdout);
        assert!(
            decisions.iter().all(|d| d == "spoof"),
            "track {start}-{end} of the print was searched: {decisions:?}\n{}",
            r.stdout
        );
    }
    assert!(events.iter().any(|e| e["event"] == "spoof"), "{}", r.stdout);
    for e in &events {
        assert!(e["similarity"].is_null() && e["subject"].is_null(), "a print track is never searched: {e}");
    }
    for e in events.iter().filter(|e| e["event"] == "spoof") {
        assert!(e["liveness"].as_f64().unwrap() < 0.04, "{e}");
    }
    // The same video without --require-live is searched: the photo is of A.
    let (_, plain) = watch(sc, &sc.print, &[]);
    assert!(plain.iter().all(|e| e["event"] != "spoof"));
    assert!(plain.iter().any(|e| e["similarity"].is_number()), "searched without --require-live");
}

/// The live subject A with --require-live: each appearance is decided live and identified (the
/// liveness model fed BGR scores him as live; fed RGB it refused him, see docs/video.md).
#[test]
fn a_live_person_is_identified_with_require_live() {
    let Some(sc) = scenes() else { return };
    let (r, events) = watch(sc, &sc.aba, &["--require-live"]);
    eprintln!("{}\n{}", r.stdout, r.stderr);
    let b = &sc.bounds;
    let segment = |f: u64| (0..3).find(|&i| f >= b[i] && f < b[i + 1]).unwrap();
    for seg in 0..3 {
        let decisions: Vec<&Value> = events
            .iter()
            .filter(|e| ["identified", "unknown", "spoof"].contains(&e["event"].as_str().unwrap()))
            .filter(|e| segment(e["frame"].as_u64().unwrap()) == seg)
            .filter(|e| e["bbox"][2].as_f64().unwrap() - e["bbox"][0].as_f64().unwrap() >= 100.0)
            .collect();
        assert!(!decisions.is_empty(), "segment {seg} decided: {}", r.stdout);
        for d in decisions {
            let expected = if seg == 1 { "unknown" } else { "identified" };
            assert_eq!(d["event"], expected, "segment {seg}: {d}");
            assert!(d["liveness"].as_f64().unwrap() >= 0.5, "a live face: {d}");
        }
    }
}

#[test]
fn an_unreadable_source_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g");
    let missing = dir.path().join("none.mp4");
    let r = run(visage(&gallery), &["watch", s(&missing)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no such video source") && r.stderr.contains("none.mp4"), "{}", r.stderr);
    // Without FFmpeg on the PATH: one clear error naming the package.
    let note = dir.path().join("note.mp4");
    std::fs::write(&note, "not a video").unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let mut no_ffmpeg = visage(&gallery);
    no_ffmpeg.env("PATH", &empty);
    let r = run(no_ffmpeg, &["watch", s(&note)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("apt-get install ffmpeg"), "{}", r.stderr);
    if !have_ffmpeg() {
        return;
    }
    let r = run(visage(&gallery), &["watch", s(&note), "--json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read the video source") && r.stderr.contains("note.mp4"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let r = run(visage(&gallery), &["watch", "rtsp://127.0.0.1:9/none"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read the video source rtsp://127.0.0.1:9/none"), "{}", r.stderr);
}

#[test]
fn ctrl_c_ends_every_open_track() {
    let Some(sc) = scenes() else { return };
    let mut child = visage(&sc.gallery)
        .args(["watch", s(&sc.aba), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "track_start");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let rest: Vec<Value> = lines.map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C is a normal end");
    let mut all = vec![first];
    all.extend(rest);
    let started: Vec<&Value> = all.iter().filter(|e| e["event"] == "track_start").map(|e| &e["track"]).collect();
    let ended: Vec<&Value> = all.iter().filter(|e| e["event"] == "track_end").map(|e| &e["track"]).collect();
    assert_eq!(started, ended, "every open track ends: {all:?}");
    assert!(all.last().unwrap()["frame"].as_u64().unwrap() < sc.bounds[3] - 1, "stopped before the end");
}

#[test]
fn server_sent_events_carry_the_same_events_as_the_cli() {
    let Some(sc) = scenes() else { return };
    let (_, cli_events) = watch(sc, &sc.aba, &["--detect-every", "2"]);
    let Service { mut server, port, key } = Service::start(sc);
    let body = serde_json::json!({"source": s(&sc.aba), "detect_every": 2}).to_string();
    let (status, created) = http(port, "POST", "/v1/streams", &key, &body);
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_string();
    let (status, text) = http(port, "GET", &format!("/v1/streams/{id}/events"), &key, "");
    assert_eq!(status, 200, "{text}");
    let mut sse = Vec::new();
    let mut end = None;
    for block in text.split("\n\n") {
        let name = block.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim);
        let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
        match (name, data.is_empty()) {
            (Some("end"), false) => end = Some(serde_json::from_str::<Value>(&data).unwrap()),
            (Some(_), false) => sse.push(serde_json::from_str::<Value>(&data).unwrap()),
            _ => {}
        }
    }
    let (status, list) = http(port, "GET", "/v1/streams", &key, "");
    assert_eq!(status, 200);
    assert!(list.contains(&id), "{list}");
    let (status, _) = http(port, "DELETE", &format!("/v1/streams/{id}"), &key, "");
    assert_eq!(status, 200);
    let (status, _) = http(port, "GET", &format!("/v1/streams/{id}/events"), &key, "");
    assert_eq!(status, 404, "a deleted stream is gone");
    let (status, _) = http(port, "POST", "/v1/streams", &key, r#"{"source": "/nowhere/none.mp4"}"#);
    assert_eq!(status, 422);
    let _ = server.kill();
    let _ = server.wait();
    let end = end.expect("the event stream ends with an `end` event");
    assert_eq!(end["state"], "finished", "{end}");
    assert_eq!(sse.len(), cli_events.len(), "SSE:\n{sse:?}\nCLI:\n{cli_events:?}");
    for (a, b) in sse.iter().zip(&cli_events) {
        for k in ["event", "track", "frame", "subject", "bbox"] {
            assert_eq!(a[k], b[k], "{k}: {a} vs {b}");
        }
        for k in ["similarity", "liveness"] {
            let (x, y) = (a[k].as_f64(), b[k].as_f64());
            assert!(x.zip(y).is_none_or(|(x, y)| (x - y).abs() < 1e-3) && x.is_some() == y.is_some(), "{a} vs {b}");
        }
    }
}

/// `visage serve` on the scenes' gallery, with an admin key.
struct Service {
    server: std::process::Child,
    port: u16,
    key: String,
}

impl Service {
    fn start(sc: &Scenes) -> Service {
        let r = run(visage(&sc.gallery), &["keys", "create", "--scopes", "admin", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let key: Value = serde_json::from_str(&r.stdout).unwrap();
        let key = key["key"].as_str().unwrap().to_string();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = visage(&sc.gallery)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(port, "GET", "/healthz", "", "").0 != 200 {
            assert!(Instant::now() < deadline, "the service did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Service { server, port, key }
    }
}

/// The service shows a live stream that dropped as `reconnecting` while it is reopened, and as
/// `failed`, with the reason and the reconnection count, once `reconnect_for_seconds` pass without a
/// frame; a bad `reconnect_for_seconds` or `detect_every` is refused.
#[test]
fn the_service_lists_a_dropped_stream_as_reconnecting_then_failed() {
    let Some(sc) = scenes() else { return };
    let a = mpegts(sc, "real-0001-s1");
    // The probe, then a quarter of A in real time; then the server is gone.
    let source = FlakyServer::start(vec![(a.clone(), None), (a[..a.len() / 4].to_vec(), Some(a.len() as f64 / 12.5))]);
    let Service { mut server, port, key } = Service::start(sc);
    for bad in [r#""reconnect_for_seconds": 0"#, r#""reconnect_for_seconds": 1e9"#, r#""detect_every": 0"#] {
        let body = format!(r#"{{"source": "{}", {bad}}}"#, source.url);
        let (status, text) = http(port, "POST", "/v1/streams", &key, &body);
        assert_eq!(status, 400, "{bad}: {text}");
    }
    let body = serde_json::json!({"source": source.url, "reconnect_for_seconds": 4}).to_string();
    let (status, created) = http(port, "POST", "/v1/streams", &key, &body);
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_string();
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let last = loop {
        let (status, list) = http(port, "GET", "/v1/streams", &key, "");
        assert_eq!(status, 200, "{list}");
        let list: Value = serde_json::from_str(&list).unwrap();
        let stream = list.as_array().unwrap().iter().find(|s| s["id"] == id.as_str()).cloned().unwrap();
        let state = stream["state"].as_str().unwrap().to_string();
        if states.last() != Some(&state) {
            states.push(state.clone());
        }
        if state == "failed" || state == "finished" {
            break stream;
        }
        assert!(Instant::now() < deadline, "the stream never ended: {states:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(source.finish(), 2, "the probe and one connection were served");
    assert_eq!(states, ["running", "reconnecting", "failed"], "{last}");
    assert!(last["error"].as_str().unwrap().contains("giving up"), "{last}");
    assert!(last["reconnects"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["summary"]["frames"].as_u64().unwrap() > 0, "{last}");
}

/// A live source that drops: a loopback HTTP server plays A as MPEG-TS at its real rate and closes
/// the connection half-way; `visage watch` reconnects and the server then plays B (so events after
/// the drop are recognisably new), and then stops listening for good: the watch gives up after
/// `--reconnect-for` with a clear error (exit 2) instead of waiting forever, every track ended.
#[test]
fn a_live_source_that_drops_reconnects_and_one_that_never_returns_ends_with_an_error() {
    let Some(sc) = scenes() else { return };
    let (a, b) = (mpegts(sc, "real-0001-s1"), mpegts(sc, "real-0005-s2"));
    // Connection 1 is ffprobe's probe (at full speed); 2 plays the first half of A in real time and
    // drops; 3 plays B in real time and ends; then the server is gone.
    let half = a[..a.len() / 2].to_vec();
    let server = FlakyServer::start(vec![
        (a.clone(), None),
        (half, Some(a.len() as f64 / 12.5)),
        (b.clone(), Some(b.len() as f64 / 12.1)),
    ]);
    let started = Instant::now();
    let mut cmd = visage(&sc.gallery);
    cmd.args(["watch", &server.url, "--json", "--reconnect-for", "2s"]);
    let r = run(cmd, &[]);
    let served = server.finish();
    eprintln!("{}\n{}", r.stdout, r.stderr);
    assert_eq!(served, 3, "the server saw the probe, the first connection and one reconnection");
    assert!(started.elapsed() < Duration::from_secs(180), "a source that never returns must not hang the watch");
    assert_eq!(r.code, 2, "giving up is an error: {}", r.stderr);
    assert!(
        r.stderr.contains("giving up (the limit is 2s") && r.stderr.contains("the live source dropped"),
        "{}",
        r.stderr
    );
    // The summary counts the reconnections: the one that worked and the attempts after the end.
    let reconnects: u64 = r
        .stderr
        .split(" reconnects")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reconnect count in: {}", r.stderr));
    assert!(reconnects >= 2, "{}", r.stderr);
    let events: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Before the drop, A is identified; after it, B is seen (only the second connection shows B) and
    // decided unknown: the events went on after the reconnection.
    let first = |kind: &str| events.iter().position(|e| e["event"] == kind);
    let identified = first("identified").unwrap_or_else(|| panic!("A identified before the drop: {}", r.stdout));
    assert_eq!(events[identified]["subject"], A);
    let unknown = first("unknown").unwrap_or_else(|| panic!("B decided after the reconnection: {}", r.stdout));
    assert!(unknown > identified);
    assert!(events[unknown]["frame"].as_u64() > events[identified]["frame"].as_u64());
    let started: Vec<&Value> = events.iter().filter(|e| e["event"] == "track_start").map(|e| &e["track"]).collect();
    let ended: Vec<&Value> = events.iter().filter(|e| e["event"] == "track_end").map(|e| &e["track"]).collect();
    assert_eq!(started, ended, "every track ends when the watch gives up");
}

/// The bytes of `video-nuaa-train/NAME.mp4` remuxed as MPEG-TS, the format a live HTTP source sends.
fn mpegts(sc: &Scenes, name: &str) -> Vec<u8> {
    let out = sc._dir.path().join(format!("{name}.ts"));
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(shared_data().unwrap().join("video-nuaa-train").join(format!("{name}.mp4")))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// A loopback HTTP server that answers one connection per part, in order: the part's bytes as
/// `video/mp2t`, paced at the given bytes per second (or at full speed), then closes the connection.
/// After the last part it stops listening, so later connections are refused.
struct FlakyServer {
    url: String,
    handle: std::thread::JoinHandle<usize>,
}

impl FlakyServer {
    fn start(parts: Vec<(Vec<u8>, Option<f64>)>) -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/live.ts", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            for (bytes, rate) in parts {
                let mut s = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                        Err(_) => return served,
                    }
                };
                s.set_nonblocking(false).unwrap();
                served += 1;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n";
                if s.write_all(answer).is_err() {
                    continue;
                }
                let chunk = rate.map_or(bytes.len(), |r| (r / 20.0) as usize).max(188);
                for piece in bytes.chunks(chunk) {
                    if s.write_all(piece).is_err() {
                        break;
                    }
                    if rate.is_some() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            served
        });
        FlakyServer { url, handle }
    }

    /// Connections served.
    fn finish(self) -> usize {
        self.handle.join().unwrap()
    }
}

/// A minimal HTTP/1.1 exchange (the whole answer, to the end of the connection): status and body,
/// with a chunked body joined.
fn http(port: u16, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !key.is_empty() {
        head.push_str(&format!("Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (headers, raw) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        unchunk(raw)
    } else {
        raw.to_string()
    };
    (status, body)
}

fn unchunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        raw = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A loopback webhook receiver that answers 200 and keeps the JSON bodies.
struct Receiver {
    url: String,
    handle: std::thread::JoinHandle<Vec<Value>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                bodies.push(read_request_body(&mut s));
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            }
            bodies
        });
        Receiver { url, handle, stop }
    }

    /// Stops and returns the bodies received (the CLI delivers its webhook queue before exiting).
    fn finish(self) -> Vec<Value> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

fn read_request_body(s: &mut TcpStream) -> Value {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return serde_json::from_str(&body[..length]).unwrap();
            }
        }
        if n == 0 {
            panic!("truncated request: {text}");
        }
    }
}
