//! Bringing your own models (`visage models import DIR --licence ...`) as a user runs it, with small
//! generated ONNX graphs that have exactly the signatures of InsightFace's files (no such weights are
//! available here): recognition by signature and refusals, the licence, `models list`, SCRFD and
//! RetinaFace boxes and key points against hand-computed values, and an imported ArcFace in `embed`.

use serde_json::Value;
use std::path::Path;
use visage::core::{align_face, Point};
use visage_testkit::onnx_graphs::{self, ScrfdAnchor};
use visage_testkit::{path_str, run, Run, Sandbox};

fn visage(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut cmd = sandbox.command(env!("CARGO_BIN_EXE_visage"));
    cmd.env_remove("VISAGE_BACKEND");
    run(cmd, args)
}

fn json(out: &Run) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

const LICENCE: &str = "InsightFace: non-commercial research only (test)";

/// The SCRFD anchor the detection tests use: stride 16, column 10, row 5, second anchor (index
/// (5 * 40 + 10) * 2 + 1 = 421), centre (160, 80) in a 640x640 input.
fn hot_scrfd() -> Vec<ScrfdAnchor> {
    let keypoints = [-1.0, -0.5, 1.0, -0.5, 0.0, 0.25, -0.75, 1.0, 0.75, 1.0];
    vec![
        ScrfdAnchor { level: 1, index: 421, score: 0.9, distances: [2.0, 1.0, 3.0, 2.0], keypoints },
        // The same location's first anchor, the same box, a lower score: removed by NMS.
        ScrfdAnchor { level: 1, index: 420, score: 0.7, distances: [2.0, 1.0, 3.0, 2.0], keypoints },
        // Below the default threshold (0.5).
        ScrfdAnchor { level: 0, index: 7, score: 0.3, distances: [1.0; 4], keypoints },
    ]
}

/// An InsightFace-like pack folder: SCRFD with key points, an ArcFace, genderage, a RetinaFace and a
/// classifier of no known family.
fn pack(dir: &Path, arcface_weights: &[f32]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("det_10g.onnx"), onnx_graphs::scrfd(640, true, &hot_scrfd())).unwrap();
    std::fs::write(dir.join("w600k_r50.onnx"), onnx_graphs::arcface(arcface_weights)).unwrap();
    std::fs::write(dir.join("genderage.onnx"), onnx_graphs::genderage()).unwrap();
    std::fs::write(dir.join("retinaface_mnet.onnx"), onnx_graphs::retinaface(640, &[retina_hot()])).unwrap();
    std::fs::write(dir.join("classifier.onnx"), onnx_graphs::unknown()).unwrap();
}

/// RetinaFace's hot prior: stride 16 (after the 80 * 80 * 2 = 12,800 priors of stride 8), row 5,
/// column 10, first size (64): centre ((10.5) * 16, (5.5) * 16) = (168, 88).
fn retina_hot() -> (usize, f32, [f32; 4], [f32; 10]) {
    let index = 12_800 + (5 * 40 + 10) * 2;
    (index, 0.9, [0.5, -0.25, 1.5f32.ln() / 0.2, 0.0], [-1.0, -1.0, 1.0, -1.0, 0.0, 0.0, -0.5, 1.0, 0.5, 1.0])
}

/// Weights of the test ArcFace: 3 rows of 512 (the embedding is the input's channel means times them).
fn weights() -> Vec<f32> {
    (0..3 * 512).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0 + if i % 512 == i / 512 { 3.0 } else { 0.0 }).collect()
}

/// A 1280x960 gradient: red grows to the right, green downwards, blue constant.
fn gradient(path: &Path) {
    let image =
        image::RgbImage::from_fn(1280, 960, |x, y| image::Rgb([(x * 255 / 1279) as u8, (y * 255 / 959) as u8, 77]));
    image.save(path).unwrap();
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

#[test]
fn an_insightface_pack_is_placed_by_signature_needs_a_licence_and_is_listed_with_it() {
    let sandbox = Sandbox::new();
    let dir = sandbox.user_home().join("buffalo_test");
    pack(&dir, &weights());

    let refused = visage(&sandbox, &["models", "import", path_str(&dir)]);
    assert_ne!(refused.code, 0, "no licence: refused\n{}", refused.stdout);
    assert!(refused.stderr.contains("--licence") && refused.stderr.contains("non-commercial"), "{}", refused.stderr);
    assert!(!sandbox.home().join("imported").join("imported.json").exists(), "nothing recorded without a licence");

    let out = visage(&sandbox, &["models", "import", path_str(&dir), "--licence", LICENCE]);
    assert_eq!(out.code, 1, "the classifier is refused, the rest imported:\n{}\n{}", out.stdout, out.stderr);
    let line = |name: &str| {
        out.stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}: {}", out.stdout)).to_string()
    };
    assert!(line("det_10g.onnx").starts_with("imported") && line("det_10g.onnx").contains("SCRFD with key points"));
    assert!(line("det_10g.onnx").contains("9 outputs"), "the reason is stated: {}", line("det_10g.onnx"));
    assert!(line("w600k_r50.onnx").contains("as arcface w600k_r50") && line("w600k_r50.onnx").contains("512"));
    assert!(line("retinaface_mnet.onnx").contains("as retinaface"), "{}", out.stdout);
    assert!(line("genderage.onnx").starts_with("skipped") && line("genderage.onnx").contains("genderage"));
    assert!(
        line("classifier.onnx").starts_with("refused") && line("classifier.onnx").contains("224"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--recognizer imported:w600k_r50") && out.stdout.contains("--detector scrfd"));

    let list = json(&visage(&sandbox, &["models", "list", "--json"]));
    let imported = list["imported"].as_array().unwrap();
    let names: Vec<&str> = imported.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["det_10g", "retinaface_mnet", "w600k_r50"]);
    for m in imported {
        assert_eq!((m["licence"].as_str(), m["status"].as_str()), (Some(LICENCE), Some("verified")), "{m}");
        let file = dir.join(format!("{}.onnx", m["name"].as_str().unwrap()));
        assert_eq!(m["sha256"].as_str().unwrap(), visage::models::sha256_file(&file).unwrap(), "{m}");
    }
    let arcface = &imported[2];
    assert!(arcface["threshold_note"].as_str().unwrap().starts_with("uncalibrated"), "{arcface}");
    assert!(imported[0]["threshold_note"].is_null(), "a detector has no threshold");
    let table = visage(&sandbox, &["models", "list"]).stdout;
    assert!(table.contains("Imported models") && table.contains(LICENCE), "{table}");
    assert!(table.contains("--recognizer imported:w600k_r50: verification threshold uncalibrated"), "{table}");

    // One file of SCRFD without key points replaces the imported SCRFD.
    let single = sandbox.user_home().join("det_500m.onnx");
    std::fs::write(&single, onnx_graphs::scrfd(640, false, &hot_scrfd())).unwrap();
    let out = visage(&sandbox, &["models", "import", path_str(&single), "--licence", LICENCE]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("SCRFD without key points") && out.stdout.contains("replaces det_10g"),
        "{}",
        out.stdout
    );
    let list = json(&visage(&sandbox, &["models", "list", "--json"]));
    let names: Vec<&str> = list["imported"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["retinaface_mnet", "w600k_r50", "det_500m"]);
}

#[test]
fn scrfd_and_retinaface_boxes_and_key_points_are_the_hand_computed_ones() {
    let sandbox = Sandbox::new();
    let photo = sandbox.user_home().join("gradient.png");
    gradient(&photo);
    let none = visage(&sandbox, &["detect", "--detector", "scrfd", path_str(&photo)]);
    assert_ne!(none.code, 0);
    assert!(
        none.stderr.contains("no scrfd model is imported") && none.stderr.contains("visage models import"),
        "{}",
        none.stderr
    );

    let dir = sandbox.user_home().join("pack");
    pack(&dir, &weights());
    visage(&sandbox, &["models", "import", path_str(&dir), "--licence", LICENCE]);

    // A 1280x960 image is letterboxed into 640x480 of the 640x640 input: 0.5 network pixels per pixel.
    let faces = |detector: &str| {
        let out = visage(&sandbox, &["detect", "--json", "--detector", detector, path_str(&photo)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        json(&out)["faces"].as_array().unwrap().clone()
    };
    let scrfd = faces("scrfd");
    assert_eq!(scrfd.len(), 1, "one face after the threshold and NMS: {scrfd:?}");
    // Centre (160, 80); distances (2, 1, 3, 2) strides of 16: (128, 64)-(208, 112), times 2.
    let b: Vec<f64> = scrfd[0]["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(close(b[0], 256.0) && close(b[1], 128.0) && close(b[2], 416.0) && close(b[3], 224.0), "{b:?}");
    assert!(close(scrfd[0]["score"].as_f64().unwrap(), 0.9));
    let expected = [(144.0, 72.0), (176.0, 72.0), (160.0, 84.0), (148.0, 96.0), (172.0, 96.0)];
    for (p, (x, y)) in scrfd[0]["landmarks"].as_array().unwrap().iter().zip(expected) {
        assert!(close(p[0].as_f64().unwrap(), 2.0 * x) && close(p[1].as_f64().unwrap(), 2.0 * y), "{p} vs {x},{y}");
    }

    let retina = faces("retinaface");
    assert_eq!(retina.len(), 1, "{retina:?}");
    // Centre (168 + 0.5 * 0.1 * 64, 88 - 0.25 * 0.1 * 64) = (171.2, 86.4); width 64 * 1.5, height 64.
    let b: Vec<f64> = retina[0]["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let want = [171.2 - 48.0, 86.4 - 32.0, 171.2 + 48.0, 86.4 + 32.0];
    for (got, want) in b.iter().zip(want) {
        assert!(close(*got, 2.0 * want), "{b:?} vs {want}");
    }
    // Key points: the prior centre plus delta * 0.1 * 64.
    let deltas = retina_hot().3;
    for (j, p) in retina[0]["landmarks"].as_array().unwrap().iter().enumerate() {
        let (x, y) = (168.0 + deltas[2 * j] as f64 * 6.4, 88.0 + deltas[2 * j + 1] as f64 * 6.4);
        assert!(close(p[0].as_f64().unwrap(), 2.0 * x) && close(p[1].as_f64().unwrap(), 2.0 * y), "{p}");
    }
}

#[test]
fn an_imported_arcface_embeds_with_its_own_input_and_is_uncalibrated_until_calibrated() {
    let sandbox = Sandbox::new();
    let dir = sandbox.user_home().join("pack");
    let w = weights();
    pack(&dir, &w);
    visage(&sandbox, &["models", "import", path_str(&dir), "--licence", LICENCE]);
    let photo = sandbox.user_home().join("gradient.png");
    gradient(&photo);

    let args = ["embed", "--json", "--detector", "scrfd", "--recognizer", "imported:w600k_r50", path_str(&photo)];
    let out = visage(&sandbox, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let face = &json(&out)["faces"][0];
    let got: Vec<f64> = face["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(got.len(), 512);

    // By hand: the crop aligned from the reported points, InsightFace's input (x - 127.5) / 127.5 in
    // RGB order, its channel means times the weights, unit length.
    let points: Vec<Point> = face["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Point::new(p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32))
        .collect();
    let image = image::open(&photo).unwrap().to_rgb8();
    let (crop, _) = align_face(&image, &points.try_into().unwrap()).unwrap();
    let expected = |order: [usize; 3]| {
        let n = (crop.width() * crop.height()) as f64;
        let means: Vec<f64> =
            order.iter().map(|&c| crop.pixels().map(|p| (p.0[c] as f64 - 127.5) / 127.5).sum::<f64>() / n).collect();
        let e: Vec<f64> = (0..512).map(|j| (0..3).map(|c| means[c] * w[c * 512 + j] as f64).sum()).collect();
        let norm = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        e.into_iter().map(|v| v / norm).collect::<Vec<f64>>()
    };
    let max_diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let rgb = expected([0, 1, 2]);
    assert!(max_diff(&got, &rgb) < 1e-4, "differs from the hand computation by {}", max_diff(&got, &rgb));
    assert!(max_diff(&got, &expected([2, 1, 0])) > 1e-2, "the test tells RGB from BGR");

    // No threshold until calibrated: verify and galleries say how to get one.
    let verify = visage(
        &sandbox,
        &["verify", "--detector", "scrfd", "--recognizer", "imported:w600k_r50", path_str(&photo), path_str(&photo)],
    );
    assert_ne!(verify.code, 0);
    assert!(verify.stderr.contains("uncalibrated") && verify.stderr.contains("visage calibrate"), "{}", verify.stderr);
    let with_threshold = visage(
        &sandbox,
        &[
            "verify",
            "--json",
            "--threshold",
            "0.5",
            "--detector",
            "scrfd",
            "--recognizer",
            "imported:w600k_r50",
            path_str(&photo),
            path_str(&photo),
        ],
    );
    assert_eq!(with_threshold.code, 0, "{}", with_threshold.stderr);
    assert_eq!(json(&with_threshold)["match"], true);
    let unknown = visage(&sandbox, &["embed", "--recognizer", "imported:nothing", path_str(&photo)]);
    assert!(unknown.code != 0 && unknown.stderr.contains("no imported model named 'nothing'"), "{}", unknown.stderr);
}
