//! Score fusion of several recognisers: each face's embeddings from every model, each unit-length,
//! scaled by the square root of its weight and concatenated.
//!
//! With weights summing to 1 the fused vector is unit-length again, and the cosine similarity of two
//! fused vectors is exactly the weighted sum of the models' own cosine similarities:
//! `<[√w·a, √(1-w)·b], [√w·a', √(1-w)·b']> = w·<a, a'> + (1-w)·<b, b'>`. So score fusion needs no
//! change anywhere a similarity is computed (verification, search, calibration).

/// The fused embedding of one face: `parts` are (unit-length embedding, weight) pairs whose weights
/// sum to 1.
pub fn fuse(parts: &[(&[f32], f32)]) -> Vec<f32> {
    let mut out = Vec::with_capacity(parts.iter().map(|(e, _)| e.len()).sum());
    for (embedding, weight) in parts {
        let w = weight.max(0.0).sqrt();
        out.extend(embedding.iter().map(|x| x * w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use visage_core::{cosine_similarity, l2_normalize};

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        l2_normalize(&mut v);
        v
    }

    #[test]
    fn fused_similarity_is_the_weighted_sum_of_similarities() {
        let (a1, a2) = (unit(vec![1.0, 2.0, 3.0]), unit(vec![3.0, -1.0, 0.5]));
        let (b1, b2) = (unit(vec![0.2, 0.9]), unit(vec![0.8, 0.1]));
        let f1 = fuse(&[(&a1, 0.3), (&b1, 0.7)]);
        let f2 = fuse(&[(&a2, 0.3), (&b2, 0.7)]);
        assert_eq!(f1.len(), 5);
        let norm: f32 = f1.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5, "unit length, got {norm}");
        let expected = 0.3 * cosine_similarity(&a1, &a2) + 0.7 * cosine_similarity(&b1, &b2);
        let got: f32 = f1.iter().zip(&f2).map(|(x, y)| x * y).sum();
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }
}
