//! The pipeline orchestrator.

use crate::decision::DecisionPolicy;
use crate::in_use::{self, ModelInUse};
use crate::photo::{DetailView, Photo};
use crate::VisageError;
use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use visage_core::{align_face, decode_image, load_image, read_image_file, BBox, LoadOptions, Point};
use visage_detect::{
    BlazeFace, CenterFace, Detection, DetectorKind, DetectorOptions, FaceDetector, Landmark68, Mtcnn, RetinaFace,
    Scrfd, UltraFace,
};
use visage_infer::{load_model, BackendKind, InferError, InferenceConfig, Model};
use visage_models::{ids, Installer, Manifest, ModelHome};
use visage_recognize::recognizer::face_input_of;
use visage_recognize::{Calibration, Embedder, EmbedderOptions, Recognizer, RecognizerKind, RecognizerSpec, Verifier};

/// Faces smaller than this (shorter box side, in pixels) are not used for recognition by default:
/// below it, embeddings become unreliable. Detection-only callers set 0 to find every face.
pub const RECOGNITION_MIN_FACE_SIZE: f32 = 40.0;

/// Everything that configures a [`FaceAnalyzer`].
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// `None`: ONNX Runtime when its library is installed, else tract (with a notice).
    pub backend: Option<BackendKind>,
    pub detector: DetectorKind,
    pub detector_options: DetectorOptions,
    /// CenterFace: the longest image side the network sees (larger images are shrunk to it; sides are
    /// then rounded up to a multiple of 32).
    pub detect_max_side: u32,
    /// Which recogniser embeds faces: ArcFace (the default), SFace, or their score fusion.
    pub recognizer: RecognizerKind,
    pub embedder_options: EmbedderOptions,
    /// Threads inside one model run (parallelism across images is the caller's, e.g. rayon).
    pub intra_threads: usize,
    pub load_options: LoadOptions,
    pub home: ModelHome,
    /// Install missing models on first use (the default). Off: fail with "run `visage models install`".
    pub auto_install: bool,
    /// Show progress bars while installing.
    pub progress: bool,
    /// The configured cosine threshold ([`crate::Threshold::Configured`]); `None` takes the manifest's default.
    pub threshold: Option<f32>,
    /// The embedding model's calibration, for decisions at a target false-accept rate
    /// ([`crate::Threshold::TargetFar`]); checked against the model's SHA-256 when the analyzer is built.
    pub calibration: Option<Arc<Calibration>>,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            backend: None,
            detector: DetectorKind::CenterFace,
            detector_options: DetectorOptions {
                min_face_size: RECOGNITION_MIN_FACE_SIZE,
                ..DetectorOptions::default()
            },
            detect_max_side: CenterFace::DEFAULT_MAX_SIDE,
            recognizer: RecognizerKind::default(),
            embedder_options: EmbedderOptions::default(),
            intra_threads: 1,
            load_options: LoadOptions::default(),
            home: ModelHome::from_env(),
            auto_install: true,
            progress: true,
            threshold: None,
            calibration: None,
        }
    }
}

/// An image to analyse: a file, or bytes received from elsewhere (an upload), with a name for messages.
#[derive(Debug, Clone)]
pub enum ImageSource {
    File(PathBuf),
    Bytes { name: String, bytes: Vec<u8> },
}

impl ImageSource {
    /// What error messages call the image: its path, or the name it was given.
    pub fn name(&self) -> PathBuf {
        match self {
            ImageSource::File(p) => p.clone(),
            ImageSource::Bytes { name, .. } => PathBuf::from(name),
        }
    }
}

impl From<&Path> for ImageSource {
    fn from(p: &Path) -> Self {
        ImageSource::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for ImageSource {
    fn from(p: &PathBuf) -> Self {
        ImageSource::File(p.clone())
    }
}

impl From<PathBuf> for ImageSource {
    fn from(p: PathBuf) -> Self {
        ImageSource::File(p)
    }
}

impl From<&ImageSource> for ImageSource {
    fn from(s: &ImageSource) -> Self {
        s.clone()
    }
}

/// Which face of an image stands for the image when one is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceChoice {
    /// The largest box: what a person means by "the face in this photo".
    Largest,
    /// Size with a penalty for distance from the image centre (area − 2·d², in pixels): the rule for
    /// datasets like LFW, whose labelled face is the centred one even when a bigger one is beside it.
    Centred,
    /// Exactly one face, else an error.
    Single,
}

/// Time spent per stage for one image, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimings {
    pub decode: f64,
    pub detect: f64,
    pub align: f64,
    pub embed: f64,
}

impl StageTimings {
    pub fn add(&mut self, other: &StageTimings) {
        self.decode += other.decode;
        self.detect += other.detect;
        self.align += other.align;
        self.embed += other.embed;
    }

    pub fn total(&self) -> f64 {
        self.decode + self.detect + self.align + self.embed
    }
}

/// A detected face, with its embedding when one was computed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Face {
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

impl Face {
    fn from_detection(d: &Detection, embedding: Option<Vec<f32>>) -> Face {
        Face {
            bbox: d.bbox.to_array(),
            score: d.score,
            landmarks: d.landmarks.iter().map(|p| [p.x, p.y]).collect(),
            embedding,
        }
    }
}

/// Every face of one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageAnalysis {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<Face>,
    #[serde(skip)]
    pub timings: StageTimings,
}

/// The face chosen to represent an image, with its embedding.
#[derive(Debug, Clone)]
pub struct EmbeddedFace {
    pub detection: Detection,
    pub embedding: Vec<f32>,
    /// How many faces the image held.
    pub faces_in_image: usize,
    pub timings: StageTimings,
}

/// The visage pipeline: detector, aligner and embedder over one set of installed models.
///
/// Cheap to share: every method takes `&self` and models are thread-safe, so one analyzer serves all
/// threads.
pub struct FaceAnalyzer {
    config: AnalyzerConfig,
    installer: Installer,
    inference: InferenceConfig,
    detector: Box<dyn FaceDetector>,
    recognizer: RecognizerSpec,
    embedder: OnceLock<Recognizer>,
    embedder_loading: Mutex<()>,
    policy: DecisionPolicy,
    /// The detector's model files, for [`FaceAnalyzer::models_in_use`].
    detector_models: Vec<ModelInUse>,
    /// Other models of the pack (liveness, attributes), loaded on first use by [`FaceAnalyzer::pack_model`].
    pack_models: Mutex<std::collections::HashMap<String, Arc<dyn Model>>>,
}

impl FaceAnalyzer {
    /// Loads the detector (installing models on first use); the embedding model loads on first need.
    pub fn new(config: AnalyzerConfig) -> Result<FaceAnalyzer, VisageError> {
        let installer = Installer::new(config.home.clone(), Manifest::default_pack()).with_progress(config.progress);
        let spec = RecognizerSpec::resolve(config.recognizer, Manifest::default_pack(), &config.home)
            .map_err(VisageError::Invalid)?;
        let threshold = match (config.threshold, spec.threshold) {
            (Some(t), _) | (None, Some(t)) => t,
            (None, None) if spec.kind.imported_name().is_some() => {
                uncalibrated_threshold(config.calibration.as_deref())
            }
            (None, None) => return Err(VisageError::NoThreshold),
        };
        if let Some(c) = &config.calibration {
            c.check_model(spec.sha256)?;
        }
        let policy = DecisionPolicy { configured: threshold, calibration: config.calibration.clone() };
        let backend = choose_backend(&config, &installer)?;
        if backend == BackendKind::Tract {
            if let Some((m, _)) = spec.parts.iter().find(|(m, _)| face_input_of(m).is_some_and(|i| i.ort_only)) {
                return Err(VisageError::Invalid(format!(
                    "--recognizer {} runs {}, whose block-quantised weights only ONNX Runtime can run: use \
                     --backend ort (`visage models install` adds it)",
                    spec.kind, m.id
                )));
            }
        }
        let inference = InferenceConfig {
            backend,
            intra_threads: config.intra_threads.max(1),
            ort_library: if backend == BackendKind::Ort { installer.installed_runtime() } else { None },
        };
        let detector = match build_detector(&config, &installer, &inference) {
            // The library installed but cannot be loaded here (another libc, a broken file): when the
            // user did not ask for ONNX Runtime, fall back to tract rather than fail.
            Err(VisageError::Inference(e @ InferError::RuntimeLibrary { .. })) if config.backend.is_none() => {
                eprintln!("visage: {e}; using the slower tract backend");
                let inference = InferenceConfig { backend: BackendKind::Tract, ort_library: None, ..inference };
                let detector = build_detector(&config, &installer, &inference)?;
                return Ok(FaceAnalyzer::assemble(config, installer, inference, detector, (spec, policy)));
            }
            other => other?,
        };
        Ok(FaceAnalyzer::assemble(config, installer, inference, detector, (spec, policy)))
    }

    fn assemble(
        config: AnalyzerConfig,
        installer: Installer,
        inference: InferenceConfig,
        detector: Box<dyn FaceDetector>,
        (recognizer, policy): (RecognizerSpec, DecisionPolicy),
    ) -> FaceAnalyzer {
        FaceAnalyzer {
            detector_models: in_use::detector_models(detector.kind(), &installer),
            config,
            installer,
            inference,
            detector,
            recognizer,
            embedder: OnceLock::new(),
            embedder_loading: Mutex::new(()),
            policy,
            pack_models: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn models(&self) -> ModelLoader<'_> {
        ModelLoader { installer: &self.installer, inference: &self.inference, auto_install: self.config.auto_install }
    }

    fn embedder(&self) -> Result<&Recognizer, VisageError> {
        if let Some(e) = self.embedder.get() {
            return Ok(e);
        }
        // One thread loads the model; the others wait for it rather than load their own copy.
        let _loading = self.embedder_loading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = self.embedder.get() {
            return Ok(e);
        }
        let mut parts = Vec::new();
        for (model, weight) in &self.recognizer.parts {
            let input = face_input_of(model).ok_or_else(|| {
                VisageError::Invalid(format!("{} is not an embedding model visage can run", model.id))
            })?;
            let loaded = match model.package == visage_recognize::imported::PACKAGE {
                true => in_use::load_imported_recognizer(model, &self.installer, &self.inference)?,
                false => self.models().load(&model.id)?,
            };
            let embedder = Embedder::for_input(loaded, input, self.config.embedder_options);
            parts.push((embedder, *weight));
        }
        let recognizer = Recognizer::new(parts);
        Ok(self.embedder.get_or_init(|| recognizer))
    }

    /// A model of the pack by manifest id, loaded (and installed, if allowed) on first use and then
    /// shared: what the liveness and attribute models go through, so callers that never ask pay nothing.
    pub fn pack_model(&self, id: &str) -> Result<Arc<dyn Model>, VisageError> {
        let mut models = self.pack_models.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = models.get(id) {
            return Ok(m.clone());
        }
        let model = self.models().load(id)?;
        models.insert(id.to_string(), model.clone());
        Ok(model)
    }

    /// The backend models run on.
    pub fn backend(&self) -> BackendKind {
        self.inference.backend
    }

    pub fn detector_kind(&self) -> DetectorKind {
        self.detector.kind()
    }

    pub fn installer(&self) -> &Installer {
        &self.installer
    }

    /// The verifier with the configured (or manifest default) threshold.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.policy.configured)
    }

    /// The thresholds decisions are made with: the configured one and the active calibration.
    pub fn policy(&self) -> &DecisionPolicy {
        &self.policy
    }

    /// The limits images are decoded with.
    pub fn load_options(&self) -> &LoadOptions {
        &self.config.load_options
    }

    /// Decodes an image (a file or uploaded bytes) at full size with the configured limits.
    pub fn load(&self, image: impl Into<ImageSource>) -> Result<RgbImage, VisageError> {
        let image = image.into();
        let decoded = match &image {
            ImageSource::File(path) => load_image(path, &self.config.load_options),
            ImageSource::Bytes { bytes, .. } => decode_image(bytes, &self.config.load_options),
        };
        decoded.map_err(|source| VisageError::Image { path: image.name(), source })
    }

    /// All faces in a decoded image.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, VisageError> {
        Ok(self.detector.detect(image)?)
    }

    /// The 112x112 aligned crop of a face (a plain box crop if its landmarks are degenerate, which a
    /// real detector does not produce).
    pub fn align(&self, image: &RgbImage, face: &Detection) -> RgbImage {
        match align_face(image, &face.landmarks) {
            Some((crop, _)) => crop,
            None => box_crop(image, &face.bbox),
        }
    }

    /// Embeddings of aligned crops, in one batch where the backend gains from it.
    pub fn embed_aligned(&self, crops: &[RgbImage]) -> Result<Vec<Vec<f32>>, VisageError> {
        Ok(self.embedder()?.embed(crops)?)
    }

    /// The id and SHA-256 of the embedding model (for fusion, of the fusion entry): templates are
    /// comparable only within one model.
    pub fn embedding_model(&self) -> (&'static str, &'static str) {
        (self.recognizer.id, self.recognizer.sha256)
    }

    /// Every model file the pipeline runs for detection and recognition, with its hash and licence
    /// (imported models with the licence the user stated).
    pub fn models_in_use(&self) -> Vec<ModelInUse> {
        let recognizer = self.recognizer.parts.iter().map(|(m, _)| ModelInUse::recognizer(m));
        self.detector_models.iter().cloned().chain(recognizer).collect()
    }

    /// The recogniser faces are embedded with.
    pub fn recognizer_kind(&self) -> RecognizerKind {
        self.recognizer.kind
    }

    /// Length of the embeddings (512 for ArcFace, 128 for SFace, 640 for their fusion).
    pub fn embedding_dim(&self) -> usize {
        self.recognizer.dim()
    }

    /// Aligns every detected face and embeds them in one batch. Returns the embeddings and the time
    /// spent aligning and embedding, in ms.
    pub fn embed_detections(
        &self,
        image: &RgbImage,
        faces: &[Detection],
    ) -> Result<(Vec<Vec<f32>>, f64, f64), VisageError> {
        self.embedder()?;
        let t = Instant::now();
        let crops: Vec<RgbImage> = faces.iter().map(|f| self.align(image, f)).collect();
        let align_ms = ms(t);
        let t = Instant::now();
        let embeddings = self.embed_aligned(&crops)?;
        Ok((embeddings, align_ms, ms(t)))
    }

    /// Reads and decodes an image at the size the detector works at ([`crate::photo`]), with the
    /// configured limits and every check of a full decode.
    pub fn open(&self, source: impl Into<ImageSource>) -> Result<Photo, VisageError> {
        let source = source.into();
        let name = source.name();
        let bytes = match source {
            ImageSource::File(path) => read_image_file(&path, self.load_options())
                .map_err(|source| VisageError::Image { path: name.clone(), source })?,
            ImageSource::Bytes { bytes, .. } => bytes,
        };
        let detector = self.detector.as_ref();
        Photo::decode(name, bytes, self.load_options(), |w, h| detector.working_size(w, h))
    }

    /// All faces of a photo, in its full-size pixel coordinates.
    pub fn detect_photo(&self, photo: &Photo) -> Result<Vec<Detection>, VisageError> {
        Ok(self.detector.detect_shrunk(&photo.decoded().image, photo.width(), photo.height())?)
    }

    /// The photo at a resolution where each of `faces` (full-size coordinates) keeps its full detail
    /// ([`Photo::detail`]), with the configured limits.
    pub fn detail<'p>(&self, photo: &'p Photo, faces: &[Detection]) -> Result<DetailView<'p>, VisageError> {
        photo.detail(faces, self.load_options())
    }

    /// The 112x112 aligned crops of `faces` (full-size coordinates), each from an image where it keeps
    /// its full detail.
    pub fn align_photo(&self, photo: &Photo, faces: &[Detection]) -> Result<Vec<RgbImage>, VisageError> {
        let view = self.detail(photo, faces)?;
        Ok(view.faces.iter().map(|f| self.align(&view.image, f)).collect())
    }

    /// Aligns `faces` of a photo (full-size coordinates), each from an image where it keeps its full
    /// detail, and embeds them in one batch, adding the time of each stage to `timings` (a second
    /// decode, when a face needs one, counts as decoding).
    pub fn embed_photo_faces(
        &self,
        photo: &Photo,
        faces: &[Detection],
        timings: &mut StageTimings,
    ) -> Result<Vec<Vec<f32>>, VisageError> {
        self.embedder()?;
        let t = Instant::now();
        let view = self.detail(photo, faces)?;
        timings.decode += ms(t);
        let t = Instant::now();
        let crops: Vec<RgbImage> = view.faces.iter().map(|f| self.align(&view.image, f)).collect();
        timings.align += ms(t);
        let t = Instant::now();
        let embeddings = self.embed_aligned(&crops)?;
        timings.embed += ms(t);
        Ok(embeddings)
    }

    /// Detects every face of an image and, if `embed`, embeds them all. Large JPEGs are decoded at
    /// the detector's working size and faces cropped at full detail ([`crate::photo`]).
    pub fn analyze(&self, image: impl Into<ImageSource>, embed: bool) -> Result<ImageAnalysis, VisageError> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let photo = self.open(image)?;
        timings.decode = ms(t);
        let t = Instant::now();
        let detections = self.detect_photo(&photo)?;
        timings.detect = ms(t);
        let faces = if embed && !detections.is_empty() {
            let embeddings = self.embed_photo_faces(&photo, &detections, &mut timings)?;
            detections.iter().zip(embeddings).map(|(d, e)| Face::from_detection(d, Some(e))).collect()
        } else {
            detections.iter().map(|d| Face::from_detection(d, None)).collect()
        };
        Ok(ImageAnalysis { width: photo.width(), height: photo.height(), faces, timings })
    }

    /// The one face that stands for an image file, embedded. Errors if there is no face (or, with
    /// [`FaceChoice::Single`], more than one).
    ///
    /// Large JPEGs are decoded at the detector's working size and the face cropped at full detail
    /// ([`crate::photo`]).
    pub fn embed_one(&self, source: impl Into<ImageSource>, choice: FaceChoice) -> Result<EmbeddedFace, VisageError> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let photo = self.open(source)?;
        timings.decode = ms(t);
        let t = Instant::now();
        let detections = self.detect_photo(&photo)?;
        timings.detect = ms(t);
        let chosen = choose_face(&detections, choice, photo.width(), photo.height())
            .map_err(|count| match count {
                0 => VisageError::NoFace { path: photo.name().to_path_buf() },
                n => VisageError::SeveralFaces { path: photo.name().to_path_buf(), count: n },
            })?
            .clone();
        let embedding = self.embed_photo_faces(&photo, std::slice::from_ref(&chosen), &mut timings)?.remove(0);
        Ok(EmbeddedFace { detection: chosen, embedding, faces_in_image: detections.len(), timings })
    }

    /// The face `choice` picks among the `detections` of an image already decoded, embedded; errors
    /// name the image as `path`.
    pub fn embed_choice(
        &self,
        image: &RgbImage,
        detections: &[Detection],
        choice: FaceChoice,
        path: &std::path::Path,
    ) -> Result<EmbeddedFace, VisageError> {
        let chosen = choose_face(detections, choice, image.width(), image.height())
            .map_err(|count| match count {
                0 => VisageError::NoFace { path: path.to_path_buf() },
                n => VisageError::SeveralFaces { path: path.to_path_buf(), count: n },
            })?
            .clone();
        let (mut embeddings, align, embed) = self.embed_detections(image, std::slice::from_ref(&chosen))?;
        let timings = StageTimings { align, embed, ..StageTimings::default() };
        Ok(EmbeddedFace {
            detection: chosen,
            embedding: embeddings.remove(0),
            faces_in_image: detections.len(),
            timings,
        })
    }
}

/// The face `choice` picks, or `Err(count)` when it cannot pick one.
pub fn choose_face(faces: &[Detection], choice: FaceChoice, width: u32, height: u32) -> Result<&Detection, usize> {
    let centre = Point::new(width as f32 / 2.0, height as f32 / 2.0);
    let centred = |d: &Detection| {
        let c = d.bbox.center();
        d.bbox.area() - 2.0 * ((c.x - centre.x).powi(2) + (c.y - centre.y).powi(2))
    };
    let best = match choice {
        FaceChoice::Single if faces.len() != 1 => return Err(faces.len()),
        FaceChoice::Single | FaceChoice::Largest => faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())),
        FaceChoice::Centred => faces.iter().max_by(|a, b| centred(a).total_cmp(&centred(b))),
    };
    best.ok_or(0)
}

/// ONNX Runtime is fetched as the Linux x86-64 wheel; elsewhere visage runs on tract.
const ORT_PLATFORM: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

fn choose_backend(config: &AnalyzerConfig, installer: &Installer) -> Result<BackendKind, VisageError> {
    match config.backend {
        Some(BackendKind::Tract) => return Ok(BackendKind::Tract),
        Some(BackendKind::Ort) => {
            // Asked for explicitly: install it like any model, or fail saying why.
            if config.auto_install {
                installer.ensure_runtime()?;
            }
            return Ok(BackendKind::Ort);
        }
        None => {}
    }
    if !ORT_PLATFORM {
        return Ok(BackendKind::Tract);
    }
    if installer.installed_runtime().is_some() {
        return Ok(BackendKind::Ort);
    }
    if config.auto_install {
        match installer.ensure_runtime() {
            Ok(_) => return Ok(BackendKind::Ort),
            Err(e) => {
                let reason = e.to_string();
                let first_line = reason.lines().next().unwrap_or_default();
                eprintln!("visage: ONNX Runtime is not available ({first_line}); using the slower tract backend");
            }
        }
    } else {
        eprintln!(
            "visage: ONNX Runtime is not installed; using the slower tract backend (`visage models install` adds it)"
        );
    }
    Ok(BackendKind::Tract)
}

fn build_detector(
    config: &AnalyzerConfig,
    installer: &Installer,
    inference: &InferenceConfig,
) -> Result<Box<dyn FaceDetector>, VisageError> {
    let models = ModelLoader { installer, inference, auto_install: config.auto_install };
    let options = config.detector_options;
    Ok(match config.detector {
        DetectorKind::CenterFace => {
            Box::new(CenterFace::new(models.load(ids::CENTERFACE)?, options).with_max_side(config.detect_max_side))
        }
        DetectorKind::BlazeFace if inference.backend == BackendKind::Tract => {
            return Err(VisageError::Invalid(
                "--detector blazeface needs ONNX Runtime (--backend ort): tract 0.23 cannot type its zero-padding \
                 (ConstantOfShape) nodes"
                    .into(),
            ))
        }
        DetectorKind::BlazeFace => Box::new(BlazeFace::new(models.load(ids::BLAZEFACE)?, options)),
        DetectorKind::Mtcnn => Box::new(Mtcnn::new(
            models.load(ids::MTCNN_PNET)?,
            models.load(ids::MTCNN_RNET)?,
            models.load(ids::MTCNN_ONET)?,
            options,
        )),
        DetectorKind::UltraFace => {
            let landmarks = Landmark68::new(models.load(ids::LANDMARK68)?);
            Box::new(UltraFace::new(models.load(ids::ULTRAFACE)?, landmarks, options))
        }
        kind @ (DetectorKind::Scrfd | DetectorKind::RetinaFace) => {
            imported_detector(kind, installer, inference, options)?
        }
    })
}

/// SCRFD or RetinaFace from the model the user imported, at the input size its graph fixes, else
/// InsightFace's 640x640.
fn imported_detector(
    kind: DetectorKind,
    installer: &Installer,
    inference: &InferenceConfig,
    options: DetectorOptions,
) -> Result<Box<dyn FaceDetector>, VisageError> {
    let family = in_use::imported_family(kind).expect("an imported detector");
    let (model, record) = in_use::load_imported_detector(family, installer, inference)?;
    let input = record.input_size.map_or((Scrfd::DEFAULT_SIZE, Scrfd::DEFAULT_SIZE), |(h, w)| (w, h));
    Ok(match kind {
        DetectorKind::Scrfd => Box::new(Scrfd::new(model, options, input)),
        _ => Box::new(RetinaFace::new(model, options, input)),
    })
}

/// The configured threshold of an imported recogniser: with a calibration, its threshold at FAR 1e-3
/// (the operating point of the pack's defaults); without one, none (NaN), which decisions at the
/// configured threshold refuse ([`VisageError::NoThreshold`]) until `visage calibrate` runs with it.
fn uncalibrated_threshold(calibration: Option<&Calibration>) -> f32 {
    calibration.and_then(|c| c.threshold_for_far(1e-3).ok()).filter(|t| t.is_finite()).unwrap_or(f32::NAN)
}

/// A plain 112x112 crop of the box: only for faces whose landmarks cannot be aligned.
fn box_crop(image: &RgbImage, bbox: &BBox) -> RgbImage {
    let b = bbox.clip(image.width() as f32, image.height() as f32);
    let (x, y) = (b.x1 as u32, b.y1 as u32);
    let (w, h) = ((b.width() as u32).max(1), (b.height() as u32).max(1));
    let crop = image::imageops::crop_imm(
        image,
        x,
        y,
        w.min(image.width() - x.min(image.width() - 1)),
        h.min(image.height() - y.min(image.height() - 1)),
    );
    visage_core::tensor::resize_rgb(&crop.to_image(), 112, 112)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Loads models of the pack: verified (and installed first, if allowed), then on the chosen backend.
struct ModelLoader<'a> {
    installer: &'a Installer,
    inference: &'a InferenceConfig,
    auto_install: bool,
}

impl ModelLoader<'_> {
    fn load(&self, id: &str) -> Result<Arc<dyn Model>, VisageError> {
        let path = if self.auto_install {
            self.installer.ensure_models(&[id])?.remove(0)
        } else {
            self.installer.installed_model(id)?
        };
        Ok(load_model(&path, self.inference)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection { bbox: BBox::new(x1, y1, x2, y2), score: 0.9, landmarks: [Point::default(); 5], landmarks68: None }
    }

    #[test]
    fn face_choice_rules() {
        // A big face at the edge and a smaller one in the centre of a 250x250 image.
        let faces = vec![det(150.0, 0.0, 250.0, 100.0), det(95.0, 95.0, 155.0, 155.0)];
        assert_eq!(choose_face(&faces, FaceChoice::Largest, 250, 250).unwrap().bbox.x1, 150.0);
        assert_eq!(choose_face(&faces, FaceChoice::Centred, 250, 250).unwrap().bbox.x1, 95.0);
        assert_eq!(choose_face(&faces, FaceChoice::Single, 250, 250).unwrap_err(), 2);
        assert_eq!(choose_face(&[], FaceChoice::Largest, 250, 250).unwrap_err(), 0);
        assert_eq!(choose_face(&faces[..1], FaceChoice::Single, 250, 250).unwrap().bbox.x1, 150.0);
    }
}
