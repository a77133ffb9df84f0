//! Threshold calibration lives in [`visage::recognize::calibration`] (a running system needs it without
//! the evaluation tools); `visage calibrate` builds one from scored pairs and
//! [`crate::report`] writes its report.

pub use visage::recognize::calibration::*;
