//! The README's install line as a user runs it: `pip install ./crates/visage-py` into a fresh virtual
//! environment (pinned maturin and NumPy; `--no-build-isolation` so the pinned maturin builds), then
//! the ten-line example of docs/python.md on the demo photos with the installed package.
//!
//! maturin builds into this build's target dir. It must reuse every crate `cargo test` compiled: only
//! PyO3's crates (their build scripts see maturin's Python), NumPy's bindings and the module itself may
//! compile again. Any other crate means the features Cargo unifies for `-p visage-py` drifted from the
//! workspace's (see the crate's Cargo.toml), which costs CI many minutes: the test fails and names it.

mod common;

use common::{crate_dir, docs_example, path_with, setup, target_dir, venv, MATURIN, NUMPY};
use std::process::Command;
use visage_testkit::{sample_photos, Sandbox};

/// The crates maturin's build may compile again.
const REBUILT: [&str; 7] =
    ["pyo3-build-config", "pyo3-ffi", "pyo3-macros-backend", "pyo3-macros", "pyo3", "numpy", "visage-py"];

/// The crates cargo compiled, from its `Compiling NAME vX.Y.Z` lines.
fn compiled(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn pip_install_builds_from_the_workspace_and_the_docs_example_runs() {
    let photos = sample_photos();
    let tmp = tempfile::tempdir().unwrap();
    let venv = venv(tmp.path(), &[MATURIN, NUMPY]);
    let started = std::time::Instant::now();
    let out = setup(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-v", "--no-build-isolation", "--disable-pip-version-check"])
            .arg(crate_dir())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("PATH", path_with(&venv.join("bin"))),
        "pip install ./crates/visage-py",
    );
    let seconds = started.elapsed().as_secs_f64();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let rebuilt = compiled(&log);
    eprintln!("pip install ./crates/visage-py: {seconds:.0} s; compiled: {}", rebuilt.join(", "));
    assert!(rebuilt.iter().any(|c| c == "visage-py"), "maturin did not build the module:\n{log}");
    let unexpected: Vec<&String> = rebuilt.iter().filter(|c| !REBUILT.contains(&c.as_str())).collect();
    assert!(
        unexpected.is_empty(),
        "maturin recompiled {unexpected:?}, which `cargo test` had built: the features of `-p visage-py` \
         differ from the workspace's (compare `cargo tree -p visage-py -e normal,build -f '{{p}} {{f}}'` with \
         `cargo tree --workspace`)"
    );

    // The example, in the photos' folder, with the installed package (not the source tree).
    let mut python = Command::new(venv.join("bin/python"));
    python.arg("-c").arg(docs_example()).current_dir(photos[0].parent().unwrap()).env_remove("PYTHONPATH");
    Sandbox::new().apply(&mut python);
    let run = setup(&mut python, "run the example of docs/python.md");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("sample1.jpg: ") && stdout.contains(" faces"), "{stdout}");
    assert!(stdout.contains("same person"), "{stdout}");
    let where_ = setup(
        Command::new(venv.join("bin/python"))
            .args(["-c", "import visage; print(visage.__file__)"])
            .current_dir(tmp.path()),
        "import the installed package",
    );
    let location = String::from_utf8_lossy(&where_.stdout);
    assert!(location.contains("site-packages"), "visage imported from {location}");
}
