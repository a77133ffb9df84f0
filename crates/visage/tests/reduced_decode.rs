//! Large JPEGs decoded at a reduced DCT scale for detection, faces cropped at full detail
//! (`visage::photo`): the same people as the full-size path, on real photos and their 12-megapixel
//! enlargements, with EXIF orientation, grey JPEGs and truncated files.

use image::{DynamicImage, ImageEncoder, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use visage::core::{cosine_similarity, decode_image};
use visage::detect::Detection;
use visage::infer::BackendKind;
use visage::{AnalyzerConfig, FaceAnalyzer, FaceChoice};
use visage_testkit::{models_home, sample_photos};

fn analyzer() -> &'static FaceAnalyzer {
    static A: OnceLock<FaceAnalyzer> = OnceLock::new();
    A.get_or_init(|| {
        let config = AnalyzerConfig {
            backend: Some(BackendKind::Ort),
            home: models_home(),
            progress: false,
            ..Default::default()
        };
        FaceAnalyzer::new(config).expect("analyzer")
    })
}

/// The full-size path: the whole image decoded, detected, aligned and embedded.
fn full_path(path: &Path) -> (Vec<Detection>, Vec<Vec<f32>>) {
    let a = analyzer();
    let image = a.load(path).unwrap();
    let faces = a.detect(&image).unwrap();
    let (embeddings, ..) = a.embed_detections(&image, &faces).unwrap();
    (faces, embeddings)
}

/// `image` enlarged by `factor` and written as a JPEG (quality 92) with an optional EXIF block.
fn write_jpeg(image: &RgbImage, factor: f32, exif: Option<Vec<u8>>, out: &Path) -> PathBuf {
    let (w, h) = ((image.width() as f32 * factor) as u32, (image.height() as f32 * factor) as u32);
    let big = visage::core::tensor::resize_rgb(image, w, h);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 92);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).unwrap();
    }
    encoder.write_image(big.as_raw(), w, h, image::ExtendedColorType::Rgb8).unwrap();
    out.to_path_buf()
}

/// Checks that the reduced path finds the faces of the full path with embeddings at cosine >= 0.99.
fn assert_same_people(path: &Path) {
    let a = analyzer();
    let (full_faces, full_embeddings) = full_path(path);
    let reduced = a.analyze(path, true).unwrap();
    assert_eq!(reduced.faces.len(), full_faces.len(), "{}: face count", path.display());
    assert!(!full_faces.is_empty(), "{}: no face", path.display());
    for (f, e) in full_faces.iter().zip(&full_embeddings) {
        let best = reduced.faces.iter().max_by(|p, q| iou(f, p.bbox).total_cmp(&iou(f, q.bbox))).expect("faces");
        assert!(iou(f, best.bbox) > 0.8, "{}: box moved ({} IoU)", path.display(), iou(f, best.bbox));
        let cos = cosine_similarity(e, best.embedding.as_ref().unwrap());
        eprintln!("{}: face at {:?}: cosine {cos:.4} to the full path", path.display(), f.bbox);
        assert!(cos >= 0.99, "{}: face at {:?} embeds at cosine {cos} from the full path", path.display(), f.bbox);
    }
}

fn iou(d: &Detection, b: [f32; 4]) -> f32 {
    d.bbox.iou(&visage::core::BBox::new(b[0], b[1], b[2], b[3]))
}

#[test]
fn real_photos_decode_reduced_and_give_the_same_people() {
    for path in sample_photos() {
        // 1920-pixel photos: the detector works at 640, so they decode at half size.
        let photo = analyzer().open(&path).unwrap();
        assert!(!photo.decoded().is_full(), "{} was decoded in full", path.display());
        assert_same_people(&path);
    }
}

#[test]
fn twelve_megapixel_enlargements_give_the_same_people() {
    let dir = tempfile::tempdir().unwrap();
    for (i, path) in sample_photos().iter().enumerate().take(3) {
        let big = write_jpeg(
            &decode_image(&std::fs::read(path).unwrap(), &Default::default()).unwrap(),
            2.1,
            None,
            &dir.path().join(format!("{i}.jpg")),
        );
        let photo = analyzer().open(&big).unwrap();
        assert!(photo.decoded().image.width() * 3 < photo.width(), "{}: not decoded at a quarter", big.display());
        assert_same_people(&big);
    }
}

#[test]
fn a_large_face_is_cropped_from_the_reduced_decode() {
    // A portrait: one face filling much of a 12-megapixel frame needs no second, finer decode.
    let a = analyzer();
    let dir = tempfile::tempdir().unwrap();
    let image = a.load(&sample_photos()[0]).unwrap();
    let face = a.detect(&image).unwrap().remove(0);
    let b = face.bbox;
    let (x, y) = ((b.x1 - b.width()).max(0.0) as u32, (b.y1 - b.height()).max(0.0) as u32);
    let side = ((b.width().max(b.height()) * 3.0) as u32).min(image.width() - x).min(image.height() - y);
    let crop = image::imageops::crop_imm(&image, x, y, side, side).to_image();
    let big = write_jpeg(&crop, 3500.0 / side as f32, None, &dir.path().join("portrait.jpg"));
    let photo = a.open(&big).unwrap();
    let faces = a.detect_photo(&photo).unwrap();
    assert_eq!(faces.len(), 1);
    let view = a.detail(&photo, &faces).unwrap();
    assert!(matches!(view.image, std::borrow::Cow::Borrowed(_)), "a second decode was made for a large face");
    assert!(view.image.width() < photo.width() / 2);
    let reduced = a.embed_one(&big, FaceChoice::Single).unwrap();
    let (_, full) = full_path(&big);
    let cos = cosine_similarity(&reduced.embedding, &full[0]);
    assert!(cos >= 0.99, "portrait embeds at cosine {cos} from the full path");
}

#[test]
fn small_faces_get_a_finer_second_decode() {
    // Faces of a 1920-pixel group photo need more than the half-size detection decode.
    let a = analyzer();
    let photo = a.open(&sample_photos()[4]).unwrap();
    let faces = a.detect_photo(&photo).unwrap();
    let view = a.detail(&photo, &faces).unwrap();
    assert!(
        matches!(view.image, std::borrow::Cow::Owned(_)) && view.image.width() > photo.decoded().image.width(),
        "small faces were aligned from the detection decode"
    );
}

/// A little-endian EXIF block holding only an orientation tag.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"II*\0".to_vec();
    e.extend_from_slice(&8u32.to_le_bytes());
    e.extend_from_slice(&1u16.to_le_bytes());
    e.extend_from_slice(&0x0112u16.to_le_bytes());
    e.extend_from_slice(&3u16.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&value.to_le_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    e
}

#[test]
fn exif_rotated_grey_and_truncated_large_jpegs() {
    let a = analyzer();
    let dir = tempfile::tempdir().unwrap();
    let upright = a.load(&sample_photos()[0]).unwrap();
    // Stored turned a quarter to the left, with EXIF orientation 6 (turn right to view): the faces
    // come out where they are in the upright photo, scaled 2.1 times.
    let stored = DynamicImage::ImageRgb8(upright.clone()).rotate270().into_rgb8();
    let rotated = write_jpeg(&stored, 2.1, Some(exif_orientation(6)), &dir.path().join("rotated.jpg"));
    let r = a.analyze(&rotated, false).unwrap();
    assert_eq!((r.width, r.height), ((upright.width() as f32 * 2.1) as u32, (upright.height() as f32 * 2.1) as u32));
    let plain = a.detect(&upright).unwrap();
    assert_eq!(r.faces.len(), plain.len());
    for f in &plain {
        let scaled = f.bbox.scale(2.1, 2.1).to_array();
        assert!(r.faces.iter().any(|g| iou(
            &Detection { bbox: visage::core::BBox::new(g.bbox[0], g.bbox[1], g.bbox[2], g.bbox[3]), ..f.clone() },
            scaled
        ) > 0.8));
    }

    let grey = DynamicImage::ImageRgb8(upright).into_luma8();
    let grey_path = dir.path().join("grey.jpg");
    DynamicImage::ImageLuma8(grey).save(&grey_path).unwrap();
    assert!(!a.open(&grey_path).unwrap().decoded().is_full());
    assert_same_people(&grey_path);

    let bytes = std::fs::read(&rotated).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = a.analyze(&cut, true).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}
