//! `visage.verify(img1, img2, target_far=None)`: 1:1 verification through [`FaceAnalyzer::verify`],
//! returning the dict `visage verify --json` prints.

use crate::analysis::{FaceAnalysis, PipelineOptions};
use crate::decision::DecisionArgs;
use crate::errors::Failure;
use crate::input::{Channels, Input};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use visage::{Decision, FaceAnalyzer, VerifyOutcome};

/// The pipelines `verify` starts when no `app` is given: the default one per calibration file, each
/// started once (models load once per process).
fn default_analyzer(py: Python<'_>, calibration: Option<PathBuf>) -> PyResult<Arc<FaceAnalyzer>> {
    static STARTED: Mutex<Option<HashMap<Option<PathBuf>, Arc<FaceAnalyzer>>>> = Mutex::new(None);
    let cached = |started: &Mutex<Option<HashMap<_, Arc<FaceAnalyzer>>>>| {
        started.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|m| m.get(&calibration).cloned())
    };
    if let Some(a) = cached(&STARTED) {
        return Ok(a);
    }
    let options = PipelineOptions { calibration: calibration.clone(), ..PipelineOptions::default() };
    let analyzer = Arc::new(options.start(py)?);
    let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    Ok(started.get_or_insert_with(HashMap::new).entry(calibration).or_insert(analyzer).clone())
}

/// Both images compared under the decision (run without the GIL).
fn compare(analyzer: &FaceAnalyzer, inputs: [Input; 2], decision: &Decision) -> Result<VerifyOutcome, Failure> {
    let [a, b] = inputs;
    Ok(analyzer.verify(a.into_source()?, b.into_source()?, decision)?)
}

/// Are the largest faces of two images the same person? Returns the dict ``visage verify --json``
/// prints: ``similarity``, ``threshold``, ``match``, ``images`` (per image: name, face count, box and,
/// with ``require_live``, the liveness score) and, when a calibration exists, the estimated false
/// accept rate. With ``target_far`` the threshold comes from the calibration (``visage calibrate``)
/// for that rate.
///
/// Images are as for :meth:`FaceAnalysis.get`. ``app`` reuses a pipeline and its calibration (else a
/// default one is started once per ``calibration`` file). Raises :class:`NoFaceError` when an image
/// has no face, :class:`SeveralFacesError` with ``require_single``, :class:`SpoofError` when
/// ``require_live`` and a face fails passive liveness, :class:`CalibrationError` for ``target_far``
/// without a usable calibration. The GIL is released.
#[pyfunction]
#[pyo3(signature = (img1, img2, target_far = None, *, threshold = None, calibration = None,
                    require_single = false, require_live = false, channels = "bgr", app = None))]
#[allow(clippy::too_many_arguments)]
pub fn verify<'py>(
    py: Python<'py>,
    img1: &Bound<'py, PyAny>,
    img2: &Bound<'py, PyAny>,
    target_far: Option<f64>,
    threshold: Option<f32>,
    calibration: Option<PathBuf>,
    require_single: bool,
    require_live: bool,
    channels: &str,
    app: Option<PyRef<'py, FaceAnalysis>>,
) -> PyResult<Bound<'py, PyAny>> {
    let channels = Channels::parse(channels)?;
    let inputs = [Input::from_py(img1, channels)?, Input::from_py(img2, channels)?];
    let decision = DecisionArgs { threshold, target_far, require_live, purpose: None }.decision()?;
    let decision = Decision { require_single, ..decision };
    let analyzer = match app {
        Some(_) if calibration.is_some() => {
            return Err(Failure::invalid("pass calibration= to FaceAnalysis(...), not with app=").into())
        }
        Some(app) => app.shared_analyzer(),
        None => default_analyzer(py, calibration)?,
    };
    let outcome = py.detach(|| compare(&analyzer, inputs, &decision))?;
    crate::convert::to_python(py, &outcome)
}
