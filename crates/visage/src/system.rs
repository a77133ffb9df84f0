//! [`FaceRecognitionSystem`]: the pipeline over a gallery. People are enrolled with consent,
//! identified among everyone enrolled (with an explicit "unknown"), verified, exported and erased;
//! every read and write of biometric data is audited.

use crate::quality::{QualityPolicy, QualityReport};
use crate::{AnalyzerConfig, FaceAnalyzer, FaceChoice, ImageSource, VisageError};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::RwLock;
use visage_index::IndexKind;

mod identify;
mod live;
mod purpose_filter;
mod recognizer_check;
mod search_index;
mod verify;
pub use identify::{Identification, IdentifiedFace};
pub use live::EnrolLiveness;
use purpose_filter::PurposeFilter;
pub use search_index::Candidate;
use search_index::{BackgroundHnsw, SubjectIndex};
use visage_store::{
    AuditEntry, AuditFilter, AuditVerification, Consent, ConsentGrant, GalleryStore, NewTemplate, PurgeReport,
    StoreKey, StoreSpec, Subject, SubjectExport,
};

/// Everything that configures a [`FaceRecognitionSystem`].
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub analyzer: AnalyzerConfig,
    /// Where the store (and its key file, unless `VISAGE_KEY` is set) lives.
    pub data_dir: PathBuf,
    /// Who acts in the system's own operations (the purge at start-up), as recorded in the audit log.
    pub actor: String,
    pub quality: QualityPolicy,
    /// Exact search, HNSW, or chosen by gallery size (`Auto`, see `hnsw_above`).
    pub index: IndexKind,
    /// With `IndexKind::Auto`: above this many templates, an HNSW graph is built in a background thread
    /// while the exact scan answers, and used once ready. `None`: never (exact search, the right choice
    /// for a process that answers one request and exits).
    pub hnsw_above: Option<usize>,
    /// Passive liveness at enrolment (off unless turned on).
    pub enrol_liveness: EnrolLiveness,
    /// Which gallery: `None` is the embedded SQLite store in `data_dir`; a PostgreSQL store with plain
    /// templates is searched in the database (no in-process index).
    pub store: Option<StoreSpec>,
    /// Photos of one enrolment processed at once (decode, detect, quality, liveness, embed); their
    /// templates keep the photos' order. 1 by default: a service already runs requests in parallel;
    /// `visage enroll` uses every core.
    pub enrol_workers: usize,
    /// Take the recogniser from the gallery: the one that made most of its templates, when it can run
    /// here, instead of `analyzer.recognizer`; for work that compares no faces (listing, erasure,
    /// export, consent, audit), which must never be refused for the recogniser. Off by default: a
    /// recogniser that cannot compare with the gallery's templates is refused ([`VisageError::Invalid`]).
    pub recognizer_from_gallery: bool,
}

impl SystemConfig {
    /// Defaults with the store in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> SystemConfig {
        SystemConfig {
            analyzer: AnalyzerConfig::default(),
            data_dir: data_dir.into(),
            actor: default_actor(),
            quality: QualityPolicy::default(),
            index: IndexKind::Auto,
            hnsw_above: Some(visage_index::DEFAULT_AUTO_THRESHOLD),
            enrol_liveness: EnrolLiveness::default(),
            store: None,
            enrol_workers: 1,
            recognizer_from_gallery: false,
        }
    }
}

/// The local user name, for audit entries of CLI use.
pub fn default_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

pub use visage_models::home::default_data_dir;

/// What to enrol.
#[derive(Debug, Clone)]
pub struct EnrollRequest {
    pub subject: String,
    pub name: Option<String>,
    pub consent: ConsentGrant,
    /// One face per image; each becomes a template.
    pub images: Vec<ImageSource>,
    /// Enrol even if a face matches another subject (audited).
    pub allow_duplicate: bool,
}

/// The result of an enrolment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrollOutcome {
    pub subject: String,
    pub templates: Vec<i64>,
    pub quality: Vec<QualityReport>,
    /// Other subjects the faces matched, enrolled anyway with `allow_duplicate`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates_overridden: Vec<Candidate>,
}

/// A face recognition system over one gallery: [`FaceAnalyzer`] + [`GalleryStore`] + search index.
///
/// ```no_run
/// use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
/// use visage::Decision;
/// use visage::store::ConsentGrant;
/// use std::path::{Path, PathBuf};
///
/// let system = FaceRecognitionSystem::open(SystemConfig::new("/var/lib/visage"))?;
/// system.enroll(&EnrollRequest {
///     subject: "alice".into(),
///     name: Some("Alice Liddell".into()),
///     consent: ConsentGrant {
///         purpose: "office-access".into(),
///         legal_basis: "consent".into(),
///         evidence: "signed form 2026-118".into(),
///         expires_at: None,
///     },
///     images: vec![PathBuf::from("alice-1.jpg").into(), PathBuf::from("alice-2.jpg").into()],
///     allow_duplicate: false,
/// }, "cli:admin")?;
/// for face in system.identify(Path::new("door-camera.jpg"), &Decision::default(), "cli:admin")?.faces {
///     println!("{:?} ({:?})", face.matched, face.similarity);   // Some("alice") or None: unknown
/// }
/// system.delete("alice", "cli:admin")?;                         // right to erasure
/// assert!(system.audit_verify()?.intact);
/// # Ok::<(), visage::VisageError>(())
/// ```
pub struct FaceRecognitionSystem {
    analyzer: FaceAnalyzer,
    store: Box<dyn GalleryStore>,
    index: RwLock<SubjectIndex>,
    hnsw: BackgroundHnsw,
    /// Who is consented for what, for purpose-bound searches in memory (filled on first use).
    consents: RwLock<PurposeFilter>,
    config: SystemConfig,
}

impl FaceRecognitionSystem {
    /// Opens the gallery in `config.data_dir` (creating it and its key on first run), purges templates
    /// whose consent has expired, and builds the search index from the store.
    pub fn open(mut config: SystemConfig) -> Result<FaceRecognitionSystem, VisageError> {
        let key = StoreKey::load_or_create(&config.data_dir)?;
        let spec = config.store.clone().unwrap_or_else(|| StoreSpec::Sqlite(config.data_dir.clone()));
        let store = spec.open(key)?;
        let (purged, _) = store.purge_expired(&config.actor)?;
        if purged.templates_removed > 0 {
            tracing::info!("removed {} template(s) whose consent expired", purged.templates_removed);
        }
        if config.recognizer_from_gallery {
            if let Some(kind) = recognizer_check::gallery_recognizer(store.as_ref())? {
                config.analyzer.recognizer = kind;
            }
        }
        let analyzer = FaceAnalyzer::new(config.analyzer.clone())?;
        if !config.recognizer_from_gallery {
            recognizer_check::check_recognizer(store.as_ref(), &analyzer)?;
        }
        if analyzer.policy().configured.is_nan() {
            // An uncalibrated imported recogniser: enrolment's duplicate check and identification need a
            // threshold.
            return Err(VisageError::NoThreshold);
        }
        let (_, model_sha) = analyzer.embedding_model();
        let mut index = SubjectIndex::new(config.index, analyzer.embedding_dim())?;
        // A store that searches in the database needs no copy of the templates here.
        if !store.searches_in_database() {
            // The position first: whatever changes after it is applied again by `sync`, harmlessly.
            index.position = store.template_log_position()?;
            index.add_records(store.all_templates()?, model_sha)?;
            index.fit_ef_search();
        }
        if !index.foreign.is_empty() {
            tracing::warn!(
                "{} template(s) were made by another embedding model and are not searched",
                index.foreign.len()
            );
        }
        let system = FaceRecognitionSystem {
            analyzer,
            store,
            index: RwLock::new(index),
            hnsw: BackgroundHnsw::default(),
            consents: RwLock::new(PurposeFilter::default()),
            config,
        };
        system.changed();
        Ok(system)
    }

    /// The in-process search in use (`None` when the database searches): exact, or HNSW once built.
    pub fn search_index(&self) -> Option<IndexKind> {
        (!self.store.searches_in_database()).then(|| self.read_index().kind())
    }

    /// Waits for a background HNSW build, if one is running, and puts the graph in use.
    pub fn wait_for_search_index(&self) -> Result<(), VisageError> {
        match self.hnsw.take_finished(true) {
            Some(built) => self.swap_in(built),
            None => Ok(()),
        }
    }

    /// After the gallery changed: an `Auto` gallery that outgrew the exact scan gets its HNSW graph
    /// built, and a graph that lost many nodes is rebuilt, both in the background (unless
    /// `hnsw_above` is `None`: no background work).
    fn changed(&self) {
        if let Some(above) = self.config.hnsw_above {
            if !self.store.searches_in_database() {
                self.hnsw.start_if_needed(&self.read_index(), self.config.index == IndexKind::Auto, above);
            }
        }
    }

    /// Puts a graph built in the background in use, after it caught up with the changes made since
    /// its snapshot (the write lock is held throughout, so no change in between is lost).
    fn swap_in(&self, mut built: SubjectIndex) -> Result<(), VisageError> {
        let mut index = self.write_index();
        let changes = self.store.template_changes(built.position)?;
        let (_, model_sha) = self.analyzer.embedding_model();
        built.apply(changes, model_sha)?;
        *index = built;
        tracing::info!("the HNSW index is in use ({} templates)", index.len());
        Ok(())
    }

    pub fn analyzer(&self) -> &FaceAnalyzer {
        &self.analyzer
    }

    pub fn store(&self) -> &dyn GalleryStore {
        self.store.as_ref()
    }

    /// Templates in the store made by another model (not searchable until re-enrolled).
    pub fn foreign_templates(&self) -> usize {
        self.read_index().foreign.len()
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, SubjectIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, SubjectIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The best `k` subjects for each embedding: in the database when the store searches there (so
    /// every service on that database sees each enrolment and erasure at once), else in the in-process
    /// index, brought up to date with the store once for the whole batch. With a `purpose`, only
    /// among the subjects holding an active consent for it.
    fn search(
        &self,
        embeddings: &[Vec<f32>],
        k: usize,
        purpose: Option<&str>,
    ) -> Result<Vec<Vec<Candidate>>, VisageError> {
        let (_, model_sha) = self.analyzer.embedding_model();
        if self.store.searches_in_database() {
            return embeddings
                .iter()
                .map(|e| {
                    let found = self.store.search(e, k, model_sha, purpose)?;
                    Ok(found.into_iter().map(|(subject, similarity)| Candidate { subject, similarity }).collect())
                })
                .collect();
        }
        self.sync()?;
        let Some(purpose) = purpose else {
            let index = self.read_index();
            return embeddings.iter().map(|e| index.search(e, k, None)).collect();
        };
        self.sync_consents()?;
        let consents = self.consents.read().unwrap_or_else(|p| p.into_inner());
        let now = visage_store::time_util::now();
        let consented = consents.consented(purpose, &now);
        let index = self.read_index();
        embeddings.iter().map(|e| index.search(e, k, Some(&consented))).collect()
    }

    /// The best `k` subjects for one embedding made by this system's analyzer (a video track's fused
    /// embedding, say), searched like `identify`'s faces (among the subjects consented for `purpose`,
    /// if given). Not audited: the caller audits its decision.
    pub fn search_embedding(
        &self,
        embedding: &[f32],
        k: usize,
        purpose: Option<&str>,
    ) -> Result<Vec<Candidate>, VisageError> {
        Ok(self.search(&[embedding.to_vec()], k.max(1), purpose)?.pop().unwrap_or_default())
    }

    /// Brings the purpose filter up to date with the store's consent log (one small query when nothing
    /// changed): consents granted, revoked or erased by any process count at once.
    fn sync_consents(&self) -> Result<(), VisageError> {
        let position = self.store.consent_log_position()?;
        if position <= self.consents.read().unwrap_or_else(|p| p.into_inner()).position {
            return Ok(());
        }
        let mut consents = self.consents.write().unwrap_or_else(|p| p.into_inner());
        if position > consents.position {
            let changes = self.store.consent_changes(consents.position)?;
            consents.apply(changes);
        }
        Ok(())
    }

    /// Brings the in-process index up to date with the store: other processes on the same gallery (a
    /// CLI next to `visage serve`, replicas on one PostgreSQL database with encrypted templates) may
    /// have enrolled or erased since. One small query when nothing changed.
    fn sync(&self) -> Result<(), VisageError> {
        if let Some(built) = self.hnsw.take_finished(false) {
            self.swap_in(built)?;
        }
        let position = self.store.template_log_position()?;
        if position <= self.read_index().position {
            return Ok(());
        }
        let mut index = self.write_index();
        if position <= index.position {
            return Ok(()); // another thread caught up meanwhile
        }
        let changes = self.store.template_changes(index.position)?;
        let (_, model_sha) = self.analyzer.embedding_model();
        index.apply(changes, model_sha)?;
        drop(index);
        self.changed();
        Ok(())
    }

    /// Drops erased templates from the in-process index (nothing to do when the database searches).
    fn forget(&self, ids: &[i64]) -> Result<(), VisageError> {
        if !self.store.searches_in_database() {
            self.write_index().remove(ids)?;
            self.changed();
        }
        Ok(())
    }

    /// Enrols one subject from one or more images, all or nothing: each image must hold exactly one
    /// face that passes the quality gate, no face may match another subject (unless allowed, which is
    /// audited), and the consent is recorded with the templates in one transaction.
    pub fn enroll(&self, request: &EnrollRequest, actor: &str) -> Result<EnrollOutcome, VisageError> {
        validate_request(request)?;
        let prepared = self.prepare_enrolment(request);
        self.enroll_prepared(request, prepared, actor)
    }

    /// The photo work of an enrolment (each photo's one face found, checked for quality and liveness,
    /// embedded), without reading or writing the gallery: many requests can be prepared at once on
    /// several threads, then committed one at a time with [`FaceRecognitionSystem::enroll_prepared`].
    pub fn prepare_enrolment(&self, request: &EnrollRequest) -> PreparedEnrolment {
        let mut faces = Vec::with_capacity(request.images.len());
        crate::parallel::map_ordered(
            &request.images,
            self.config.enrol_workers,
            |source| self.enrolment_face(source),
            |_, face| faces.push(face),
        );
        PreparedEnrolment { faces }
    }

    /// Completes an enrolment [`FaceRecognitionSystem::prepare_enrolment`] prepared from `request`: the
    /// same checks, gallery search, transaction and audit as [`FaceRecognitionSystem::enroll`].
    pub fn enroll_prepared(
        &self,
        request: &EnrollRequest,
        prepared: PreparedEnrolment,
        actor: &str,
    ) -> Result<EnrollOutcome, VisageError> {
        validate_request(request)?;
        if prepared.faces.len() != request.images.len() {
            return Err(VisageError::Invalid("the prepared enrolment is for another request".into()));
        }
        let result = self.enroll_checked(request, prepared.faces, actor);
        // A refusal is audited too: the images were processed, and a forced duplicate must be traceable.
        if let Err(e) = &result {
            let (outcome, detail) = match e {
                VisageError::PoorQuality { reasons, .. } => {
                    ("refused-quality", serde_json::json!({"reasons": reasons}))
                }
                VisageError::Spoof { score, threshold, .. } => {
                    ("refused-spoof", serde_json::json!({"liveness": score, "threshold": threshold}))
                }
                VisageError::Duplicate { similarity, .. } => {
                    ("refused-duplicate", serde_json::json!({"similarity": similarity}))
                }
                VisageError::NoFace { .. } | VisageError::SeveralFaces { .. } => {
                    ("refused-face", serde_json::json!({"reason": e.to_string()}))
                }
                other => ("failed", serde_json::json!({"reason": other.to_string()})),
            };
            let event =
                visage_store::AuditEvent::new(actor, "enroll", outcome).subject(&request.subject).detail(detail);
            // The subject a duplicate matched is named by its pseudonym, like every subject in the log.
            let event = match e {
                VisageError::Duplicate { other, .. } => event.naming("matches", other),
                _ => event,
            };
            self.store.audit(event)?;
        }
        result
    }

    fn enroll_checked(
        &self,
        request: &EnrollRequest,
        faces: Vec<Result<EnrolmentFace, VisageError>>,
        actor: &str,
    ) -> Result<EnrollOutcome, VisageError> {
        let (model_id, model_sha) = self.analyzer.embedding_model();
        let mut templates = Vec::new();
        let mut reports = Vec::new();
        let mut overridden = Vec::new();
        let mut liveness = Vec::new();
        // The checks against the gallery follow the photos' order.
        for (source, face) in request.images.iter().zip(faces) {
            let path = &source.name();
            let EnrolmentFace { embedding, report, liveness: live } = face?;
            if let Some(l) = live {
                liveness.push(l.score);
            }
            let others: Vec<Candidate> = self
                .search(std::slice::from_ref(&embedding), 4, None)?
                .remove(0)
                .into_iter()
                .filter(|c| c.subject != request.subject && c.similarity >= self.analyzer.verifier().threshold)
                .collect();
            if let Some(other) = others.first() {
                if !request.allow_duplicate {
                    return Err(VisageError::Duplicate {
                        path: path.clone(),
                        other: other.subject.clone(),
                        similarity: other.similarity,
                    });
                }
                overridden.push(other.clone());
            }
            templates.push(NewTemplate {
                embedding,
                model_id: model_id.to_string(),
                model_sha256: model_sha.to_string(),
                quality: report.score,
            });
            reports.push(report);
        }
        let detail = serde_json::json!({
            "images": request.images.len(),
            "allow_duplicate": request.allow_duplicate,
            "liveness_required": self.config.enrol_liveness.required,
            "liveness": liveness,
            "duplicates_overridden": overridden.iter().map(|c| &c.subject).collect::<Vec<_>>(),
        });
        let ids = self.store.enroll(
            &request.subject,
            request.name.as_deref(),
            &request.consent,
            &templates,
            actor,
            detail,
        )?;
        if !self.store.searches_in_database() {
            let mut index = self.write_index();
            for (id, t) in ids.iter().zip(&templates) {
                index.add(*id as u64, &request.subject, &t.embedding)?;
            }
            drop(index);
            self.changed();
        }
        Ok(EnrollOutcome {
            subject: request.subject.clone(),
            templates: ids,
            quality: reports,
            duplicates_overridden: overridden,
        })
    }

    /// The face of one enrolment photo: exactly one, of enrolment quality, live when liveness is
    /// required, embedded. Large JPEGs are decoded at the detector's working size and the face cropped
    /// at full detail ([`crate::photo`]).
    fn enrolment_face(&self, source: &ImageSource) -> Result<EnrolmentFace, VisageError> {
        let path = &source.name();
        let photo = self.analyzer.open(source)?;
        let faces = self.analyzer.detect_photo(&photo)?;
        let face = match crate::choose_face(&faces, FaceChoice::Single, photo.width(), photo.height()) {
            Ok(f) => f,
            Err(0) => return Err(VisageError::NoFace { path: path.clone() }),
            Err(n) => return Err(VisageError::SeveralFaces { path: path.clone(), count: n }),
        };
        let view = self.analyzer.detail(&photo, std::slice::from_ref(face))?;
        let crop = self.analyzer.align(&view.image, &view.faces[0]);
        let report = self.config.quality.assess(face, &crop, None);
        if !report.ok {
            return Err(VisageError::PoorQuality { path: path.clone(), reasons: report.reasons });
        }
        let liveness = self.enrol_liveness_check(path, &view.image, &view.faces[0])?;
        let embedding = self.analyzer.embed_aligned(std::slice::from_ref(&crop))?.remove(0);
        Ok(EnrolmentFace { embedding, report, liveness })
    }

    /// Erases a subject (templates, consent, index entries); the audit keeps a tombstone.
    pub fn delete(&self, subject: &str, actor: &str) -> Result<usize, VisageError> {
        let ids = self.store.delete_subject(subject, actor)?;
        self.forget(&ids)?;
        Ok(ids.len())
    }

    /// Everything held about a subject (templates' embeddings only if asked). Audited.
    pub fn export(&self, subject: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, VisageError> {
        Ok(self.store.export(subject, include_templates, actor)?)
    }

    /// Records a further consent (another purpose) for an enrolled subject.
    pub fn grant_consent(&self, subject: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, VisageError> {
        Ok(self.store.grant_consent(subject, consent, actor)?)
    }

    /// Revokes consent (one purpose or all); templates go when no active consent remains.
    pub fn revoke_consent(&self, subject: &str, purpose: Option<&str>, actor: &str) -> Result<usize, VisageError> {
        let ids = self.store.revoke_consent(subject, purpose, actor)?;
        self.forget(&ids)?;
        Ok(ids.len())
    }

    /// Removes templates whose consent has expired.
    pub fn purge_expired(&self, actor: &str) -> Result<PurgeReport, VisageError> {
        let (report, ids) = self.store.purge_expired(actor)?;
        self.forget(&ids)?;
        Ok(report)
    }

    /// Re-encrypts the gallery under a new random key and returns it (already saved to the key file
    /// when the key came from one).
    pub fn rotate_key(&mut self, actor: &str) -> Result<StoreKey, VisageError> {
        Ok(self.store.rotate_key(StoreKey::generate(), actor)?)
    }

    pub fn subjects(&self) -> Result<Vec<(Subject, usize)>, VisageError> {
        Ok(self.store.subjects()?)
    }

    pub fn audit_verify(&self) -> Result<AuditVerification, VisageError> {
        Ok(self.store.verify_audit()?)
    }

    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, VisageError> {
        Ok(self.store.audit_entries(filter)?)
    }
}

/// The checks of a request made before any photo is read: a valid subject id, at least one photo.
fn validate_request(request: &EnrollRequest) -> Result<(), VisageError> {
    visage_store::validate_subject_id(&request.subject)?;
    if request.images.is_empty() {
        return Err(VisageError::Invalid("no images to enrol".into()));
    }
    Ok(())
}

/// The photos of an enrolment request, analysed ([`FaceRecognitionSystem::prepare_enrolment`]) and
/// waiting for the checks against the gallery.
pub struct PreparedEnrolment {
    faces: Vec<Result<EnrolmentFace, VisageError>>,
}

/// One enrolment photo's face, checked and embedded, before the checks against the gallery.
struct EnrolmentFace {
    embedding: Vec<f32>,
    report: QualityReport,
    liveness: Option<visage_attributes::LivenessScore>,
}
