//! `visage bench-photos` as a user runs it: enlarged photos are made once into the cache folder, and
//! visage is timed in-process (steady state) and as `visage embed` and `visage library scan` commands
//! (the Python reference is left out here).

use serde_json::Value;
use visage_testkit::{path_str, run, sample_photos, Sandbox};

#[test]
fn bench_photos_makes_large_photos_and_times_embed_and_scan() {
    let cache = tempfile::tempdir().unwrap();
    let demo = sample_photos()[0].parent().unwrap().to_path_buf();
    let mut cmd = Sandbox::shared().command(env!("CARGO_BIN_EXE_visage"));
    cmd.env_remove("VISAGE_BACKEND");
    let args = [
        "bench-photos",
        "--crowds",
        path_str(&demo),
        "--portraits",
        path_str(&demo),
        "--count",
        "2",
        "--megapixels",
        "4",
        "--cache",
        path_str(cache.path()),
        "--reference",
        "none",
        "--workers",
        "2",
        "--json",
    ];
    let out = run(cmd, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let sets = report["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    for set in sets {
        assert_eq!(set["photos"], 2);
        for side in ["visage_embed", "visage_library_scan"] {
            let ips = set[side]["images_per_second"].as_f64().unwrap();
            assert!(ips > 0.0 && ips.is_finite(), "{side}: {ips}");
        }
        // visage timed in-process as the reference times itself: throughput, CPU time, stages.
        let steady = &set["visage"];
        for key in ["images_per_second", "cpu_ms_per_image"] {
            let v = steady[key].as_f64().unwrap();
            assert!(v > 0.0 && v.is_finite(), "visage {key}: {v}");
        }
        for stage in ["decode", "detect", "align", "embed"] {
            assert!(steady["stage_ms"][stage].as_f64().unwrap() >= 0.0, "stage {stage}");
        }
        assert!(steady["stage_ms"]["detect"].as_f64().unwrap() > 0.0);
        assert!(steady["faces"].as_u64().unwrap() > 0);
        assert!(set["reference"].is_null());
        // Two photos enlarged to about 4 megapixels, as JPEGs.
        let folder = std::path::Path::new(set["folder"].as_str().unwrap());
        let made: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(made.len(), 2, "{made:?}");
        for p in made {
            let (w, h) = image::image_dimensions(&p).unwrap();
            let mp = w as f64 * h as f64 / 1e6;
            assert!((3.9..=4.0).contains(&mp), "{}: {mp} MP", p.display());
        }
    }
    assert!(report["load_average_before"].is_array());
}
