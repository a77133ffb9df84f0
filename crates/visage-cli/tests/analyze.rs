//! `visage analyze`, `visage liveness` (active) and `visage eval liveness` as a user runs them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use visage_testkit::{lfw_dir, path_str, run, sample_photos, shared_data, Run, Sandbox};

fn visage(args: &[&str]) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

#[test]
fn analyze_json_has_exactly_the_documented_keys_and_draws() {
    let out_png = tempfile::NamedTempFile::with_suffix(".png").unwrap();
    let photo = &sample_photos()[0];
    let r = visage(&["analyze", s(photo), "--json", "--draw", s(out_png.path())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    let mut keys: Vec<&str> = faces[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["age", "bbox", "expression", "eyes", "gender", "landmarks", "liveness", "pose", "quality"]);
    for f in faces {
        let live = &f["liveness"];
        assert!(live["score"].as_f64().unwrap() >= 0.0 && live["live"].is_boolean());
        assert!(["female", "male", "uncertain"].contains(&f["gender"]["label"].as_str().unwrap()));
        let age = f["age"].as_f64().unwrap();
        assert!((10.0..80.0).contains(&age), "age {age}");
        for k in ["yaw", "pitch", "roll"] {
            assert!(f["pose"][k].as_f64().unwrap().abs() <= 99.0);
        }
        assert!(f["expression"]["label"].is_string() && f["eyes"]["left_open"].is_boolean());
        assert!(f["quality"]["ok"].is_boolean() && f["quality"]["reasons"].is_array());
        // The demo photos are live people: every face passes passive liveness.
        assert!(live["live"].as_bool().unwrap(), "{f}");
    }
    let drawn = image::open(out_png.path()).unwrap();
    assert_eq!(drawn.width(), 1920);
}

#[test]
fn analyze_names_bad_files_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("note.jpg");
    std::fs::write(&text, "not an image").unwrap();
    let missing = dir.path().join("missing.png");
    let r = visage(&["analyze", s(&text), s(&missing), s(&sample_photos()[1]), "--json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("note.jpg") && r.stderr.contains("missing.png"), "{}", r.stderr);
    let lines: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["error"].is_string() && lines[1]["error"].is_string());
    assert_eq!(lines[2]["faces"].as_array().unwrap().len(), 3);
}

/// Frames made from real LFW photos of one person: a near-frontal one, a photo where the head is
/// turned, and that photo mirrored (turned the other way). They show turns, not a blink.
fn turn_sequence(dir: &Path) -> Option<()> {
    let lfw = lfw_dir()?;
    let person = lfw.join("lfw-deepfunneled/George_W_Bush");
    let mut files: Vec<PathBuf> = std::fs::read_dir(person).ok()?.map(|e| e.unwrap().path()).collect();
    files.sort();
    let yaw = |p: &Path| -> f64 {
        let r = visage(&["analyze", s(p), "--json"]);
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        v["faces"].as_array().unwrap().iter().map(|f| f["pose"]["yaw"].as_f64().unwrap()).next().unwrap_or(0.0)
    };
    let mut frontal = None;
    let mut turned = None;
    for f in files.iter().take(40) {
        let y = yaw(f);
        if frontal.is_none() && y.abs() < 4.0 {
            frontal = Some(f.clone());
        }
        if turned.is_none() && y > 20.0 {
            turned = Some(f.clone());
        }
    }
    let (frontal, turned) = (frontal?, turned?);
    std::fs::copy(&frontal, dir.join("0-frontal.jpg")).unwrap();
    // Turned towards the image's left (positive yaw) is the person's right; mirrored, their left.
    let img = image::open(&turned).unwrap();
    img.fliph().save(dir.join("1-left.png")).unwrap();
    std::fs::copy(&turned, dir.join("2-right.jpg")).unwrap();
    Some(())
}

#[test]
fn active_liveness_follows_turns_in_order_on_real_photos() {
    let dir = tempfile::tempdir().unwrap();
    if turn_sequence(dir.path()).is_none() {
        eprintln!("SKIPPED: LFW not found or no suitable frames");
        return;
    }
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "turn-left,turn-right", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["passed"], true);
    assert_eq!(v["steps"][0]["frames"], serde_json::json!([1]));
    assert_eq!(v["steps"][1]["frames"], serde_json::json!([2]));
    // The other order is refused, and so is a blink nobody performed.
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "turn-right,turn-left"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("NOT DONE"));
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "turn-left,blink"]);
    assert_eq!(r.code, 1);
    video_of_the_same_frames(dir.path());
    // Another person's face in the sequence fails the same-face check.
    std::fs::copy(&sample_photos()[3], dir.path().join("3-someone-else.jpg")).unwrap();
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "turn-left,turn-right", "--json"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("different face"), "{}", r.stdout);
}

#[test]
fn eval_liveness_reports_rates_and_the_curve() {
    let Some(nuaa) = shared_data().map(|d| d.join("antispoof-nuaa-dev")).filter(|d| d.is_dir()) else {
        eprintln!("SKIPPED: ../shared/data/antispoof-nuaa-dev not found");
        return;
    };
    // A small copy (every 25th frame) keeps the test quick.
    let dir = tempfile::tempdir().unwrap();
    for sub in ["real", "spoof"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(nuaa.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.iter().step_by(25) {
            std::fs::copy(f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    let curve = dir.path().join("curve.csv");
    let plot = dir.path().join("det");
    let r = visage(&["eval", "liveness", "--data", s(dir.path()), "--json", "--curve", s(&curve), "--plot", s(&plot)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["real_images"], 20);
    assert!(v["auc"].as_f64().unwrap() > 0.9, "{}", v["auc"]);
    let eer = &v["equal_error"];
    assert!(eer["apcer"].as_f64().unwrap() < 0.25 && eer["bpcer"].as_f64().unwrap() < 0.25, "{eer}");
    let csv = std::fs::read_to_string(curve).unwrap();
    assert!(csv.starts_with("threshold,apcer,bpcer,acer\n") && csv.lines().count() > 10);
    let png = image::open(plot.with_extension("png")).expect("the DET plot is a PNG");
    assert!(png.width() >= 400 && png.height() >= 300);
    assert!(std::fs::read_to_string(plot.with_extension("svg")).unwrap().contains("APCER"));
    let r = visage(&["eval", "liveness", "--data", s(&nuaa.join("real"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("real/ and spoof/"), "{}", r.stderr);
}

#[test]
fn enrol_refuses_a_printed_photo_unless_allowed_and_identify_reports_liveness() {
    let Some(nuaa) = shared_data().map(|d| d.join("antispoof-nuaa-dev")).filter(|d| d.is_dir()) else {
        eprintln!("SKIPPED: ../shared/data/antispoof-nuaa-dev not found");
        return;
    };
    let frame = |sub: &str| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(nuaa.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("0002_"))
            .collect();
        files.sort();
        files[0].clone()
    };
    let (print, live) = (frame("spoof"), frame("real"));
    let data = tempfile::tempdir().unwrap();
    let d = s(data.path());
    let enrol = |subject: &str, image: &Path, extra: &[&str]| {
        let mut args = vec!["enroll", "--data-dir", d, "--subject", subject, "--purpose", "p", "--evidence", "e"];
        args.extend_from_slice(extra);
        args.push(s(image));
        visage(&args)
    };
    let r = enrol("mallory", &print, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("presentation attack") && r.stderr.contains("--allow-spoof"), "{}", r.stderr);
    let r = enrol("mallory", &print, &["--allow-spoof"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let audit = visage(&["audit", "show", "--data-dir", d, "--subject", "mallory", "--json"]);
    assert!(audit.stdout.contains("refused-spoof") && audit.stdout.contains("\"liveness_required\":false"));

    let r = visage(&["identify", s(&live), "--data-dir", d, "--require-live", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["faces"][0]["liveness"]["live"], true);
    assert_eq!(v["faces"][0]["match"], "mallory");
    let r = visage(&["identify", s(&print), "--data-dir", d, "--require-live", "--json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["faces"][0]["liveness"]["live"], false);
    assert!(v["faces"][0]["match"].is_null());

    let r = visage(&["verify", s(&live), s(&print), "--require-live", "--json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("presentation attack"), "{}", r.stderr);
    let r = visage(&["verify", s(&live), s(&live), "--require-live", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["images"][1]["liveness"]["live"], true);
}

/// The same turn sequence as a video (1 frame per second, H.264), decoded by `visage liveness --video`
/// with ffmpeg at 5 frames per second. ffmpeg comes from Debian's package, installed here when missing
/// (as the browser test installs Chromium); only where that is impossible (no apt, not root) is this
/// part skipped, with a message.
fn video_of_the_same_frames(frames: &Path) {
    let have_ffmpeg = || Command::new("ffmpeg").arg("-version").output().is_ok_and(|o| o.status.success());
    if !have_ffmpeg() {
        let installed = Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
            && Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "ffmpeg"])
                .status()
                .is_ok_and(|s| s.success());
        if !installed || !have_ffmpeg() {
            eprintln!("SKIPPED (video part): ffmpeg is not installed and `apt-get install ffmpeg` failed here");
            return;
        }
    }
    let work = tempfile::tempdir().unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(frames).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for (i, f) in names.iter().enumerate() {
        image::open(f).unwrap().to_rgb8().save(work.path().join(format!("f{i}.png"))).unwrap();
    }
    let video = work.path().join("turns.mp4");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-nostdin", "-framerate", "1", "-i"])
        .arg(work.path().join("f%d.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(made.success());
    let r = visage(&["liveness", "--video", s(&video), "--challenge", "turn-left,turn-right", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert!(v["frames"].as_array().unwrap().len() >= 10, "{}", v["frames"]);
    let r = visage(&["liveness", "--video", s(&frames.join("0-frontal.jpg")), "--challenge", "blink"]);
    assert_eq!(r.code, 2);
    let r = visage(&["liveness", "--video", s(&work.path().join("none.mp4")), "--challenge", "blink"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no such video file"), "{}", r.stderr);
}

#[test]
fn active_liveness_sees_a_blink_in_real_photos() {
    // Real photos of one person, chosen by the models themselves: two with both eyes open and one with
    // both closed (in LFW's George_W_Bush_0001-0080, 0033 and 0065 are squinting or closed; checked
    // by eye). Open, closed, open is a blink; open, open is not.
    let Some(lfw) = lfw_dir() else { return };
    let person = lfw.join("lfw-deepfunneled/George_W_Bush");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&person).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.truncate(80);
    let mut args = vec!["analyze", "--json"];
    args.extend(files.iter().map(|p| s(p)));
    let r = visage(&args);
    let (mut open, mut closed) = (Vec::new(), Vec::new());
    for line in r.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        // The largest face, as `visage liveness` takes.
        let area = |f: &Value| {
            let b: Vec<f64> = f["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            (b[2] - b[0]) * (b[3] - b[1])
        };
        let Some(face) = v["faces"].as_array().and_then(|f| f.iter().max_by(|a, b| area(a).total_cmp(&area(b)))) else {
            continue;
        };
        let (l, r) = (face["eyes"]["left_open"].as_bool().unwrap(), face["eyes"]["right_open"].as_bool().unwrap());
        let path = PathBuf::from(v["image"].as_str().unwrap());
        if l && r && face["pose"]["yaw"].as_f64().unwrap().abs() < 10.0 {
            open.push(path);
        } else if !l && !r {
            closed.push(path);
        }
    }
    assert!(open.len() >= 2 && !closed.is_empty(), "open {open:?}, closed {closed:?}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&open[0], dir.path().join("0.jpg")).unwrap();
    std::fs::copy(&closed[0], dir.path().join("1.jpg")).unwrap();
    std::fs::copy(&open[1], dir.path().join("2.jpg")).unwrap();
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "blink", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["steps"][0]["frames"], serde_json::json!([1, 2]));
    std::fs::remove_file(dir.path().join("1.jpg")).unwrap();
    let r = visage(&["liveness", "--frames", s(dir.path()), "--challenge", "blink"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}
