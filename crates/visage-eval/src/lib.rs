//! Evaluation for visage: verification metrics and the LFW protocol, threshold calibration
//! ([`calibration`]), open-set identification, WIDER FACE detection AP, demographic differentials
//! ([`fairness`]), gender per group ([`gender`]), the embedding cache and plots ([`plot`]).

pub mod attributes;
pub mod batch;
pub mod cache;
pub mod calibration;
pub mod fairness;
pub mod folders;
pub mod gender;
pub mod identification;
pub mod lfw;
pub mod metrics;
pub mod pairs;
pub mod plot;
pub mod report;
pub mod stats;
pub mod wider;

pub use batch::{embed_images, embed_images_cached, BatchEmbeddings};
pub use cache::{CachedEmbedding, EmbeddingCache};
pub use calibration::{Calibration, CalibrationError, FarEstimate};
pub use lfw::{run_lfw, LfwOptions, LfwReport};
pub use metrics::{auc, best_accuracy_threshold, k_fold_accuracy, tar_at_far, threshold_at_far, ScoredPair};
