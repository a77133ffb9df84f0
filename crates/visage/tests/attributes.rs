//! Liveness, attributes and quality on real photos: LFW (../shared/data), NUAA print attacks
//! (../shared/data/antispoof-nuaa-dev) and the demo photos. Each test skips with a message when its
//! data is absent.

use image::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use visage::attributes::{AttributeSet, FaceAttributes};
use visage::core::decode_image;
use visage::detect::Detection;
use visage::infer::BackendKind;
use visage::quality::QualityPolicy;
use visage::{choose_face, AnalyzerConfig, FaceAnalyzer, FaceChoice};
use visage_testkit::{lfw_dir, models_home, sample_photos, shared_data};

fn analyzer() -> &'static FaceAnalyzer {
    static A: OnceLock<FaceAnalyzer> = OnceLock::new();
    A.get_or_init(|| {
        FaceAnalyzer::new(AnalyzerConfig {
            backend: Some(BackendKind::Ort),
            home: models_home(),
            progress: false,
            detector_options: visage::detect::DetectorOptions::default(),
            ..AnalyzerConfig::default()
        })
        .expect("analyzer")
    })
}

fn load(path: &Path) -> RgbImage {
    decode_image(&std::fs::read(path).unwrap(), &Default::default()).unwrap()
}

/// Every 97th LFW image listed in the gender labels (a spread of people), with its label.
fn lfw_sample(n: usize) -> Option<Vec<(PathBuf, bool)>> {
    let lfw = lfw_dir()?;
    let csv = lfw.join("../lfw-attributes/lfw_gender_afifi.csv");
    if !csv.is_file() {
        eprintln!("SKIPPED: no {}", csv.display());
        return None;
    }
    let text = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<(PathBuf, bool)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let male = match f.get(2).copied() {
                Some("male") => true,
                Some("female") => false,
                _ => return None,
            };
            Some((lfw.join("lfw-deepfunneled").join(f[0]), male))
        })
        .step_by(97)
        .take(n)
        .collect();
    Some(rows)
}

fn centred_face(a: &FaceAnalyzer, image: &RgbImage) -> Option<Detection> {
    let faces = a.detect(image).unwrap();
    choose_face(&faces, FaceChoice::Centred, image.width(), image.height()).ok().cloned()
}

fn attrs(image: &RgbImage, face: &Detection, set: AttributeSet) -> FaceAttributes {
    analyzer().attributes(image, face, set, None).unwrap()
}

fn mirror(image: &RgbImage) -> RgbImage {
    image::imageops::flip_horizontal(image)
}

#[test]
fn lfw_faces_are_mostly_frontal_adult_open_eyed_and_gender_is_right() {
    let Some(sample) = lfw_sample(80) else { return };
    let (mut yaws, mut ages, mut open, mut gender_ok, mut n) = (Vec::new(), Vec::new(), 0, 0, 0);
    for (path, male) in &sample {
        let image = load(path);
        let Some(face) = centred_face(analyzer(), &image) else { continue };
        let a = attrs(&image, &face, AttributeSet::ALL);
        n += 1;
        yaws.push(a.pose.unwrap().yaw.abs());
        ages.push(a.age.unwrap());
        let eyes = a.eyes.unwrap();
        open += (eyes.left_open || eyes.right_open) as usize;
        gender_ok += ((a.gender.unwrap().p_male >= 0.5) == *male) as usize;
        let e = a.expression.unwrap();
        assert!(visage::attributes::EXPRESSION_LABELS.contains(&e.label) && e.score > 1.0 / 7.0);
        let l = a.liveness.unwrap();
        assert!((0.0..=1.0).contains(&l.score));
    }
    assert!(n >= 75, "faces found in {n} of {} LFW images", sample.len());
    yaws.sort_by(f32::total_cmp);
    let frontal = yaws.iter().filter(|&&y| y < 20.0).count() as f32 / n as f32;
    eprintln!("LFW {n} faces: median |yaw| {:.1}, {:.0}% under 20 degrees", yaws[n / 2], frontal * 100.0);
    // LFW's news photos are mostly frontal (deep funneling does not change the head's pose).
    assert!(yaws[n / 2] < 12.0 && frontal > 0.8);
    ages.sort_by(f32::total_cmp);
    eprintln!("ages: min {:.0}, median {:.0}, max {:.0}", ages[0], ages[n / 2], ages[n - 1]);
    // Public figures, nearly all adults: a median between 25 and 60, none outside 5-95.
    assert!((25.0..60.0).contains(&ages[n / 2]) && ages[0] > 5.0 && ages[n - 1] < 95.0);
    eprintln!("at least one eye open on {open} of {n}; gender right on {gender_ok} of {n}");
    // The eye model calls both eyes closed on about 5% of LFW faces (see QualityPolicy).
    assert!(open as f32 / n as f32 > 0.9);
    assert!(gender_ok as f32 / n as f32 > 0.8);
}

#[test]
fn a_mirrored_face_turns_the_other_way() {
    let Some(sample) = lfw_sample(80) else { return };
    let mut checked = 0;
    for (path, _) in &sample {
        let image = load(path);
        let Some(face) = centred_face(analyzer(), &image) else { continue };
        let yaw = attrs(&image, &face, AttributeSet { pose: true, ..AttributeSet::NONE }).pose.unwrap().yaw;
        if yaw.abs() < 10.0 {
            continue;
        }
        let flipped = mirror(&image);
        let Some(mface) = centred_face(analyzer(), &flipped) else { continue };
        let myaw = attrs(&flipped, &mface, AttributeSet { pose: true, ..AttributeSet::NONE }).pose.unwrap().yaw;
        assert!(yaw.signum() != myaw.signum(), "{}: yaw {yaw:.1}, mirrored {myaw:.1}", path.display());
        assert!((yaw + myaw).abs() < 0.5 * yaw.abs().max(myaw.abs()), "{}: {yaw:.1} vs {myaw:.1}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} turned faces in the sample");
}

#[test]
fn yaw_sign_agrees_with_the_landmarks() {
    // Positive yaw: the face turns towards the image's left, so the nose tip sits left of the eyes'
    // midpoint. Checked on the demo photos' faces turned by more than 15 degrees.
    let mut checked = 0;
    for path in sample_photos() {
        let image = load(&path);
        for face in analyzer().detect(&image).unwrap().iter().filter(|f| f.bbox.min_side() >= 60.0) {
            let yaw = attrs(&image, face, AttributeSet { pose: true, ..AttributeSet::NONE }).pose.unwrap().yaw;
            if yaw.abs() < 15.0 {
                continue;
            }
            let [le, re, nose, ..] = face.landmarks;
            let offset = nose.x - (le.x + re.x) / 2.0;
            assert!(offset * yaw < 0.0, "{}: yaw {yaw:.1} but nose offset {offset:.1} px", path.display());
            checked += 1;
        }
    }
    eprintln!("{checked} turned faces checked");
    assert!(checked >= 2);
}

#[test]
fn printed_photos_score_lower_than_live_faces_on_nuaa() {
    let Some(data) = shared_data().map(|d| d.join("antispoof-nuaa-dev")).filter(|d| d.is_dir()) else {
        eprintln!("SKIPPED: ../shared/data/antispoof-nuaa-dev not found");
        return;
    };
    let score_dir = |sub: &str| -> Vec<f32> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(data.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
            .iter()
            .step_by(20)
            .filter_map(|p| {
                let image = load(p);
                let faces = analyzer().detect(&image).unwrap();
                let face = choose_face(&faces, FaceChoice::Largest, image.width(), image.height()).ok()?;
                Some(analyzer().liveness(&image, face, None).unwrap().score)
            })
            .collect()
    };
    let (live, spoof) = (score_dir("real"), score_dir("spoof"));
    assert!(live.len() >= 20 && spoof.len() >= 20);
    let wins: usize = live.iter().map(|l| spoof.iter().filter(|s| l > s).count()).sum();
    let auc = wins as f64 / (live.len() * spoof.len()) as f64;
    eprintln!("NUAA sample: {} live, {} spoof, AUC {auc:.3}", live.len(), spoof.len());
    assert!(auc > 0.9);
}

#[test]
fn grey_border_and_tiny_faces_work_or_say_why() {
    let Some(sample) = lfw_sample(3) else { return };
    let image = load(&sample[0].0);
    let criteria = QualityPolicy::default();
    // Grey: decoded to RGB with equal channels; every model still runs.
    let grey = image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(image.clone()).to_luma8()).to_rgb8();
    let reports = analyzer().analyze_faces(&grey, AttributeSet::ALL, None, &criteria).unwrap();
    assert!(!reports.is_empty() && reports.iter().all(|r| r.attributes.age.is_some()));
    // At the border: the left half of the face cut away.
    let face = centred_face(analyzer(), &image).unwrap();
    let cut = image::imageops::crop_imm(&image, face.bbox.center().x as u32, 0, 250 - face.bbox.center().x as u32, 250)
        .to_image();
    for r in analyzer().analyze_faces(&cut, AttributeSet::ALL, None, &criteria).unwrap() {
        assert!(r.attributes.liveness.is_some() && r.attributes.pose.is_some());
    }
    // Tiny: the face shrunk to about 20 px is analysed and refused by quality with the reason.
    let small = image::imageops::resize(&image, 50, 50, image::imageops::FilterType::Triangle);
    let reports = analyzer().analyze_faces(&small, AttributeSet::ALL, None, &criteria).unwrap();
    for r in &reports {
        assert!(!r.quality.ok && r.quality.reasons.iter().any(|m| m.contains("px, below")), "{:?}", r.quality);
    }
}
