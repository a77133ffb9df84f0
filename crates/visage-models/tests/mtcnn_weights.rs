//! facenet-pytorch's MTCNN weights, read in Rust: the legacy `.pt` reader on the real files (taken out
//! of the wheel with pip, checked against the manifest), every tensor's shape, the ONNX graphs built
//! from them, and clear errors for damaged files.

use std::path::PathBuf;
use std::sync::OnceLock;
use visage_models::mtcnn_onnx::{build, MtcnnNet};
use visage_models::torch_legacy::{read_state_dict, TorchError};
use visage_models::{ids, sha256_bytes, Installer, Manifest, ModelHome};

/// Model id and bytes of the three `.pt` files.
type Shipped = [(String, Vec<u8>); 3];

/// The three `.pt` files as shipped, fetched once per test process into a temporary folder.
fn shipped() -> &'static Shipped {
    static FILES: OnceLock<(tempfile::TempDir, Shipped)> = OnceLock::new();
    &FILES
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let installer =
                Installer::new(ModelHome::at(tmp.path().join("home")), Manifest::default_pack()).with_progress(false);
            let ids = [ids::MTCNN_PNET, ids::MTCNN_RNET, ids::MTCNN_ONET];
            let paths: Vec<PathBuf> = installer
                .write_shipped(&ids, &tmp.path().join("shipped"))
                .unwrap_or_else(|e| panic!("cannot take the MTCNN weights out of facenet-pytorch: {e}"));
            let files = std::array::from_fn(|i| (ids[i].to_string(), std::fs::read(&paths[i]).unwrap()));
            (tmp, files)
        })
        .1
}

fn shapes(bytes: &[u8]) -> Vec<(String, Vec<usize>)> {
    read_state_dict(bytes).unwrap().tensors.into_iter().map(|(n, t)| (n, t.shape)).collect()
}

fn expect(list: &[(&str, &[usize])]) -> Vec<(String, Vec<usize>)> {
    list.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
}

#[test]
fn every_tensor_of_the_three_networks_has_its_shape() {
    let [pnet, rnet, onet] = shipped();
    assert_eq!(
        shapes(&pnet.1),
        expect(&[
            ("conv1.weight", &[10, 3, 3, 3]),
            ("conv1.bias", &[10]),
            ("prelu1.weight", &[10]),
            ("conv2.weight", &[16, 10, 3, 3]),
            ("conv2.bias", &[16]),
            ("prelu2.weight", &[16]),
            ("conv3.weight", &[32, 16, 3, 3]),
            ("conv3.bias", &[32]),
            ("prelu3.weight", &[32]),
            ("conv4_1.weight", &[2, 32, 1, 1]),
            ("conv4_1.bias", &[2]),
            ("conv4_2.weight", &[4, 32, 1, 1]),
            ("conv4_2.bias", &[4]),
        ])
    );
    assert_eq!(
        shapes(&rnet.1),
        expect(&[
            ("conv1.weight", &[28, 3, 3, 3]),
            ("conv1.bias", &[28]),
            ("prelu1.weight", &[28]),
            ("conv2.weight", &[48, 28, 3, 3]),
            ("conv2.bias", &[48]),
            ("prelu2.weight", &[48]),
            ("conv3.weight", &[64, 48, 2, 2]),
            ("conv3.bias", &[64]),
            ("prelu3.weight", &[64]),
            ("dense4.weight", &[128, 576]),
            ("dense4.bias", &[128]),
            ("prelu4.weight", &[128]),
            ("dense5_1.weight", &[2, 128]),
            ("dense5_1.bias", &[2]),
            ("dense5_2.weight", &[4, 128]),
            ("dense5_2.bias", &[4]),
        ])
    );
    assert_eq!(
        shapes(&onet.1),
        expect(&[
            ("conv1.weight", &[32, 3, 3, 3]),
            ("conv1.bias", &[32]),
            ("prelu1.weight", &[32]),
            ("conv2.weight", &[64, 32, 3, 3]),
            ("conv2.bias", &[64]),
            ("prelu2.weight", &[64]),
            ("conv3.weight", &[64, 64, 3, 3]),
            ("conv3.bias", &[64]),
            ("prelu3.weight", &[64]),
            ("conv4.weight", &[128, 64, 2, 2]),
            ("conv4.bias", &[128]),
            ("prelu4.weight", &[128]),
            ("dense5.weight", &[256, 1152]),
            ("dense5.bias", &[256]),
            ("prelu5.weight", &[256]),
            ("dense6_1.weight", &[2, 256]),
            ("dense6_1.bias", &[2]),
            ("dense6_2.weight", &[4, 256]),
            ("dense6_2.bias", &[4]),
            ("dense6_3.weight", &[10, 256]),
            ("dense6_3.bias", &[10]),
        ])
    );
}

#[test]
fn weights_are_plausible_numbers() {
    for (id, bytes) in shipped() {
        for (name, t) in read_state_dict(bytes).unwrap().tensors {
            assert!(t.data.iter().all(|v| v.is_finite()), "{id} {name}");
            // Real trained weights, not zeros: every tensor has some spread.
            let max = t.data.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(max > 1e-4 && max < 100.0, "{id} {name}: max |w| {max}");
        }
    }
}

#[test]
fn the_built_graphs_are_the_ones_the_manifest_pins() {
    let manifest = Manifest::default_pack();
    let mut wrong = Vec::new();
    for ((id, bytes), net) in shipped().iter().zip([MtcnnNet::PNet, MtcnnNet::RNet, MtcnnNet::ONet]) {
        let spec = manifest.model(id).unwrap();
        assert_eq!(sha256_bytes(bytes), spec.shipped_sha256(), "{id} as shipped");
        // Built twice: the same bytes (the manifest can pin them).
        let onnx = build(net, bytes).unwrap();
        assert_eq!(onnx, build(net, bytes).unwrap(), "{id}");
        if sha256_bytes(&onnx) != spec.sha256 {
            wrong.push(format!("{id} as built: {}", sha256_bytes(&onnx)));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn damaged_files_give_clear_errors() {
    let pnet = &shipped()[0].1;
    // Cut anywhere: inside the header, the pickles, the storage sizes or the data.
    for cut in [0, 1, 10, 40, 200, 1000, 1937, 1938, 1942, 1950, pnet.len() / 2, pnet.len() - 1] {
        let err = read_state_dict(&pnet[..cut]).expect_err("a cut file is refused");
        assert!(matches!(err, TorchError::Truncated(_) | TorchError::NotTorch(_)), "cut at {cut}: {err}");
    }
    let mut longer = pnet.clone();
    longer.extend_from_slice(b"junk");
    assert!(matches!(read_state_dict(&longer), Err(TorchError::Corrupt(_))));
    assert!(matches!(read_state_dict(b"PK\x03\x04rest of a zip"), Err(TorchError::ZipFormat)));
    assert!(matches!(read_state_dict(b"\x80\x02K\x07."), Err(TorchError::NotTorch(_))));
    // Flipped bytes never panic: an error, or (in the data) other numbers.
    for at in (0..1938).step_by(7) {
        let mut bad = pnet.clone();
        bad[at] ^= 0x5a;
        let _ = read_state_dict(&bad);
    }
    // A state dict missing a tensor cannot become a graph.
    let err = build(MtcnnNet::RNet, pnet).expect_err("P-Net weights are not R-Net's").to_string();
    assert!(err.contains("dense4.weight") || err.contains("conv1.weight"), "{err}");
}
