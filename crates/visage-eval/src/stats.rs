//! Confidence intervals for error rates: [`visage::recognize::rate`], shared with calibration at run time.

pub use visage::recognize::rate::{clopper_pearson, Rate};
