//! A private state for tests that run the `visage` binary: its own `VISAGE_HOME` (whose installed
//! models, runtime and fetched tools are symlinks to the shared pack, so nothing is downloaded twice,
//! while `calibration/` and every other state is its own), gallery dir, and `HOME`/XDG dirs, so that
//! a user's state (an active calibration, a gallery in `~/.local/share/visage`) never changes a test.

use crate::models_home;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Entries of the shared home that are state, never shared with a sandbox.
const PRIVATE: [&str; 2] = ["calibration", "imported"];

/// Environment variables a user may have set that would change what the binary does.
pub const USER_SETTINGS: [&str; 8] = [
    "VISAGE_STORE",
    "VISAGE_INDEX",
    "VISAGE_PG_TEMPLATES",
    "VISAGE_BACKEND",
    "VISAGE_RECOGNIZER",
    "VISAGE_KEY",
    "VISAGE_API_KEY",
    "VISAGE_LOG",
];

/// A private home, data dir and user dirs, removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new sandbox over the installed pack (installed first if needed).
    pub fn new() -> Sandbox {
        let shared = models_home().root().to_path_buf();
        let dir = tempfile::tempdir().expect("temporary directory");
        let home = dir.path().join("visage-home");
        for d in ["visage-home", "data", "user/.cache", "user/.local/share", "user/.config"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("sandbox dir");
        }
        for entry in std::fs::read_dir(&shared).expect("the shared model home").flatten() {
            let name = entry.file_name();
            if !PRIVATE.iter().any(|p| name == *p) {
                link(&entry.path(), &home.join(&name));
            }
        }
        Sandbox { dir }
    }

    /// The sandbox of this test process, for tests that need no state of their own.
    pub fn shared() -> &'static Sandbox {
        static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
        SANDBOX.get_or_init(Sandbox::new)
    }

    /// The `VISAGE_HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("visage-home")
    }

    /// The gallery dir (`VISAGE_DATA_DIR`).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The fake user home (`HOME`), with its own `.cache`, `.local/share` and `.config`.
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("user")
    }

    /// Points `cmd` at the sandbox: `VISAGE_HOME`, `VISAGE_DATA_DIR` (unless the test set its own),
    /// `HOME` and the XDG dirs; the user's settings ([`USER_SETTINGS`]) removed unless the test set them.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        let user = self.user_home();
        let set_by_test = |cmd: &Command, name: &str| cmd.get_envs().any(|(k, v)| k == name && v.is_some());
        if !set_by_test(cmd, "VISAGE_DATA_DIR") {
            cmd.env("VISAGE_DATA_DIR", self.data());
        }
        for name in USER_SETTINGS {
            if !set_by_test(cmd, name) {
                cmd.env_remove(name);
            }
        }
        cmd.env("VISAGE_HOME", self.home())
            .env("HOME", &user)
            .env("XDG_CACHE_HOME", user.join(".cache"))
            .env("XDG_DATA_HOME", user.join(".local/share"))
            .env("XDG_CONFIG_HOME", user.join(".config"))
    }

    /// The `visage` binary at `program`, pointed at the sandbox.
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut cmd = Command::new(program.as_ref());
        self.apply(&mut cmd);
        cmd
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

#[cfg(unix)]
fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap_or_else(|e| panic!("cannot link {}: {e}", to.display()));
}

#[cfg(not(unix))]
fn link(from: &Path, to: &Path) {
    // Without symlinks, copy: slower, same isolation.
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("sandbox dir");
        for entry in std::fs::read_dir(from).expect("readable").flatten() {
            link(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy into the sandbox");
    }
}
