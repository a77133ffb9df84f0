//! Micro-benchmarks of the model-free stages: decoding, resizing, alignment, NMS.
//! `cargo bench -p visage-core` (uses ../shared/data/lfw when present, else a synthetic image).

use criterion::{criterion_group, criterion_main, Criterion};
use image::{Rgb, RgbImage};
use std::hint::black_box;
use visage_core::tensor::{push_nchw, resize_rgb};
use visage_core::{align_face, decode_image, nms, BBox, LoadOptions, Point};

fn sample_jpeg() -> Vec<u8> {
    let lfw = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/lfw/lfw-deepfunneled/Aaron_Eckhart/Aaron_Eckhart_0001.jpg");
    std::fs::read(&lfw).unwrap_or_else(|_| {
        let img = RgbImage::from_fn(250, 250, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8]));
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Jpeg).unwrap();
        buf.into_inner()
    })
}

fn benches(c: &mut Criterion) {
    let jpeg = sample_jpeg();
    let opts = LoadOptions::default();
    c.bench_function("decode 250x250 jpeg", |b| b.iter(|| decode_image(black_box(&jpeg), &opts).unwrap()));
    let img = decode_image(&jpeg, &opts).unwrap();
    c.bench_function("resize 250x250 -> 128x128", |b| b.iter(|| resize_rgb(black_box(&img), 128, 128)));
    let lm = [
        Point::new(100.0, 110.0),
        Point::new(150.0, 108.0),
        Point::new(125.0, 140.0),
        Point::new(105.0, 165.0),
        Point::new(147.0, 163.0),
    ];
    c.bench_function("align 5 points -> 112x112", |b| b.iter(|| align_face(black_box(&img), &lm).unwrap()));
    let crop = align_face(&img, &lm).unwrap().0;
    c.bench_function("nchw 112x112", |b| {
        b.iter(|| {
            let mut v = Vec::with_capacity(3 * 112 * 112);
            push_nchw(black_box(&crop), 127.0, 1.0 / 128.0, &mut v);
            v
        })
    });
    let boxes: Vec<(BBox, f32)> = (0..200)
        .map(|i| {
            let x = (i % 20) as f32 * 7.0;
            let y = (i / 20) as f32 * 9.0;
            (BBox::new(x, y, x + 30.0, y + 30.0), (i as f32 * 0.37) % 1.0)
        })
        .collect();
    c.bench_function("nms 200 boxes", |b| b.iter(|| nms(black_box(boxes.clone()), 0.3, |&(b, s)| (b, s))));
}

criterion_group!(core, benches);
criterion_main!(core);
