//! `visage.FaceAnalysis`: InsightFace's `FaceAnalysis(...).get(img)` over visage's [`FaceAnalyzer`].

use crate::decision::load_calibration;
use crate::errors::Failure;
use crate::face::Face;
use crate::input::{Channels, Input};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use visage::attributes::{AttributeSet, FaceAttributes};
use visage::detect::{DetectorKind, DetectorOptions};
use visage::infer::BackendKind;
use visage::models::ModelHome;
use visage::recognize::RecognizerKind;
use visage::{AnalyzerConfig, FaceAnalyzer, VisageError};

/// The attributes `get` can add to each face.
const ATTRIBUTE_NAMES: [&str; 4] = ["age", "gender", "pose", "liveness"];

/// Parses attribute names ("age", "gender", "pose", "liveness") into the set to compute.
pub fn attribute_set(names: &[String]) -> Result<AttributeSet, Failure> {
    let mut set = AttributeSet::NONE;
    for name in names {
        match name.as_str() {
            "age" => set.age = true,
            "gender" => set.gender = true,
            "pose" => set.pose = true,
            "liveness" => set.liveness = true,
            other => {
                return Err(Failure::invalid(format!(
                    "unknown attribute {other:?}; choose from {}",
                    ATTRIBUTE_NAMES.join(", ")
                )))
            }
        }
    }
    Ok(set)
}

/// The pipeline options a Python caller chooses, turned into an [`AnalyzerConfig`].
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub detector: String,
    /// `arcface`, `sface`, `fusion` or `imported:NAME`, as the CLI's `--recognizer`.
    pub recognizer: String,
    pub backend: Option<String>,
    pub det_thresh: Option<f32>,
    pub det_size: Option<u32>,
    pub min_face_size: f32,
    pub threshold: Option<f32>,
    pub home: Option<PathBuf>,
    pub auto_install: bool,
    /// The calibration file (`None`: the model's default one in the model cache, when it exists).
    pub calibration: Option<PathBuf>,
}

impl Default for PipelineOptions {
    /// The CLI's recognition pipeline: CenterFace, the best backend, faces from 40 px.
    fn default() -> Self {
        PipelineOptions {
            detector: "centerface".into(),
            recognizer: "arcface".into(),
            backend: None,
            det_thresh: None,
            det_size: None,
            min_face_size: visage::RECOGNITION_MIN_FACE_SIZE,
            threshold: None,
            home: None,
            auto_install: true,
            calibration: None,
        }
    }
}

impl PipelineOptions {
    /// The analyzer configuration; bad names are refused with the accepted ones.
    pub fn config(&self) -> Result<AnalyzerConfig, Failure> {
        let detector: DetectorKind = self.detector.parse().map_err(|e| Failure::invalid(format!("detector: {e}")))?;
        let recognizer: RecognizerKind =
            self.recognizer.parse().map_err(|e| Failure::invalid(format!("recognizer: {e}")))?;
        let backend = match &self.backend {
            Some(b) => Some(b.parse::<BackendKind>().map_err(|e| Failure::invalid(format!("backend: {e}")))?),
            None => None,
        };
        if let Some(t) = self.threshold.filter(|t| !(-1.0..=1.0).contains(t)) {
            return Err(Failure::invalid(format!("threshold {t} is not in [-1, 1]")));
        }
        let defaults = AnalyzerConfig::default();
        let mut options = DetectorOptions { min_face_size: self.min_face_size.max(0.0), ..DetectorOptions::default() };
        if let Some(t) = self.det_thresh {
            if !(0.0..=1.0).contains(&t) {
                return Err(Failure::invalid(format!("det_thresh {t} is outside [0, 1]")));
            }
            options.score_threshold = Some(t);
        }
        let calibration = load_calibration(recognizer, self.calibration.as_deref(), self.home.as_deref())?;
        Ok(AnalyzerConfig {
            calibration,
            backend,
            detector,
            recognizer,
            detector_options: options,
            detect_max_side: self.det_size.unwrap_or(defaults.detect_max_side),
            home: self.home.clone().map(ModelHome::at).unwrap_or(defaults.home.clone()),
            auto_install: self.auto_install,
            threshold: self.threshold,
            ..defaults
        })
    }

    /// Starts the pipeline (installing missing models first, unless `auto_install` is off).
    pub fn start(&self, py: Python<'_>) -> PyResult<FaceAnalyzer> {
        let config = self.config()?;
        Ok(py.detach(|| FaceAnalyzer::new(config)).map_err(Failure::from)?)
    }
}

/// Face detection, landmarks and embeddings (and, on request, age, gender, head pose and passive
/// liveness) for images given as BGR uint8 arrays or paths: InsightFace's ``FaceAnalysis``.
///
/// Models install on first use into visage's model cache (``$VISAGE_HOME``, else the user cache dir),
/// checked against the manifest's SHA-256, exactly as the ``visage`` CLI installs them.
#[pyclass(module = "visage", frozen)]
pub struct FaceAnalysis {
    options: RwLock<PipelineOptions>,
    analyzer: RwLock<Arc<FaceAnalyzer>>,
    attributes: AttributeSet,
}

impl FaceAnalysis {
    /// The pipeline in use, shared with the caller (e.g. `visage.verify(..., app=...)`).
    pub fn shared_analyzer(&self) -> Arc<FaceAnalyzer> {
        self.analyzer()
    }

    fn analyzer(&self) -> Arc<FaceAnalyzer> {
        self.analyzer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[pymethods]
impl FaceAnalysis {
    #[new]
    #[pyo3(signature = (detector = "centerface", backend = None, *, recognizer = "arcface", det_thresh = None,
                        det_size = None, min_face_size = visage::RECOGNITION_MIN_FACE_SIZE,
                        attributes = Vec::new(), threshold = None, calibration = None, home = None,
                        auto_install = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        detector: &str,
        backend: Option<String>,
        recognizer: &str,
        det_thresh: Option<f32>,
        det_size: Option<u32>,
        min_face_size: f32,
        attributes: Vec<String>,
        threshold: Option<f32>,
        calibration: Option<PathBuf>,
        home: Option<PathBuf>,
        auto_install: bool,
    ) -> PyResult<FaceAnalysis> {
        let options = PipelineOptions {
            detector: detector.to_string(),
            recognizer: recognizer.to_string(),
            backend,
            det_thresh,
            det_size,
            min_face_size,
            threshold,
            home,
            auto_install,
            calibration,
        };
        let attributes = attribute_set(&attributes)?;
        let analyzer = options.start(py)?;
        Ok(FaceAnalysis { options: RwLock::new(options), analyzer: RwLock::new(Arc::new(analyzer)), attributes })
    }

    /// InsightFace compatibility: sets the detector's score threshold and input size, and restarts the
    /// pipeline with them. ``ctx_id`` is accepted and ignored (visage runs on the CPU). ``det_size``
    /// is a side or a (width, height) pair; visage uses its larger value as the longest side.
    #[pyo3(signature = (ctx_id = 0, det_thresh = None, det_size = None))]
    fn prepare(
        &self,
        py: Python<'_>,
        ctx_id: i64,
        det_thresh: Option<f32>,
        det_size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = ctx_id;
        let side = match det_size {
            None => None,
            Some(v) => Some(match v.extract::<(u32, u32)>() {
                Ok((w, h)) => w.max(h),
                Err(_) => v.extract::<u32>()?,
            }),
        };
        let mut options = self.options.write().unwrap_or_else(|p| p.into_inner());
        if det_thresh.is_some() {
            options.det_thresh = det_thresh;
        }
        if side.is_some() {
            options.det_size = side;
        }
        let analyzer = options.start(py)?;
        *self.analyzer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(analyzer);
        Ok(())
    }

    /// Every face of an image, as a list of :class:`Face`.
    ///
    /// ``img`` is a uint8 array of shape (H, W, 3) in BGR order (``cv2.imread``), a path, or encoded
    /// image bytes. Pass ``channels="rgb"`` for RGB arrays (PIL, imageio): an RGB array passed as BGR
    /// is analysed with red and blue swapped, which finds the same faces but gives other embeddings.
    /// ``max_num`` > 0 keeps that many faces, the largest first. ``attributes`` overrides the
    /// constructor's. The GIL is released while the models run.
    #[pyo3(signature = (img, max_num = 0, *, channels = "bgr", attributes = None))]
    fn get(
        &self,
        py: Python<'_>,
        img: &Bound<'_, PyAny>,
        max_num: usize,
        channels: &str,
        attributes: Option<Vec<String>>,
    ) -> PyResult<Vec<Face>> {
        let input = Input::from_py(img, Channels::parse(channels)?)?;
        let set = match attributes {
            Some(names) => attribute_set(&names)?,
            None => self.attributes,
        };
        let analyzer = self.analyzer();
        Ok(py.detach(|| analyse(&analyzer, input, max_num, set)).map_err(Failure::from)?)
    }

    /// The backend models run on: "ort" (ONNX Runtime) or "tract".
    #[getter]
    fn backend(&self) -> String {
        self.analyzer().backend().to_string()
    }

    /// The face detector: "centerface" or "ultraface".
    #[getter]
    fn detector(&self) -> String {
        self.analyzer().detector_kind().to_string()
    }

    /// The cosine similarity threshold verification decides at.
    #[getter]
    fn threshold(&self) -> f32 {
        self.analyzer().verifier().threshold
    }

    fn __repr__(&self) -> String {
        let a = self.analyzer();
        format!("FaceAnalysis(detector={:?}, backend={:?})", a.detector_kind().to_string(), a.backend().to_string())
    }
}

/// Detects, embeds and (if asked) describes every face of one image, without the GIL.
fn analyse(analyzer: &FaceAnalyzer, input: Input, max_num: usize, set: AttributeSet) -> Result<Vec<Face>, VisageError> {
    let image = input.decode(analyzer)?;
    let mut detections = analyzer.detect(&image)?;
    if max_num > 0 && detections.len() > max_num {
        detections.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        detections.truncate(max_num);
    }
    let embeddings = if detections.is_empty() { Vec::new() } else { analyzer.embed_detections(&image, &detections)?.0 };
    detections
        .iter()
        .zip(embeddings)
        .map(|(d, e)| {
            let attributes = if set == AttributeSet::NONE {
                FaceAttributes::default()
            } else {
                analyzer.attributes(&image, d, set, None)?
            };
            Ok(Face::new(d, Some(e), attributes))
        })
        .collect()
}
