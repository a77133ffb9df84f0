//! Evaluation for visage: verification metrics and the LFW protocol.

pub mod attributes;
pub mod batch;
pub mod lfw;
pub mod metrics;

pub use batch::{embed_images, BatchEmbeddings};
pub use lfw::{run_lfw, LfwOptions, LfwReport};
pub use metrics::{auc, best_accuracy_threshold, k_fold_accuracy, tar_at_far, threshold_at_far, ScoredPair};
