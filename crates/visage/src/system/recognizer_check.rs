//! Which recogniser goes with a gallery: the check that the chosen one can be used (its store holds
//! embeddings of that length, and its templates are comparable with them), and the gallery's own.

use crate::{FaceAnalyzer, VisageError};
use visage_models::Manifest;
use visage_recognize::{RecognizerKind, RecognizerSpec};
use visage_store::{GalleryStore, TemplateModel};

/// Refuses, with what to do instead:
/// - a store with one fixed embedding length (plain PostgreSQL templates) and a recogniser of another;
/// - a gallery whose templates were all made by other models, where every search would answer
///   "unknown".
///
/// A gallery that also holds templates of other models opens: those are not searched (the system warns).
pub(super) fn check_recognizer(store: &dyn GalleryStore, analyzer: &FaceAnalyzer) -> Result<(), VisageError> {
    let kind = analyzer.recognizer_kind();
    let dim = analyzer.embedding_dim();
    if let Some(fixed) = store.vector_dim().filter(|&fixed| fixed != dim) {
        return Err(VisageError::Invalid(format!(
            "{} keeps plain {fixed}-d templates, and --recognizer {kind} makes {dim}-d embeddings: use \
             --pg-templates encrypted (any length) or the embedded store for this recogniser",
            store.location()
        )));
    }
    let models = store.template_models()?;
    let (id, sha) = analyzer.embedding_model();
    if models.is_empty() || models.iter().any(|m| m.model_sha256 == sha) {
        return Ok(());
    }
    let held: Vec<String> = models.iter().map(|m| describe(m, id)).collect();
    Err(VisageError::Invalid(format!(
        "this gallery holds {}, which --recognizer {kind} cannot compare with: open it with the recogniser \
         that enrolled them, or enrol the subjects again in a gallery of its own (--data-dir)",
        held.join(" and ")
    )))
}

/// The recogniser that made most of the gallery's templates, when it is installed or imported here
/// with the same model file; `None` for an empty gallery or a model this machine does not have.
pub(super) fn gallery_recognizer(store: &dyn GalleryStore) -> Result<Option<RecognizerKind>, VisageError> {
    let Some(most) = store.template_models()?.into_iter().next() else { return Ok(None) };
    let kind = recognizer_named(&most.model_id);
    let same_file = RecognizerSpec::of(kind, Manifest::default_pack()).is_ok_and(|s| s.sha256 == most.model_sha256);
    Ok(same_file.then_some(kind))
}

/// The recogniser whose templates carry `model_id`: one of the pack's, else an imported model.
fn recognizer_named(model_id: &str) -> RecognizerKind {
    RecognizerKind::ALL.into_iter().find(|k| k.manifest_id() == model_id).unwrap_or_else(|| {
        let name = format!("{}{model_id}", visage_recognize::imported::PREFIX);
        name.parse().unwrap_or_default()
    })
}

/// "12 template(s) of --recognizer sface", or of another version of the current model.
fn describe(m: &TemplateModel, current_id: &str) -> String {
    if m.model_id == current_id {
        let short = m.model_sha256.get(..12).unwrap_or(&m.model_sha256);
        return format!("{} template(s) of another version of {current_id} (SHA-256 {short}…)", m.templates);
    }
    format!("{} template(s) of --recognizer {}", m.templates, recognizer_named(&m.model_id))
}
