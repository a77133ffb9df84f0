//! Labelled image pairs for calibration and fairness: a CSV `img1,img2,label`, or LFW's `pairs.csv` or
//! `pairs.txt`, recognised by their first line.

use std::path::{Path, PathBuf};

/// Two images and whether they show the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledPair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub genuine: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line}: {reason}")]
    Format { path: PathBuf, line: usize, reason: String },
    #[error("{path}: no pairs")]
    Empty { path: PathBuf },
}

/// Reads a pairs file. Formats, told apart by the first line:
/// - `fold,label,img1,img2` header: LFW's `pairs.csv`, paths relative to `lfw-deepfunneled/` beside it;
/// - two numbers (`10 300`): LFW's `pairs.txt` (`name i j` genuine, `name1 i name2 j` impostor);
/// - otherwise `img1,img2,label` (label 1 or `same` for the same person, 0 or `different` otherwise),
///   with an optional header; relative paths are relative to the CSV's folder.
pub fn read_pairs_file(path: &Path) -> Result<Vec<LabelledPair>, PairsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PairsError::Io { path: path.into(), source })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let pairs = if first.replace(' ', "").starts_with("fold,label,img1,img2") {
        read_lfw_csv(path, &text, &base.join("lfw-deepfunneled"))?
    } else if is_lfw_txt_header(first) {
        read_lfw_txt(path, &text, &base.join("lfw-deepfunneled"))?
    } else {
        read_plain_csv(path, &text, base)?
    };
    if pairs.is_empty() {
        return Err(PairsError::Empty { path: path.into() });
    }
    Ok(pairs)
}

fn is_lfw_txt_header(line: &str) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.len() == 2 && fields.iter().all(|f| f.parse::<usize>().is_ok())
}

fn format_error(path: &Path, line: usize, reason: impl Into<String>) -> PairsError {
    PairsError::Format { path: path.into(), line, reason: reason.into() }
}

fn label(path: &Path, line: usize, text: &str) -> Result<bool, PairsError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "same" | "true" | "genuine" => Ok(true),
        "0" | "different" | "false" | "impostor" => Ok(false),
        other => Err(format_error(path, line, format!("label '{other}' is not 1/0 (same/different)"))),
    }
}

fn read_lfw_csv(path: &Path, text: &str, images: &Path) -> Result<Vec<LabelledPair>, PairsError> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [_, l, a, b] = fields[..] else {
            return Err(format_error(path, i + 1, "expected fold,label,img1,img2"));
        };
        pairs.push(LabelledPair { a: images.join(a), b: images.join(b), genuine: label(path, i + 1, l)? });
    }
    Ok(pairs)
}

fn read_lfw_txt(path: &Path, text: &str, images: &Path) -> Result<Vec<LabelledPair>, PairsError> {
    let image = |name: &str, n: &str, line: usize| -> Result<PathBuf, PairsError> {
        let n: u32 = n.parse().map_err(|_| format_error(path, line, format!("'{n}' is not an image number")))?;
        Ok(images.join(name).join(format!("{name}_{n:04}.jpg")))
    };
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [] => continue,
            [name, x, y] => {
                pairs.push(LabelledPair { a: image(name, x, i + 1)?, b: image(name, y, i + 1)?, genuine: true })
            }
            [n1, x, n2, y] => {
                pairs.push(LabelledPair { a: image(n1, x, i + 1)?, b: image(n2, y, i + 1)?, genuine: false })
            }
            _ => return Err(format_error(path, i + 1, "expected `name i j` or `name1 i name2 j`")),
        }
    }
    Ok(pairs)
}

fn read_plain_csv(path: &Path, text: &str, base: &Path) -> Result<Vec<LabelledPair>, PairsError> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [a, b, l] = fields[..] else {
            return Err(format_error(path, i + 1, "expected img1,img2,label"));
        };
        let genuine = match label(path, i + 1, l) {
            Ok(g) => g,
            // A header line.
            Err(_) if pairs.is_empty() && i == 0 => continue,
            Err(e) => return Err(e),
        };
        pairs.push(LabelledPair { a: base.join(a), b: base.join(b), genuine });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_formats() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("mine.csv");
        std::fs::write(&csv, "img1,img2,label\na.jpg,b.jpg,1\n/abs/c.jpg,d.jpg,different\n").unwrap();
        let pairs = read_pairs_file(&csv).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].a, dir.path().join("a.jpg"));
        assert!(pairs[0].genuine && !pairs[1].genuine);
        assert_eq!(pairs[1].a, PathBuf::from("/abs/c.jpg"));

        let txt = dir.path().join("pairs.txt");
        std::fs::write(&txt, "1 1\nAaron 1 2\nAaron 1 Zoe 3\n").unwrap();
        let pairs = read_pairs_file(&txt).unwrap();
        assert_eq!(pairs[0].b, dir.path().join("lfw-deepfunneled/Aaron/Aaron_0002.jpg"));
        assert!(pairs[0].genuine && !pairs[1].genuine);
        assert_eq!(pairs[1].b, dir.path().join("lfw-deepfunneled/Zoe/Zoe_0003.jpg"));

        let lfw = dir.path().join("pairs.csv");
        std::fs::write(&lfw, "fold,label,img1,img2\n0,0,A/A_0001.jpg,B/B_0001.jpg\n").unwrap();
        let pairs = read_pairs_file(&lfw).unwrap();
        assert_eq!(pairs[0].a, dir.path().join("lfw-deepfunneled/A/A_0001.jpg"));
        assert!(!pairs[0].genuine);

        std::fs::write(&csv, "a.jpg,b.jpg,1\na.jpg,b.jpg,maybe\n").unwrap();
        assert!(matches!(read_pairs_file(&csv), Err(PairsError::Format { line: 2, .. })));
        std::fs::write(&csv, "img1,img2,label\n").unwrap();
        assert!(matches!(read_pairs_file(&csv), Err(PairsError::Empty { .. })));
    }
}
