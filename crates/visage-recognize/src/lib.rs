//! Face recognition for visage: 512-d embeddings of aligned faces and 1:1 verification.

pub mod embedder;
pub mod verify;

pub use embedder::{Embedder, EmbedderOptions, EMBEDDING_DIM};
pub use verify::{Verification, Verifier};
