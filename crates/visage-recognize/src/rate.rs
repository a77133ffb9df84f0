//! Observed error rates with their exact confidence intervals (used by calibration at run time and by
//! every evaluation).

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};

/// An observed rate `errors / trials` with its exact (Clopper-Pearson) 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub errors: u64,
    pub trials: u64,
    pub rate: f64,
    /// The 95% Clopper-Pearson interval `[low, high]`.
    pub ci95: [f64; 2],
}

impl Rate {
    /// `errors` of `trials`, with its interval. `trials` must be positive.
    pub fn new(errors: u64, trials: u64) -> Rate {
        let (lo, hi) = clopper_pearson(errors, trials, 0.95);
        Rate { errors, trials, rate: errors as f64 / trials.max(1) as f64, ci95: [lo, hi] }
    }
}

/// The exact binomial (Clopper-Pearson) interval for `k` successes in `n` trials at the given two-sided
/// confidence level: the `alpha/2` quantile of Beta(k, n-k+1) and the `1-alpha/2` quantile of
/// Beta(k+1, n-k), with 0 and 1 at the ends. Conservative: it covers at least `confidence`.
pub fn clopper_pearson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let alpha = 1.0 - confidence;
    let (kf, nf) = (k as f64, n as f64);
    let lo = if k == 0 { 0.0 } else { Beta::new(kf, nf - kf + 1.0).expect("positive shape").inverse_cdf(alpha / 2.0) };
    let hi =
        if k == n { 1.0 } else { Beta::new(kf + 1.0, nf - kf).expect("positive shape").inverse_cdf(1.0 - alpha / 2.0) };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn clopper_pearson_matches_known_values() {
        // k = 0: the upper bound has the closed form 1 - (alpha/2)^(1/n).
        let (lo, hi) = clopper_pearson(0, 10, 0.95);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 1.0 - 0.025f64.powf(0.1), 1e-6), "{hi}");
        // k = n mirrors it.
        let (lo, hi) = clopper_pearson(10, 10, 0.95);
        assert!(close(lo, 0.025f64.powf(0.1), 1e-6) && hi == 1.0);
        // 5 of 10: (0.187086, 0.812914), the textbook values (e.g. R's binom.test).
        let (lo, hi) = clopper_pearson(5, 10, 0.95);
        assert!(close(lo, 0.187086, 1e-5) && close(hi, 0.812914, 1e-5), "{lo} {hi}");
        // 1 of 100: (0.000253, 0.054460).
        let (lo, hi) = clopper_pearson(1, 100, 0.95);
        assert!(close(lo, 0.000253, 1e-6) && close(hi, 0.054460, 1e-5), "{lo} {hi}");
        // 30 of 3000 (a FAR of 1e-2 on LFW): (0.006757, 0.014245), from the binomial CDF inverted by bisection.
        let (lo, hi) = clopper_pearson(30, 3000, 0.95);
        assert!(close(lo, 0.006757, 1e-5) && close(hi, 0.014245, 1e-5), "{lo} {hi}");
        let r = Rate::new(3, 6);
        assert_eq!(r.rate, 0.5);
        assert!(r.ci95[0] < 0.5 && r.ci95[1] > 0.5);
    }
}
