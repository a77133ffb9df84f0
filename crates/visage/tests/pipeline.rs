//! The pipeline end to end on real photos and real models, on both backends.

use image::{DynamicImage, RgbImage};
use std::path::Path;
use std::sync::OnceLock;
use visage::core::{decode_image, BBox};
use visage::detect::{Detection, DetectorKind};
use visage::infer::BackendKind;
use visage::{AnalyzerConfig, FaceAnalyzer, FaceChoice};
use visage_testkit::{lfw_dir, models_home, sample_photos};

/// Faces in each demo photo, counted by eye.
const FACES_PER_PHOTO: [usize; 6] = [3, 3, 3, 4, 5, 4];

fn analyzer(backend: BackendKind, detector: DetectorKind) -> FaceAnalyzer {
    FaceAnalyzer::new(AnalyzerConfig {
        backend: Some(backend),
        detector,
        home: models_home(),
        progress: false,
        ..AnalyzerConfig::default()
    })
    .expect("analyzer")
}

fn ort() -> &'static FaceAnalyzer {
    static A: OnceLock<FaceAnalyzer> = OnceLock::new();
    A.get_or_init(|| analyzer(BackendKind::Ort, DetectorKind::CenterFace))
}

fn load(path: &Path) -> RgbImage {
    decode_image(&std::fs::read(path).unwrap(), &Default::default()).unwrap()
}

/// Pairs each face of `a` with the best-overlapping face of `b`.
fn matched<'a>(a: &'a [Detection], b: &'a [Detection]) -> Vec<(&'a Detection, &'a Detection, f32)> {
    a.iter()
        .map(|x| {
            let best = b.iter().max_by(|p, q| x.bbox.iou(&p.bbox).total_cmp(&x.bbox.iou(&q.bbox))).expect("faces");
            (x, best, x.bbox.iou(&best.bbox))
        })
        .collect()
}

#[test]
fn centerface_finds_every_face_in_the_demo_photos() {
    for (path, expected) in sample_photos().iter().zip(FACES_PER_PHOTO) {
        let image = load(path);
        let faces = ort().detect(&image).unwrap();
        assert_eq!(faces.len(), expected, "{}", path.display());
        for f in &faces {
            let b = f.bbox;
            assert!(b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= image.width() as f32 && b.y2 <= image.height() as f32);
            assert!(f.score > 0.5 && f.score <= 1.0);
            // Eyes above the nose, nose above the mouth, left eye left of the right eye.
            let [le, re, nose, lm, rm] = f.landmarks;
            assert!(le.x < re.x && lm.x < rm.x, "{}: landmark order", path.display());
            assert!(le.y.max(re.y) < nose.y && nose.y < lm.y.min(rm.y) + 5.0, "{}: vertical order", path.display());
            assert!(f.landmarks.iter().all(|p| p.x >= b.x1 - 5.0 && p.x <= b.x2 + 5.0));
        }
    }
}

#[test]
fn ort_and_tract_give_the_same_boxes_and_embeddings() {
    let tract = analyzer(BackendKind::Tract, DetectorKind::CenterFace);
    let mut max_emb_diff = 0.0f32;
    for path in &sample_photos()[..2] {
        let image = load(path);
        let a = ort().detect(&image).unwrap();
        let b = tract.detect(&image).unwrap();
        assert_eq!(a.len(), b.len(), "{}", path.display());
        for (x, y, _) in matched(&a, &b) {
            for (p, q) in x.bbox.to_array().iter().zip(y.bbox.to_array()) {
                assert!((p - q).abs() < 0.05, "{}: box {p} vs {q}", path.display());
            }
            assert!((x.score - y.score).abs() < 1e-3);
        }
        let (ea, ..) = ort().embed_detections(&image, &a).unwrap();
        let (eb, ..) = tract.embed_detections(&image, &a).unwrap();
        for (u, v) in ea.iter().zip(&eb) {
            let d = u.iter().zip(v).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
            max_emb_diff = max_emb_diff.max(d);
        }
    }
    assert!(max_emb_diff <= 1e-3, "max abs embedding difference {max_emb_diff}");
}

#[test]
fn ultraface_with_68_landmarks_agrees_with_centerface() {
    let ultra = analyzer(BackendKind::Ort, DetectorKind::UltraFace);
    for (path, expected) in sample_photos().iter().zip(FACES_PER_PHOTO) {
        let image = load(path);
        let c = ort().detect(&image).unwrap();
        let u = ultra.detect(&image).unwrap();
        assert_eq!(u.len(), expected, "{}", path.display());
        for (x, y, iou) in matched(&c, &u) {
            assert!(iou > 0.5, "{}: IoU {iou}", path.display());
            assert_eq!(y.landmarks68.as_ref().map(Vec::len), Some(68));
            // The 5 points from the 68-point model land near CenterFace's (within 15% of the face).
            let size = x.bbox.height();
            for (p, q) in x.landmarks.iter().zip(&y.landmarks) {
                let d = ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt();
                assert!(d < 0.15 * size, "{}: landmark off by {d:.1} px on a {size:.0} px face", path.display());
            }
        }
    }
}

#[test]
fn blazeface_finds_the_large_faces_of_the_demo_photos() {
    let ort_blaze = analyzer(BackendKind::Ort, DetectorKind::BlazeFace);
    for path in sample_photos() {
        let image = load(&path);
        let c = ort().detect(&image).unwrap();
        let b = ort_blaze.detect(&image).unwrap();
        // A short-range model on 2-megapixel group photos: it finds the larger faces, not all of them.
        assert!(!b.is_empty() && b.len() <= c.len(), "{}: {} of {} faces", path.display(), b.len(), c.len());
        for (x, y, iou) in matched(&b, &c) {
            // Each face found is one CenterFace found: its box holds that face's centre. BlazeFace's
            // square boxes are larger than CenterFace's, so the overlap itself is lower.
            let centre = y.bbox.center();
            let holds =
                x.bbox.x1 <= centre.x && centre.x <= x.bbox.x2 && x.bbox.y1 <= centre.y && centre.y <= x.bbox.y2;
            assert!(holds && iou > 0.15, "{}: IoU {iou}, {:?} vs {:?}", path.display(), x.bbox, y.bbox);
        }
    }
    // tract cannot run it: a clear error, not a failure at the first image.
    let config = AnalyzerConfig {
        backend: Some(BackendKind::Tract),
        detector: DetectorKind::BlazeFace,
        home: models_home(),
        progress: false,
        ..AnalyzerConfig::default()
    };
    let err = FaceAnalyzer::new(config).err().expect("refused on tract").to_string();
    assert!(err.contains("--backend ort"), "{err}");
}

#[test]
fn blazeface_key_points_give_centerfaces_five_points_on_faces_in_its_range() {
    // On the demo photos a face is about 15 pixels of BlazeFace's 128x128 input, too small for precise
    // key points; LFW's faces (about 50 input pixels) are in its range.
    let Some(lfw) = lfw_dir() else { return };
    let blaze = analyzer(BackendKind::Ort, DetectorKind::BlazeFace);
    let people = ["George_W_Bush", "Colin_Powell", "Serena_Williams", "Hugo_Chavez", "Gloria_Macapagal_Arroyo"];
    for name in people {
        let path = lfw.join("lfw-deepfunneled").join(name).join(format!("{name}_0001.jpg"));
        let image = load(&path);
        let c = ort().detect(&image).unwrap();
        let b = blaze.detect(&image).unwrap();
        let (x, y, _) = matched(&b, &c).into_iter().next().unwrap_or_else(|| panic!("{name}: no face"));
        let eyes = y.landmarks[1].x - y.landmarks[0].x;
        for (k, (p, q)) in x.landmarks.iter().zip(&y.landmarks).enumerate() {
            let d = ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt();
            assert!(d < 0.25 * eyes, "{name}: point {k} off by {d:.1} px (eye distance {eyes:.0} px)");
        }
    }
}

fn embed_all(a: &FaceAnalyzer, image: &RgbImage) -> (Vec<Detection>, Vec<Vec<f32>>) {
    let faces = a.detect(image).unwrap();
    let (e, ..) = a.embed_detections(image, &faces).unwrap();
    (faces, e)
}

#[test]
fn different_people_in_one_photo_do_not_match_and_a_mirror_image_does() {
    let v = ort().verifier();
    for path in &sample_photos()[..3] {
        let image = load(path);
        let (faces, emb) = embed_all(ort(), &image);
        for i in 0..emb.len() {
            for j in i + 1..emb.len() {
                assert!(!v.verify(&emb[i], &emb[j]).is_match, "{}: faces {i} and {j} matched", path.display());
            }
        }
        // The mirrored photo: the same people, so each face matches its mirrored self.
        let mirrored = image::imageops::flip_horizontal(&image);
        let (mfaces, memb) = embed_all(ort(), &mirrored);
        assert_eq!(mfaces.len(), faces.len());
        for (f, e) in faces.iter().zip(&emb) {
            let w = image.width() as f32;
            let flipped = BBox::new(w - f.bbox.x2, f.bbox.y1, w - f.bbox.x1, f.bbox.y2);
            let k = (0..mfaces.len())
                .max_by(|&a, &b| flipped.iou(&mfaces[a].bbox).total_cmp(&flipped.iou(&mfaces[b].bbox)))
                .unwrap();
            let r = v.verify(e, &memb[k]);
            assert!(r.is_match, "{}: mirrored face similarity {}", path.display(), r.similarity);
        }
    }
}

/// A JPEG of `image` rotated 90° clockwise with an EXIF block saying "rotate 90° clockwise to view"
/// (orientation 6), as phone cameras write them: the upright view is the original image.
fn exif_rotated_jpeg(image: &RgbImage) -> Vec<u8> {
    let stored = image::imageops::rotate270(image);
    let mut jpeg = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(stored).write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    // APP1 "Exif": little-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, 1, value 6.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&6u16.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_before_detection() {
    let path = &sample_photos()[2];
    let image = load(path);
    let upright = ort().detect(&image).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rotated_path = dir.path().join("rotated.jpg");
    std::fs::write(&rotated_path, exif_rotated_jpeg(&image)).unwrap();
    let decoded = ort().load(&rotated_path).unwrap();
    assert_eq!(decoded.dimensions(), image.dimensions(), "EXIF orientation 6 turns the stored image upright");
    let faces = ort().detect(&decoded).unwrap();
    assert_eq!(faces.len(), upright.len());
    for (_, _, iou) in matched(&upright, &faces) {
        assert!(iou > 0.8, "IoU {iou}");
    }
}

#[test]
fn grey_rgba_and_16_bit_photos_give_the_same_faces() {
    let path = &sample_photos()[0];
    let image = load(path);
    let colour = ort().detect(&image).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let variants = [
        ("grey.png", DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(image.clone()).to_luma8())),
        ("rgba.png", DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(image.clone()).to_rgba8())),
        ("deep.png", DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(image.clone()).to_rgb16())),
    ];
    for (name, img) in variants {
        let p = dir.path().join(name);
        img.save(&p).unwrap();
        let decoded = ort().load(&p).unwrap();
        let faces = ort().detect(&decoded).unwrap();
        assert_eq!(faces.len(), colour.len(), "{name}");
        for (_, _, iou) in matched(&colour, &faces) {
            assert!(iou > 0.7, "{name}: IoU {iou}");
        }
    }
}

#[test]
fn faces_cut_by_the_image_border_stay_inside_and_embed() {
    let image = load(&sample_photos()[0]);
    let faces = ort().detect(&image).unwrap();
    let f = &faces[0];
    // Crop so the image ends in the middle of the first face.
    let cut_x = ((f.bbox.x1 + f.bbox.x2) / 2.0) as u32;
    let crop = image::imageops::crop_imm(&image, cut_x, 0, image.width() - cut_x, image.height()).to_image();
    let found = ort().detect(&crop).unwrap();
    for d in &found {
        assert!(d.bbox.x1 >= 0.0 && d.bbox.x2 <= crop.width() as f32);
    }
    let (emb, ..) = ort().embed_detections(&crop, &found).unwrap();
    assert!(emb.iter().all(|e| e.len() == 512 && e.iter().all(|v| v.is_finite())));
}

#[test]
fn lfw_pairs_of_one_fold_verify_correctly() {
    let Some(lfw) = lfw_dir() else { return };
    let text = std::fs::read_to_string(lfw.join("pairs.csv")).unwrap();
    let (mut right, mut total) = (0, 0);
    for line in text.lines().skip(1).filter(|l| l.starts_with("0,")).step_by(3) {
        let f: Vec<&str> = line.split(',').collect();
        let a = ort().embed_one(lfw.join("lfw-deepfunneled").join(f[2]), FaceChoice::Centred).unwrap();
        let b = ort().embed_one(lfw.join("lfw-deepfunneled").join(f[3]), FaceChoice::Centred).unwrap();
        let same = ort().verifier().verify(&a.embedding, &b.embedding).is_match;
        right += usize::from(same == (f[1] == "1"));
        total += 1;
    }
    assert_eq!(total, 200);
    // At the default threshold (FAR 1e-3 on LFW) about 98% of genuine pairs and ~100% of impostors pass.
    assert!(right as f64 / total as f64 >= 0.97, "{right}/{total}");
}

#[test]
fn embeddings_are_unit_length_and_batched_like_single() {
    let image = load(&sample_photos()[4]);
    let faces = ort().detect(&image).unwrap();
    let (batch, ..) = ort().embed_detections(&image, &faces).unwrap();
    for (f, e) in faces.iter().zip(&batch) {
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        let (single, ..) = ort().embed_detections(&image, std::slice::from_ref(f)).unwrap();
        let d = single[0].iter().zip(e).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        assert!(d < 1e-4, "batched and single embeddings differ by {d}");
    }
}
