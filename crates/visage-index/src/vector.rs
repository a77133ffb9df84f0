//! Checks applied to every vector entering an index, and the unit-length normalisation.

use crate::IndexError;

/// How far from 1 a norm may be before the vector is rescaled. Embeddings from visage are unit length up
/// to rounding; leaving those bits untouched keeps scores identical to other tools fed the same vectors.
const NORM_TOLERANCE: f32 = 1e-4;

/// Checks dimension and finiteness, and returns the vector scaled to unit length (borrowed when it
/// already is), so that the dot product the indexes compute is the cosine similarity.
pub(crate) fn checked_unit(v: &[f32], dimension: usize) -> Result<std::borrow::Cow<'_, [f32]>, IndexError> {
    if v.len() != dimension {
        return Err(IndexError::DimensionMismatch { expected: dimension, got: v.len() });
    }
    if let Some((position, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(IndexError::NonFinite { position, value });
    }
    // Sum in f64: a 512-d sum of squares in f32 is off by ~1e-6, which matters next to the tolerance.
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(IndexError::ZeroVector);
    }
    if (norm as f32 - 1.0).abs() <= NORM_TOLERANCE {
        Ok(std::borrow::Cow::Borrowed(v))
    } else {
        Ok(std::borrow::Cow::Owned(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect()))
    }
}

/// Checks that `vectors` holds exactly `ids.len()` rows and that no id repeats within the batch or is
/// already present (`contains`), before anything is inserted: a failed batch leaves the index unchanged.
pub(crate) fn check_batch(
    ids: &[u64],
    vectors: &[f32],
    dimension: usize,
    contains: impl Fn(u64) -> bool,
) -> Result<(), IndexError> {
    if vectors.len() != ids.len() * dimension {
        return Err(IndexError::BatchShape {
            rows: ids.len(),
            dimension,
            expected: ids.len() * dimension,
            got: vectors.len(),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for &id in ids {
        if contains(id) || !seen.insert(id) {
            return Err(IndexError::DuplicateId(id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_are_borrowed_and_others_rescaled() {
        let v = [0.6f32, 0.8];
        assert!(matches!(checked_unit(&v, 2).unwrap(), std::borrow::Cow::Borrowed(_)));
        let w = checked_unit(&[3.0, 4.0], 2).unwrap();
        assert!((w[0] - 0.6).abs() < 1e-6 && (w[1] - 0.8).abs() < 1e-6);
        assert!(matches!(checked_unit(&[0.0, 0.0], 2), Err(IndexError::ZeroVector)));
        assert!(matches!(checked_unit(&[1.0, f32::NAN], 2), Err(IndexError::NonFinite { position: 1, .. })));
        assert!(matches!(checked_unit(&[1.0], 2), Err(IndexError::DimensionMismatch { expected: 2, got: 1 })));
    }

    #[test]
    fn batch_checks_shape_and_duplicates() {
        assert!(check_batch(&[1, 2], &[0.0; 4], 2, |_| false).is_ok());
        assert!(matches!(check_batch(&[1, 2], &[0.0; 3], 2, |_| false), Err(IndexError::BatchShape { .. })));
        assert!(matches!(check_batch(&[1, 1], &[0.0; 4], 2, |_| false), Err(IndexError::DuplicateId(1))));
        assert!(matches!(check_batch(&[1, 2], &[0.0; 4], 2, |id| id == 2), Err(IndexError::DuplicateId(2))));
    }
}
