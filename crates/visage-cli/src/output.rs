//! Printing: JSON and progress bars.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Prints one JSON value on one line (so several images give JSON Lines).
pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    println!("{}", serde_json::to_string(value).expect("serialisable"));
}

/// A progress bar on stderr; invisible when stderr is not a terminal.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(len: u64, message: &str) -> Progress {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        Progress(bar)
    }

    pub fn inc(&self) {
        self.0.inc(1);
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// `OUT/<stem>.png`, numbered when two inputs share a name (a/x.jpg and b/x.jpg).
pub fn draw_target(out: &Path, image: &Path, used: &mut std::collections::HashSet<String>) -> PathBuf {
    let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let mut name = format!("{stem}.png");
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{n}.png");
        n += 1;
    }
    out.join(name)
}
