//! Added latency per face of liveness and each attribute model, with a Python onnxruntime reference.
//!
//! ```sh
//! cargo run --release -p visage --example attribute_latency -- [IMAGES_DIR] [--faces N]
//! ```
//!
//! For each model: `per face` is visage's whole call on a detected face (crop, resize, normalise, run,
//! decode), `run` is the model alone on a fixed input, and `python` is the same model in Python
//! onnxruntime (bench/attributes_reference.py, one thread). Medians in milliseconds, one thread, ort.

use std::path::{Path, PathBuf};
use std::time::Instant;
use visage::attributes::{attribute_ids as ids, AttributeSet};
use visage::infer::BackendKind;
use visage::{AnalyzerConfig, FaceAnalyzer};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn images(dir: &Path, limit: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "jpg" || e == "png") {
                out.push(p);
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    out.truncate(limit);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let faces_wanted: usize = args
        .iter()
        .position(|a| a == "--faces")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/lfw/lfw-deepfunneled"));
    let analyzer = FaceAnalyzer::new(AnalyzerConfig {
        backend: Some(BackendKind::Ort),
        progress: false,
        ..AnalyzerConfig::default()
    })?;
    let mut samples = Vec::new();
    for path in images(&dir, faces_wanted) {
        let image = analyzer.load(&path)?;
        if let Some(face) = analyzer.detect(&image)?.into_iter().next() {
            samples.push((image, face));
        }
    }
    if samples.is_empty() {
        return Err(format!("no faces found under {}", dir.display()).into());
    }
    // Load every model (and warm up) before timing.
    let (img, face) = &samples[0];
    analyzer.attributes(img, face, AttributeSet::ALL, None)?;

    let one = |set: AttributeSet| -> Result<f64, visage::VisageError> {
        let mut times = Vec::new();
        for (image, face) in &samples {
            let t = Instant::now();
            analyzer.attributes(image, face, set, None)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(times))
    };
    let none = AttributeSet::NONE;
    let rows: [(&str, &str, AttributeSet, &[usize]); 6] = [
        ("liveness", ids::LIVENESS, AttributeSet { liveness: true, ..none }, &[1, 3, 128, 128]),
        ("age", ids::AGE, AttributeSet { age: true, ..none }, &[1, 3, 64, 64]),
        ("gender", ids::GENDER, AttributeSet { gender: true, ..none }, &[1, 3, 64, 64]),
        ("pose", ids::POSE, AttributeSet { pose: true, ..none }, &[1, 3, 224, 224]),
        ("expression", ids::EXPRESSION, AttributeSet { expression: true, ..none }, &[1, 3, 224, 224]),
        ("eyes (+68 landmarks)", ids::EYE, AttributeSet { eyes: true, ..none }, &[1, 1, 24, 24]),
    ];
    let models_dir = analyzer.installer().home().models_dir();
    let python: Option<serde_json::Value> = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/attributes_reference.py"))
        .arg("--models")
        .arg(&models_dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    println!("{} faces from {}; medians in ms, 1 thread, ONNX Runtime", samples.len(), dir.display());
    println!("{:<22} {:>9} {:>9} {:>9}", "model", "per face", "run", "python");
    let mut total = 0.0;
    for (name, id, set, shape) in rows {
        let per_face = one(set)?;
        total += per_face;
        let model = analyzer.pack_model(id)?;
        let x = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(shape), 0.5);
        model.run(x.view())?;
        let run = median(
            (0..50)
                .map(|_| {
                    let t = Instant::now();
                    model.run(x.view()).expect("runs");
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        let file = visage::models::Manifest::default_pack().model(id).map(|m| m.file.clone()).unwrap_or_default();
        let py = python.as_ref().and_then(|p| p.get(&file)).and_then(|v| v.as_f64());
        let py = py.map_or("-".to_string(), |v| format!("{v:.2}"));
        println!("{name:<22} {per_face:>9.2} {run:>9.2} {py:>9}");
    }
    println!("{:<22} {total:>9.2}", "all (sum)");
    let all = one(AttributeSet::ALL)?;
    println!("{:<22} {all:>9.2}", "all (one call)");
    if python.is_none() {
        println!(
            "(python reference not run: python3 with numpy and onnxruntime is needed; see bench/requirements.txt)"
        );
    }
    Ok(())
}
