//! The installed (patched) models run on both backends and compute exactly what the shipped files do.

use ndarray::{ArrayD, IxDyn};
use std::path::Path;
use visage_infer::{load_model, BackendKind, InferenceConfig, Model};
use visage_models::{ids, Installer, Manifest};
use visage_testkit::models_home;

fn installer() -> Installer {
    Installer::new(models_home(), Manifest::default_pack()).with_progress(false)
}

fn config(backend: BackendKind) -> InferenceConfig {
    InferenceConfig { backend, intra_threads: 1, ort_library: installer().installed_runtime() }
}

fn load(path: &Path, backend: BackendKind) -> std::sync::Arc<dyn Model> {
    load_model(path, &config(backend)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deterministic pseudo-random input in [-1, 1].
fn input(shape: &[usize], seed: u32) -> ArrayD<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    })
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn patched_models_compute_exactly_what_the_shipped_files_do() {
    let shipped = tempfile::tempdir().unwrap();
    let files = installer().write_shipped(&[ids::EMBEDDING, "liveness"], shipped.path()).unwrap();
    let installed = installer().ensure_models(&[ids::EMBEDDING, "liveness"]).unwrap();
    for ((original, patched), side) in files.iter().zip(&installed).zip([112usize, 128]) {
        let x = input(&[1, 3, side, side], 7);
        let a = load(original, BackendKind::Ort).run(x.view()).unwrap();
        let b = load(patched, BackendKind::Ort).run(x.view()).unwrap();
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(&b) {
            assert!(
                max_diff(p, q) <= 1e-6,
                "{}: differs from the shipped file by {}",
                patched.display(),
                max_diff(p, q)
            );
        }
        let t = load(patched, BackendKind::Tract).run(x.view()).unwrap();
        for (p, q) in b.iter().zip(&t) {
            assert!(max_diff(p, q) <= 1e-3, "{}: tract and ort differ by {}", patched.display(), max_diff(p, q));
        }
    }
}

#[test]
fn the_embedding_model_runs_batches_on_both_backends() {
    let path = installer().ensure_models(&[ids::EMBEDDING]).unwrap().remove(0);
    let batch = input(&[4, 3, 112, 112], 11);
    for backend in [BackendKind::Ort, BackendKind::Tract] {
        let model = load(&path, backend);
        let out = model.run(batch.view()).unwrap().remove(0);
        assert_eq!(out.shape(), [4, 512], "{backend}");
        for i in 0..4 {
            let one = batch.slice(ndarray::s![i..i + 1, .., .., ..]).to_owned().into_dyn();
            let single = model.run(one.view()).unwrap().remove(0);
            let row = out.slice(ndarray::s![i..i + 1, ..]).to_owned().into_dyn();
            assert!(max_diff(&single, &row) < 1e-4, "{backend}: batch row {i} differs");
        }
    }
}

#[test]
fn centerface_runs_at_any_multiple_of_32() {
    let path = installer().ensure_models(&[ids::CENTERFACE]).unwrap().remove(0);
    for backend in [BackendKind::Ort, BackendKind::Tract] {
        let model = load(&path, backend);
        for (h, w) in [(256, 320), (96, 64)] {
            let out = model.run(input(&[1, 3, h, w], 3).view()).unwrap();
            let shapes: Vec<&[usize]> = out.iter().map(|o| o.shape()).collect();
            assert_eq!(
                shapes,
                [&[1, 1, h / 4, w / 4][..], &[1, 2, h / 4, w / 4], &[1, 2, h / 4, w / 4], &[1, 10, h / 4, w / 4]]
            );
        }
    }
}

#[test]
fn a_missing_runtime_library_is_a_clear_error() {
    let cfg = InferenceConfig { backend: BackendKind::Ort, intra_threads: 1, ort_library: None };
    let path = installer().ensure_models(&[ids::LANDMARK68]).unwrap().remove(0);
    let err = load_model(&path, &cfg).err().expect("no library given");
    assert!(err.to_string().contains("needs the ONNX Runtime library"), "{err}");
}
