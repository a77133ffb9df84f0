//! 1:1 verification: are two faces the same person?

use serde::Serialize;
use visage_core::cosine_similarity;

/// The answer for one pair of faces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Cosine similarity of the two embeddings, in [-1, 1].
    pub similarity: f32,
    /// The threshold the decision used.
    pub threshold: f32,
    /// `similarity >= threshold`.
    #[serde(rename = "match")]
    pub is_match: bool,
}

/// Compares embeddings against a cosine threshold.
#[derive(Debug, Clone, Copy)]
pub struct Verifier {
    pub threshold: f32,
}

impl Verifier {
    pub fn new(threshold: f32) -> Self {
        Self { threshold }
    }

    pub fn verify(&self, a: &[f32], b: &[f32]) -> Verification {
        let similarity = cosine_similarity(a, b);
        Verification { similarity, threshold: self.threshold, is_match: similarity >= self.threshold }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_at_threshold() {
        let v = Verifier::new(0.5);
        assert!(v.verify(&[1.0, 0.0], &[1.0, 0.0]).is_match);
        assert!(!v.verify(&[1.0, 0.0], &[0.0, 1.0]).is_match);
        let at = v.verify(&[1.0, 0.0], &[0.5, 0.75f32.sqrt()]);
        assert!((at.similarity - 0.5).abs() < 1e-6);
        let json = serde_json::to_value(v.verify(&[1.0, 0.0], &[1.0, 0.0])).unwrap();
        assert_eq!(json["match"], true);
    }
}
