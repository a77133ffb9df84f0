//! The pytest suite beside this file, run against the extension module this build just compiled:
//! `cargo test` builds the crate's library (`lib_visage.so`, a real extension module: it never links
//! libpython), which is copied as `visage/_visage.abi3.so` next to the package's Python files in a
//! temporary folder, with pinned pytest and NumPy in a fresh virtual environment. No second build:
//! the installation from source (`pip install ./crates/visage-py`) is tests/install.rs.
//! Fails when pytest fails, and prints its summary either way.

mod common;

use common::{crate_dir, docs_page, profile_dir, setup, venv, NUMPY, PYTEST};
use std::path::{Path, PathBuf};
use std::process::Command;
use visage_testkit::{sample_photos, Sandbox};

/// The extension module compiled by this build: the crate's `cdylib`, which Cargo leaves in `deps/`
/// when it builds the library for the tests.
fn built_module() -> PathBuf {
    let name = format!("{}_visage{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let module = profile_dir().join("deps").join(name);
    assert!(module.is_file(), "{} is missing: cargo test builds it with the crate's library", module.display());
    module
}

/// The `visage` package as pip would install it: python/visage with the built module in it.
fn package_in(root: &Path) -> PathBuf {
    let site = root.join("site");
    let package = site.join("visage");
    std::fs::create_dir_all(&package).unwrap();
    for entry in std::fs::read_dir(crate_dir().join("python/visage")).unwrap().flatten() {
        std::fs::copy(entry.path(), package.join(entry.file_name())).unwrap();
    }
    std::fs::copy(built_module(), package.join("_visage.abi3.so")).unwrap();
    site
}

/// The `visage` binary of this build, built if `cargo test` did not (e.g. `cargo test -p visage-py`).
fn visage_binary() -> PathBuf {
    let bin = profile_dir().join("visage");
    if !bin.is_file() {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--release", "-p", "visage-cli", "--bin", "visage"]);
        cargo.env("CARGO_TARGET_DIR", common::target_dir());
        setup(&mut cargo, "build the visage binary");
    }
    bin
}

/// pytest's closing summary line (`N passed, ...`).
fn summary(stdout: &str) -> &str {
    stdout.lines().rev().find(|l| l.contains(" passed") || l.contains(" failed") || l.contains(" error")).unwrap_or("")
}

#[test]
fn the_python_package_passes_its_pytest_suite() {
    let photos = sample_photos();
    let visage = visage_binary();
    let tmp = tempfile::tempdir().unwrap();
    let venv = venv(tmp.path(), &[PYTEST, NUMPY]);
    let site = package_in(tmp.path());
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // A private VISAGE_HOME (the installed pack, no calibration), data dir and HOME: a user's state
    // never changes an outcome; each gallery test also uses its own data dir.
    let sandbox = Sandbox::new();
    let mut pytest = Command::new(venv.join("bin/python"));
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .arg(crate_dir().join("tests"))
        .current_dir(&scratch)
        .env("PYTHONPATH", &site)
        .env("VISAGE_BIN", &visage)
        .env("VISAGE_TEST_PHOTOS", photos[0].parent().unwrap())
        .env("VISAGE_DOCS", docs_page());
    sandbox.apply(&mut pytest);
    let started = std::time::Instant::now();
    let out = pytest.output().expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("pytest: {} ({:.0} s)", summary(&stdout), started.elapsed().as_secs_f64());
    assert!(out.status.success(), "pytest failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(summary(&stdout).contains(" passed"), "pytest ran no test:\n{stdout}");
}
