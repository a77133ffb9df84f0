//! `visage.Gallery`: enrolment with consent, identification, erasure, export and the audit log of a
//! gallery in a data dir, over [`FaceRecognitionSystem`] with the CLI's rules.

use crate::analysis::PipelineOptions;
use crate::convert::to_python;
use crate::decision::DecisionArgs;
use crate::errors::Failure;
use crate::input::{Channels, Input};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use serde_json::json;
use std::path::PathBuf;
use visage::store::{time_util, ConsentGrant};
use visage::system::{default_data_dir, EnrolLiveness, EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::{Decision, ImageSource};

/// Who acts, in the audit log, when the caller does not say: `python:<user>`.
fn default_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .map(|u| format!("python:{u}"))
        .unwrap_or_else(|_| "python".into())
}

/// A face gallery in a data dir (created with its encryption key on first use; ``VISAGE_KEY`` is
/// honoured as in the CLI). People are enrolled only with a recorded consent (purpose and evidence);
/// every read and write of biometric data is written to a tamper-evident audit log.
///
/// ``data_dir`` defaults to the CLI's (``$VISAGE_DATA_DIR``, else ``~/.local/share/visage``), so the
/// CLI and Python share a gallery. As ``visage enroll``, enrolment refuses faces that passive
/// liveness calls a presentation attack unless ``allow_spoof=True`` (audited).
#[pyclass(module = "visage", frozen)]
pub struct Gallery {
    system: FaceRecognitionSystem,
    actor: String,
    data_dir: PathBuf,
}

#[pymethods]
impl Gallery {
    #[new]
    #[pyo3(signature = (data_dir = None, *, actor = None, threshold = None, calibration = None,
                        allow_spoof = false, liveness_threshold = None, detector = "centerface",
                        recognizer = "arcface", backend = None, home = None, auto_install = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        data_dir: Option<PathBuf>,
        actor: Option<String>,
        threshold: Option<f32>,
        calibration: Option<PathBuf>,
        allow_spoof: bool,
        liveness_threshold: Option<f32>,
        detector: &str,
        recognizer: &str,
        backend: Option<String>,
        home: Option<PathBuf>,
        auto_install: bool,
    ) -> PyResult<Gallery> {
        let data_dir = data_dir.unwrap_or_else(default_data_dir);
        let actor = actor.unwrap_or_else(default_actor);
        if let Some(t) = liveness_threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(Failure::invalid(format!("liveness_threshold {t} is outside [0, 1]")).into());
        }
        let pipeline = PipelineOptions {
            detector: detector.to_string(),
            recognizer: recognizer.to_string(),
            backend,
            threshold,
            home,
            auto_install,
            calibration,
            ..PipelineOptions::default()
        };
        let mut config = SystemConfig::new(&data_dir);
        config.analyzer = pipeline.config()?;
        config.actor = actor.clone();
        config.enrol_liveness = EnrolLiveness { required: !allow_spoof, threshold: liveness_threshold };
        let system = py.detach(|| FaceRecognitionSystem::open(config)).map_err(Failure::from)?;
        Ok(Gallery { system, actor, data_dir })
    }

    /// Enrols ``subject`` from one image or a list of images (one face each), all or nothing, with
    /// the consent given: ``purpose`` (what the data may be used for) and ``evidence`` (where the
    /// proof of consent is kept) are required, ``expires`` (YYYY-MM-DD or RFC 3339) removes the
    /// templates at that date. Returns the dict ``visage enroll --json`` prints.
    ///
    /// Raises :class:`DuplicateError` when a face already matches another subject (unless
    /// ``allow_duplicate``), :class:`PoorQualityError`, :class:`SpoofError`, :class:`NoFaceError`,
    /// :class:`SeveralFacesError`, and :class:`InvalidRequestError` for a bad id or a blank consent.
    #[pyo3(signature = (subject, images, *, purpose, evidence, legal_basis = "consent", expires = None,
                        name = None, allow_duplicate = false, channels = "bgr"))]
    #[allow(clippy::too_many_arguments)]
    fn enroll<'py>(
        &self,
        py: Python<'py>,
        subject: String,
        images: &Bound<'py, PyAny>,
        purpose: String,
        evidence: String,
        legal_basis: &str,
        expires: Option<&str>,
        name: Option<String>,
        allow_duplicate: bool,
        channels: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let channels = Channels::parse(channels)?;
        let sources = image_list(images, channels)?;
        let expires_at = expires.map(time_util::parse_user_date).transpose().map_err(Failure::from)?;
        let request = EnrollRequest {
            subject,
            name,
            consent: ConsentGrant { purpose, legal_basis: legal_basis.to_string(), evidence, expires_at },
            images: sources,
            allow_duplicate,
        };
        let outcome = py.detach(|| self.system.enroll(&request, &self.actor)).map_err(Failure::from)?;
        to_python(py, &outcome)
    }

    /// Who is in this image? Per face: the best ``top_k`` subjects and a match, or ``None`` (unknown)
    /// below the threshold. Returns the dict ``visage identify --json`` prints. ``purpose`` limits the
    /// search to subjects holding an active consent for it (``None``: everyone enrolled), as
    /// ``--purpose``. ``threshold`` or ``target_far`` (from the calibration) set the line; with
    /// ``require_live`` a face that fails passive liveness is never searched for. Audited per face,
    /// with the purpose.
    #[pyo3(signature = (img, top_k = 3, *, purpose = None, threshold = None, target_far = None,
                        require_live = false, channels = "bgr"))]
    #[allow(clippy::too_many_arguments)]
    fn identify<'py>(
        &self,
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        top_k: usize,
        purpose: Option<String>,
        threshold: Option<f32>,
        target_far: Option<f64>,
        require_live: bool,
        channels: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        if top_k == 0 {
            return Err(Failure::invalid("top_k must be at least 1").into());
        }
        let source = Input::from_py(img, Channels::parse(channels)?)?.into_source()?;
        let decision = Decision { top_k, ..DecisionArgs { threshold, target_far, require_live, purpose }.decision()? };
        let result = py.detach(|| self.system.identify(source, &decision, &self.actor));
        to_python(py, &result.map_err(Failure::from)?)
    }

    /// Are the largest faces of two images the same person? As :func:`visage.verify` (the same dict),
    /// with an entry in this gallery's audit log (no gallery data is read), which records ``purpose``.
    #[pyo3(signature = (img1, img2, target_far = None, *, purpose = None, threshold = None,
                        require_single = false, require_live = false, channels = "bgr"))]
    #[allow(clippy::too_many_arguments)]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        img1: &Bound<'py, PyAny>,
        img2: &Bound<'py, PyAny>,
        target_far: Option<f64>,
        purpose: Option<String>,
        threshold: Option<f32>,
        require_single: bool,
        require_live: bool,
        channels: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let channels = Channels::parse(channels)?;
        let a = Input::from_py(img1, channels)?.into_source()?;
        let b = Input::from_py(img2, channels)?.into_source()?;
        let decision =
            Decision { require_single, ..DecisionArgs { threshold, target_far, require_live, purpose }.decision()? };
        let result = py.detach(|| self.system.verify(a, b, &decision, &self.actor));
        to_python(py, &result.map_err(Failure::from)?)
    }

    /// Erases a subject (templates, consent records, index entries; the audit log keeps a
    /// tombstone). Returns how many templates were erased. Raises :class:`UnknownSubjectError`.
    fn delete(&self, py: Python<'_>, subject: &str) -> PyResult<usize> {
        Ok(py.detach(|| self.system.delete(subject, &self.actor)).map_err(Failure::from)?)
    }

    /// Everything held about a subject (the right of access): subject, consents, templates (their
    /// embeddings only with ``include_templates``) and audit entries, as ``visage export`` writes it.
    #[pyo3(signature = (subject, include_templates = false))]
    fn export<'py>(&self, py: Python<'py>, subject: &str, include_templates: bool) -> PyResult<Bound<'py, PyAny>> {
        let export = py.detach(|| self.system.export(subject, include_templates, &self.actor));
        to_python(py, &export.map_err(Failure::from)?)
    }

    /// Revokes a subject's consent for one purpose (or all); templates go when no active consent
    /// remains. Returns how many templates were removed.
    #[pyo3(signature = (subject, purpose = None))]
    fn revoke_consent(&self, py: Python<'_>, subject: &str, purpose: Option<&str>) -> PyResult<usize> {
        Ok(py.detach(|| self.system.revoke_consent(subject, purpose, &self.actor)).map_err(Failure::from)?)
    }

    /// The enrolled subjects: a list of ``{"subject": {...}, "templates": n}``.
    fn subjects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = py.detach(|| self.system.subjects()).map_err(Failure::from)?;
        let rows: Vec<_> = list.iter().map(|(s, n)| json!({"subject": s, "templates": n})).collect();
        to_python(py, &rows)
    }

    /// Checks the audit log's hash chain: ``{"entries", "intact", "first_bad", "reason"}``.
    fn audit_verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = py.detach(|| self.system.audit_verify()).map_err(Failure::from)?;
        to_python(py, &v)
    }

    /// The data dir of the gallery.
    #[getter]
    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// Who acts in this gallery's audit entries.
    #[getter]
    fn actor(&self) -> String {
        self.actor.clone()
    }

    fn __repr__(&self) -> String {
        format!("Gallery({:?})", self.data_dir.display().to_string())
    }
}

/// One image, or a list or tuple of them, as the gallery takes them.
fn image_list(images: &Bound<'_, PyAny>, channels: Channels) -> PyResult<Vec<ImageSource>> {
    let items: Vec<Bound<'_, PyAny>> = if images.is_instance_of::<PyList>() || images.is_instance_of::<PyTuple>() {
        images.try_iter()?.collect::<PyResult<_>>()?
    } else {
        vec![images.clone()]
    };
    items.iter().map(|i| Ok(Input::from_py(i, channels)?.into_source()?)).collect()
}
