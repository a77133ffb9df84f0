//! What the two Python tests share: the pinned Python tools, the crate's and the build's folders, and
//! virtual environments made with `python3 -m venv` and filled by pip from the package registry.

#![allow(dead_code)] // each test uses its part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Python tools the tests install, pinned.
pub const MATURIN: &str = "maturin==1.16.0";
pub const PYTEST: &str = "pytest==9.2.0";
pub const NUMPY: &str = "numpy==2.4.6";

/// The crate's folder (holding pyproject.toml, python/visage and the pytest files).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target dir this test was built in (`<target>/release/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.ancestors().nth(3).expect("<target>/<profile>/deps/<test>").to_path_buf()
}

/// The profile dir of this build (`<target>/release`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.ancestors().nth(2).expect("<target>/<profile>/deps/<test>").to_path_buf()
}

/// The docs page whose example the tests run.
pub fn docs_page() -> PathBuf {
    crate_dir().join("../../docs/python.md")
}

/// Runs a set-up step; panics with its output if it fails.
pub fn setup(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot {what}: {e}"));
    assert!(
        out.status.success(),
        "cannot {what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A virtual environment in `root/venv` with `packages` installed by pip.
pub fn venv(root: &Path, packages: &[&str]) -> PathBuf {
    let venv = root.join("venv");
    setup(Command::new("python3").args(["-m", "venv"]).arg(&venv), "create a virtual environment (python3 -m venv)");
    let pip = venv.join("bin/pip");
    setup(
        Command::new(&pip).args(["install", "--quiet", "--disable-pip-version-check"]).args(packages),
        &format!("pip install {}", packages.join(" ")),
    );
    venv
}

/// `$PATH` with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).expect("PATH entries")
}

/// The ten-line example of docs/python.md (the first ```python block).
pub fn docs_example() -> String {
    let text = std::fs::read_to_string(docs_page()).expect("docs/python.md");
    let start = text.find("```python\n").expect("a python block in docs/python.md") + "```python\n".len();
    let len = text[start..].find("```").expect("the block's end");
    text[start..start + len].to_string()
}
