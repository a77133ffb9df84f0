//! Decoding of SSR-Net's staged outputs (Yang et al., IJCAI 2018), shared by the age and gender models.
//!
//! Each of three stages gives a distribution over 3 bins (`prob_stage_k`), a per-bin shift
//! (`index_offset_stagek`) and a bin-width adjustment (`stagek_delta_k`). The estimate is the sum
//! over stages of `sum_i (i + offset_i) * p_i`, divided by the product of the (adjusted) bin counts
//! of this and earlier stages, times the output range `v`.

use crate::AttributeError;
use ndarray::ArrayD;

const BINS: usize = 3;

/// Decodes the nine outputs (in the models' output order: 3 probs, 3 deltas, 3 offsets) into a
/// value in `[0, v]`.
pub(crate) fn decode(outputs: &[ArrayD<f32>], model: &'static str, v: f32) -> Result<f32, AttributeError> {
    if outputs.len() != 9 {
        return Err(AttributeError::OutputShape { model, detail: format!("{} outputs, expected 9", outputs.len()) });
    }
    let flat = |i: usize, len: usize| -> Result<Vec<f32>, AttributeError> {
        let o = &outputs[i];
        if o.len() != len {
            return Err(AttributeError::OutputShape { model, detail: format!("output {i}: {:?}", o.shape()) });
        }
        Ok(o.iter().copied().collect())
    };
    let mut value = 0.0f32;
    let mut denominator = 1.0f32;
    for stage in 0..3 {
        let probs = flat(stage, BINS)?;
        let delta = flat(3 + stage, 1)?[0];
        let offsets = flat(6 + stage, BINS)?;
        denominator *= BINS as f32 * (1.0 + delta);
        let expectation: f32 = (0..BINS).map(|i| (i as f32 + offsets[i]) * probs[i]).sum();
        value += expectation / denominator;
    }
    Ok(value * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(probs: [[f32; 3]; 3], delta: f32, offset: f32) -> Vec<ArrayD<f32>> {
        let mut v = Vec::new();
        for p in probs {
            v.push(ndarray::arr2(&[p]).into_dyn());
        }
        for _ in 0..3 {
            v.push(ndarray::arr2(&[[delta]]).into_dyn());
        }
        for _ in 0..3 {
            v.push(ndarray::arr2(&[[offset; 3]]).into_dyn());
        }
        v
    }

    #[test]
    fn top_bins_everywhere_give_nearly_the_full_range() {
        // All mass on bin 2 at every stage: 2/3 + 2/9 + 2/27 = 26/27 of the range.
        let out = outputs([[0.0, 0.0, 1.0]; 3], 0.0, 0.0);
        assert!((decode(&out, "t", 101.0).unwrap() - 101.0 * 26.0 / 27.0).abs() < 1e-4);
        let out = outputs([[1.0, 0.0, 0.0]; 3], 0.0, 0.0);
        assert_eq!(decode(&out, "t", 101.0).unwrap(), 0.0);
        assert!(decode(&out[..8], "t", 1.0).is_err());
    }
}
