//! Failures as Python exceptions: each [`VisageError`] becomes the class of `visage.errors` that names
//! it, with the CLI's message and the HTTP API's stable code (`exc.code`, e.g. `"no_face"`).

use pyo3::prelude::*;
use visage::store::StoreError;
use visage::VisageError;

/// A failed call, before it becomes a Python exception (built without the GIL).
#[derive(Debug)]
pub struct Failure {
    /// The class name in `visage.errors`.
    class: &'static str,
    /// The stable code, as the HTTP API reports it.
    code: &'static str,
    message: String,
}

impl Failure {
    /// A bad image argument (wrong type, dtype or shape; an undecodable file).
    pub fn image(message: impl Into<String>) -> Failure {
        Failure { class: "ImageError", code: "invalid_image", message: message.into() }
    }

    /// A bad argument other than an image.
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure { class: "InvalidRequestError", code: "invalid_request", message: message.into() }
    }

    /// A calibration file that was asked for but is not there.
    pub fn no_calibration(message: impl Into<String>) -> Failure {
        Failure { class: "CalibrationError", code: "no_calibration", message: message.into() }
    }

    /// A calibration file that cannot be read or comes from another embedding model.
    pub fn bad_calibration(message: impl Into<String>) -> Failure {
        Failure { class: "CalibrationError", code: "invalid_calibration", message: message.into() }
    }
}

/// The `visage.errors` class for an error of the library.
fn class_of(e: &VisageError) -> &'static str {
    match e {
        VisageError::Image { .. } => "ImageError",
        VisageError::NoFace { .. } => "NoFaceError",
        VisageError::SeveralFaces { .. } => "SeveralFacesError",
        VisageError::PoorQuality { .. } => "PoorQualityError",
        VisageError::Spoof { .. } => "SpoofError",
        VisageError::Duplicate { .. } => "DuplicateError",
        VisageError::Invalid(_) => "InvalidRequestError",
        VisageError::NoCalibration | VisageError::Calibration(_) => "CalibrationError",
        VisageError::Install(_)
        | VisageError::Inference(_)
        | VisageError::Detect(_)
        | VisageError::Embed(_)
        | VisageError::NoThreshold => "ModelError",
        VisageError::Store(s) => match s {
            StoreError::InvalidSubjectId(_) | StoreError::InvalidDate(_) | StoreError::Invalid(_) => {
                "InvalidRequestError"
            }
            StoreError::UnknownSubject(_) => "UnknownSubjectError",
            StoreError::NoConsent(..) => "ConsentError",
            _ => "StoreError",
        },
        VisageError::Index(_) => "StoreError",
        VisageError::Output { .. } => "Error",
    }
}

impl From<VisageError> for Failure {
    fn from(e: VisageError) -> Failure {
        let class = class_of(&e);
        let message = e.to_string();
        // The code table of the HTTP API, so a client of either sees the same codes.
        let code = visage_server::ApiError::from(e).code;
        Failure { class, code, message }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::from(VisageError::Store(e))
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        Python::attach(|py| {
            let class = py.import("visage.errors").and_then(|m| m.getattr(f.class));
            match class.and_then(|c| c.call1((f.message, f.code))) {
                Ok(exception) => PyErr::from_value(exception),
                Err(e) => e,
            }
        })
    }
}
