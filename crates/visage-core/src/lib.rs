//! Core of visage: images, geometry, alignment and similarity.
//!
//! Nothing here knows about models or files beyond decoding an image: every other crate builds on these
//! types. The pipeline reads image → detect → align → embed → match; this crate owns the first and the
//! geometric steps between the models.

pub mod align;
pub mod draw;
pub mod files;
pub mod geometry;
pub mod image;
pub mod quality;
pub mod scaled_decode;
pub mod similarity;
pub mod tensor;

pub use align::{align_face, Similarity, ARCFACE_TEMPLATE_112};
pub use geometry::{nms, BBox, Point};
pub use image::{decode_image, image_dimensions, load_image, read_image_file, ImageError, LoadOptions};
pub use scaled_decode::{decode_image_at_least, ScaledImage};
pub use similarity::{cosine_similarity, l2_normalize};
