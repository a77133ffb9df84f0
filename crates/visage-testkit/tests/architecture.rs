//! The workspace's shape, checked: no two source files of a crate import each other in a circle
//! (directly or through others), and the service does not pull in the evaluation tools.
//!
//! An edge runs from a file to the file that defines what it names through `crate::`, `super::` or
//! `self::` (in `use` statements and inline paths). A name re-exported by a module (`pub use`) leads to
//! the module that defines it, so `crate::VisageError` is an edge to `error.rs`, not to `lib.rs`.
//! `mod` declarations and re-exports (`pub use`: a module's interface, not its code's dependency) are
//! not edges, and a file's `#[cfg(test)]` module is left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

/// One crate's source files by module path, and what each module re-exports.
struct Crate {
    name: String,
    files: BTreeMap<ModPath, PathBuf>,
    code: BTreeMap<ModPath, String>,
    reexports: HashMap<ModPath, HashMap<String, ModPath>>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`; `lib.rs` and `main.rs` are the root.
fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: ModPath = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_string());
    }
    parts
}

/// The code without comments, string and char literals, and the `#[cfg(test)]` module at the end.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !is_ident(b[i - 1])) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n', '"'); a lifetime ('a) has no closing quote right after.
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `a::{b, c::{d, e as f}}` → `a::b`, `a::c::d`, `a::c::e as f`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else { return vec![tree.trim().to_string()] };
    let close = tree.rfind('}').expect("balanced braces");
    let prefix = &tree[..open];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for (i, c) in tree.char_indices().take(close).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..close]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).flat_map(|p| expand(&format!("{prefix}{p}"))).collect()
}

/// The `use` statements of some code, each with whether it is a re-export.
fn use_statements(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = find_word(rest, "use ") {
        let before = rest[..i].trim_end();
        let public = before.ends_with("pub") || before.ends_with("pub(crate)") || before.ends_with("pub(super)");
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
        for path in expand(&rest[i + 4..end]) {
            out.push((public, path));
        }
        rest = &rest[end.min(rest.len())..];
    }
    out
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        if at == 0 || !is_ident(text.as_bytes()[at - 1]) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The code without its `use` statements.
fn without_uses(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = find_word(rest, "use ") {
        out.push_str(&rest[..i]);
        rest = &rest[rest[i..].find(';').map_or(rest.len(), |e| i + e + 1)..];
    }
    out.push_str(rest);
    out
}

/// Inline paths (`crate::a::b(...)`, `super::x`) outside `use` statements.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (is_ident(code.as_bytes()[at - 1]) || code.as_bytes()[at - 1] == b':') {
                continue;
            }
            let len = code[at..].bytes().take_while(|&c| is_ident(c) || c == b':').count();
            out.push(code[at..at + len].trim_end_matches(':').to_string());
        }
    }
    out
}

/// An absolute module path for `path` as written in the module `at` (`None`: another crate's). A path
/// may also start with a child module of `at` (`use commands::Thing;` in the crate root).
fn absolute(files: &BTreeMap<ModPath, PathBuf>, at: &ModPath, path: &str) -> Option<ModPath> {
    let path = path.split(" as ").next().expect("a path").trim();
    let mut segments = path.split("::").map(str::trim).filter(|s| !s.is_empty());
    let mut out = match segments.next()? {
        "crate" => Vec::new(),
        "self" => at.clone(),
        "super" => at[..at.len().saturating_sub(1)].to_vec(),
        child if files.contains_key(&[at.as_slice(), &[child.to_string()]].concat()) => {
            [at.as_slice(), &[child.to_string()]].concat()
        }
        _ => return None,
    };
    for s in segments {
        match s {
            "super" => {
                out.pop();
            }
            "*" | "self" => {}
            s => out.push(s.to_string()),
        }
    }
    Some(out)
}

fn read_crate(dir: &Path) -> Option<Crate> {
    let src = dir.join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    if paths.is_empty() {
        return None;
    }
    let mut krate = Crate {
        name: dir.file_name()?.to_string_lossy().into_owned(),
        files: BTreeMap::new(),
        code: BTreeMap::new(),
        reexports: HashMap::new(),
    };
    for path in paths {
        let module = module_path(&src, &path);
        let code = strip(&std::fs::read_to_string(&path).expect("readable source"));
        krate.files.insert(module.clone(), path);
        krate.code.insert(module, code);
    }
    for (module, code) in &krate.code {
        for (public, path) in use_statements(code) {
            let Some(target) = absolute(&krate.files, module, &path).filter(|_| public) else { continue };
            let name = path.rsplit(" as ").next().expect("a name").rsplit("::").next().expect("a name");
            if name != "*" && name != "self" {
                krate.reexports.entry(module.clone()).or_default().insert(name.trim().to_string(), target);
            }
        }
    }
    Some(krate)
}

impl Crate {
    /// The file that defines what `path` names: its longest module prefix, through re-exports.
    fn resolve(&self, path: &ModPath, depth: usize) -> Option<ModPath> {
        let module = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| self.files.contains_key(m))?;
        if depth < 8 {
            if let Some(name) = path.get(module.len()) {
                if let Some(target) = self.reexports.get(&module).and_then(|r| r.get(name)) {
                    let mut next = target.clone();
                    next.extend(path[module.len() + 1..].iter().cloned());
                    if &next != path {
                        return self.resolve(&next, depth + 1).or(Some(module));
                    }
                }
            }
        }
        Some(module)
    }

    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (module, code) in &self.code {
            // A re-export (`pub use`) is the module's interface, not a dependency of its code.
            let imports = use_statements(code).into_iter().filter(|(public, _)| !public).map(|(_, p)| p);
            let written = imports.chain(inline_paths(&without_uses(code)));
            for path in written {
                let Some(target) = absolute(&self.files, module, &path).and_then(|p| self.resolve(&p, 0)) else {
                    continue;
                };
                if &target != module {
                    edges.entry(module.clone()).or_default().insert(target);
                }
            }
        }
        edges
    }

    /// Every circle of files, as the files of each strongly connected component with more than one.
    fn circles(&self) -> Vec<Vec<String>> {
        let edges = self.edges();
        let mut circles = Vec::new();
        let mut done = BTreeSet::new();
        for start in self.files.keys() {
            if done.contains(start) {
                continue;
            }
            let reach = reachable(&edges, start);
            let component: Vec<&ModPath> = reach.iter().filter(|m| reachable(&edges, m).contains(start)).collect();
            for m in &component {
                done.insert((*m).clone());
            }
            if component.len() > 1 {
                circles.push(component.iter().map(|m| self.files[*m].display().to_string()).collect());
            }
        }
        circles
    }
}

fn reachable(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>, from: &ModPath) -> BTreeSet<ModPath> {
    let mut seen = BTreeSet::from([from.clone()]);
    let mut stack = vec![from.clone()];
    while let Some(m) = stack.pop() {
        for next in edges.get(&m).into_iter().flatten() {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

fn crates() -> Vec<Crate> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(workspace().join("crates")).expect("crates/").flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.iter().filter_map(|d| read_crate(d)).collect()
}

#[test]
fn no_source_file_imports_itself_through_others() {
    let crates = crates();
    assert!(crates.len() >= 10, "the workspace's crates were not found");
    let mut found = Vec::new();
    for krate in &crates {
        for circle in krate.circles() {
            found.push(format!("{}: {}", krate.name, circle.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "files that import each other in a circle:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("demo/src");
    std::fs::create_dir_all(src.join("commands")).unwrap();
    std::fs::write(src.join("main.rs"), "mod cli;\nmod commands;\npub use commands::Thing;\n").unwrap();
    std::fs::write(src.join("cli.rs"), "use crate::commands::{helper, run::{go, Args as A}};\n").unwrap();
    std::fs::write(src.join("commands/mod.rs"), "pub mod run;\npub use run::Thing;\npub fn helper() {}\n").unwrap();
    std::fs::write(src.join("commands/run.rs"), "// crate::cli is not an edge in a comment\npub struct Thing;\n")
        .unwrap();
    let krate = read_crate(&dir.path().join("demo")).unwrap();
    assert!(krate.circles().is_empty(), "{:?}", krate.circles());
    // A re-export resolves to its definition: main.rs names run.rs through `crate::Thing`.
    assert_eq!(krate.resolve(&vec!["Thing".into()], 0), Some(vec!["commands".into(), "run".into()]));
    std::fs::write(src.join("commands/run.rs"), "pub struct Thing;\nfn f() { crate::cli::x(); }\n").unwrap();
    let krate = read_crate(&dir.path().join("demo")).unwrap();
    let circles = krate.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(circles[0].iter().any(|f| f.ends_with("cli.rs")) && circles[0].iter().any(|f| f.ends_with("run.rs")));
}

#[test]
fn the_service_does_not_depend_on_the_evaluation_tools() {
    // `cargo tree` lists normal, build and dev dependencies, direct and indirect.
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "visage-server", "--prefix", "none", "--edges", "normal,build,dev"])
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tree.contains("visage v"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!tree.contains("visage-eval"), "visage-server pulls in visage-eval:\n{tree}");
}
