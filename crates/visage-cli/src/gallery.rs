//! Gallery commands: enrol, identify, delete, export, consent, keys, audit.

use crate::cli::{AuditCommand, ConsentCommand, EnrollArgs, GalleryArgs, KeysCommand, PipelineArgs};
use crate::commands::{analyzer_config, Purpose};
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::store::{time_util, AuditFilter, ConsentGrant, GalleryStore, KeySource, StoreSpec};
use visage::system::{default_actor, default_data_dir, EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::ImageSource;

fn data_dir(g: &GalleryArgs) -> PathBuf {
    g.data_dir.clone().unwrap_or_else(default_data_dir)
}

/// Opens the gallery (creating it and its key on first use).
pub fn open(g: &GalleryArgs, pipeline: Option<&PipelineArgs>) -> Result<FaceRecognitionSystem> {
    open_configured(g, pipeline, None, |_| {})
}

/// [`open`] deciding at `threshold` (default: the manifest's), with a last change to the configuration.
pub fn open_configured(
    g: &GalleryArgs,
    pipeline: Option<&PipelineArgs>,
    threshold: Option<f32>,
    adjust: impl FnOnce(&mut SystemConfig),
) -> Result<FaceRecognitionSystem> {
    let spec = store_spec(g)?;
    let dir = key_dir(g, &spec);
    let mut config = SystemConfig::new(&dir);
    config.actor = default_actor();
    config.store = Some(spec);
    config.index = g.index.into();
    // A command that answers and exits searches exactly; `serve` builds HNSW in the background.
    config.hnsw_above = None;
    if let Some(p) = pipeline {
        config.analyzer = analyzer_config(p, threshold, Purpose::Recognition);
    }
    adjust(&mut config);
    let place = gallery_place(g);
    FaceRecognitionSystem::open(config).with_context(|| format!("cannot open the gallery in {place}"))
}

/// Which store `--store` / `VISAGE_STORE` names (default: SQLite in the data dir).
pub fn store_spec(g: &GalleryArgs) -> Result<StoreSpec> {
    Ok(StoreSpec::parse(g.store.as_deref(), &data_dir(g), g.pg_templates)?)
}

/// Where the key file is: the SQLite store's own folder, else the data dir (unless VISAGE_KEY is set).
pub fn key_dir(g: &GalleryArgs, spec: &StoreSpec) -> PathBuf {
    match spec {
        StoreSpec::Sqlite(dir) => dir.clone(),
        StoreSpec::Postgres { .. } => data_dir(g),
    }
}

/// The gallery's place for messages (never a password).
fn gallery_place(g: &GalleryArgs) -> String {
    match store_spec(g) {
        Ok(StoreSpec::Postgres { url, .. }) => visage::store::postgres::redact(&url),
        Ok(StoreSpec::Sqlite(dir)) => dir.display().to_string(),
        Err(_) => g.store.clone().unwrap_or_default(),
    }
}

/// Whether a gallery exists in the data dir (verify is audited there when it does).
pub fn exists(g: &GalleryArgs) -> bool {
    match store_spec(g) {
        Ok(StoreSpec::Sqlite(dir)) => dir.join("visage.db").is_file(),
        // A database server: the gallery is there when the server is configured.
        Ok(StoreSpec::Postgres { .. }) => true,
        Err(_) => false,
    }
}

/// The gallery's store alone, without the face pipeline (for keys and audit entries).
fn open_store(g: &GalleryArgs) -> Result<Box<dyn GalleryStore>> {
    let spec = store_spec(g)?;
    let key = visage::store::StoreKey::load_or_create(&key_dir(g, &spec))?;
    spec.open(key).with_context(|| format!("cannot open the gallery in {}", gallery_place(g)))
}

/// Appends one audit entry to the gallery's log without starting the face pipeline.
pub fn audit_event(g: &GalleryArgs, action: &str, outcome: &str, detail: serde_json::Value) -> Result<()> {
    open_store(g)?.audit(visage::store::AuditEvent::new(&default_actor(), action, outcome).detail(detail))?;
    Ok(())
}

/// `visage serve`.
pub fn serve(
    addr: std::net::SocketAddr,
    limits: visage_server::Limits,
    enrol_liveness: bool,
    g: &GalleryArgs,
    pipeline: &PipelineArgs,
) -> Result<ExitCode> {
    let system = open_configured(g, Some(pipeline), None, |c| {
        c.enrol_liveness = visage::system::EnrolLiveness { required: enrol_liveness, threshold: None };
        c.hnsw_above = Some(visage_index::DEFAULT_AUTO_THRESHOLD);
    })?;
    if system.store().api_keys()?.iter().all(|k| k.revoked_at.is_some()) {
        eprintln!("note: no active API key yet; create one with `visage keys create --scopes admin`");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(visage_server::serve(system, limits, addr)).with_context(|| format!("cannot serve on {addr}"))?;
    Ok(ExitCode::SUCCESS)
}

fn consent(purpose: &str, evidence: &str, legal_basis: &str, expires: Option<&str>) -> Result<ConsentGrant> {
    Ok(ConsentGrant {
        purpose: purpose.to_string(),
        legal_basis: legal_basis.to_string(),
        evidence: evidence.to_string(),
        expires_at: expires.map(time_util::parse_user_date).transpose()?,
    })
}

pub fn enroll(args: &EnrollArgs) -> Result<ExitCode> {
    let system = crate::liveness::open_for_enrolment(args)?;
    if let Some(batch) = &args.batch {
        return enroll_batch(&system, batch, args);
    }
    let request = EnrollRequest {
        subject: args.subject.clone().expect("required by clap"),
        name: args.name.clone(),
        consent: consent(
            args.purpose.as_deref().expect("required by clap"),
            args.evidence.as_deref().expect("required by clap"),
            &args.legal_basis,
            args.expires.as_deref(),
        )?,
        images: args.images.iter().map(ImageSource::from).collect(),
        allow_duplicate: args.allow_duplicate,
    };
    let outcome = system.enroll(&request, &default_actor())?;
    if args.pipeline.json {
        print_json(&outcome);
    } else {
        println!("enrolled {} ({} template(s))", outcome.subject, outcome.templates.len());
        for d in &outcome.duplicates_overridden {
            println!(
                "note: also matches {} (similarity {:.3}); enrolled because of --allow-duplicate",
                d.subject, d.similarity
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One enrolment per CSV line (subject,name,purpose,evidence,image), each committed and reported on its
/// own: if the process dies, every line reported as enrolled is in the store.
fn enroll_batch(system: &FaceRecognitionSystem, batch: &Path, args: &EnrollArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(batch).with_context(|| format!("cannot read {}", batch.display()))?;
    let base = batch.parent().unwrap_or(Path::new("."));
    let (mut ok, mut failed) = (0, 0);
    let actor = default_actor();
    let stdout = std::io::stdout();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with("subject,")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [subject, name, purpose, evidence, image] = fields[..] else {
            bail!("{}: line {}: expected subject,name,purpose,evidence,image", batch.display(), n + 1);
        };
        let request = EnrollRequest {
            subject: subject.to_string(),
            name: (!name.is_empty()).then(|| name.to_string()),
            consent: consent(purpose, evidence, &args.legal_basis, args.expires.as_deref())?,
            images: vec![ImageSource::File(base.join(image))],
            allow_duplicate: args.allow_duplicate,
        };
        match system.enroll(&request, &actor) {
            Ok(outcome) => {
                ok += 1;
                let mut out = stdout.lock();
                if args.pipeline.json {
                    writeln!(out, "{}", serde_json::to_string(&outcome)?)?;
                } else {
                    writeln!(out, "enrolled {} (template {})", outcome.subject, outcome.templates[0])?;
                }
                out.flush()?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("line {}: {subject}: {e}", n + 1);
            }
        }
    }
    eprintln!("{ok} enrolled, {failed} failed");
    Ok(if failed > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

pub fn identify(
    image: &Path,
    top_k: usize,
    threshold: Option<f32>,
    calibration: Option<&crate::calibrate::ActiveCalibration>,
    g: &GalleryArgs,
    pipeline: &PipelineArgs,
) -> Result<ExitCode> {
    let threshold = threshold.or(calibration.and_then(|c| c.threshold()));
    let system = open_configured(g, Some(pipeline), threshold, |_| {})?;
    let result = system.identify(image, top_k, &default_actor())?;
    if pipeline.json {
        let mut out = serde_json::to_value(&result)?;
        if let Some(c) = calibration {
            crate::calibrate::add_identify_fields(&mut out, &result, c);
        }
        print_json(&out);
    } else {
        println!("{}: {} face(s); threshold {:.3}", image.display(), result.faces.len(), result.threshold);
        for (i, f) in result.faces.iter().enumerate() {
            let [x1, y1, x2, y2] = f.bbox;
            let who = f.matched.as_deref().unwrap_or("unknown");
            let sim = f.similarity.map_or("-".to_string(), |s| format!("{s:.3}"));
            println!("  face {} ({x1:.0}, {y1:.0})-({x2:.0}, {y2:.0}): {who} (best similarity {sim})", i + 1);
            if let (Some(c), Some(s)) = (calibration, f.similarity) {
                println!("    {}", c.describe(s));
            }
        }
    }
    if result.faces.is_empty() {
        eprintln!("{}: no face found", image.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete(subject: &str, g: &GalleryArgs) -> Result<ExitCode> {
    let system = open(g, None)?;
    let n = system.delete(subject, &default_actor())?;
    println!("erased {subject}: {n} template(s), consent records and index entries; the audit log keeps a tombstone");
    Ok(ExitCode::SUCCESS)
}

pub fn export(subject: &str, include_templates: bool, out: Option<&Path>, g: &GalleryArgs) -> Result<ExitCode> {
    let system = open(g, None)?;
    let export = system.export(subject, include_templates, &default_actor())?;
    let text = serde_json::to_string_pretty(&export)?;
    match out {
        Some(path) => {
            std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn subjects(json: bool, g: &GalleryArgs) -> Result<ExitCode> {
    let system = open(g, None)?;
    let list = system.subjects()?;
    if json {
        let rows: Vec<_> = list.iter().map(|(s, n)| json!({"subject": s, "templates": n})).collect();
        print_json(&rows);
    } else {
        for (s, n) in &list {
            println!("{:<32} {:<24} {n} template(s)", s.id, s.display_name.as_deref().unwrap_or(""));
        }
        eprintln!("{} subject(s)", list.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn consent_cmd(cmd: &ConsentCommand) -> Result<ExitCode> {
    match cmd {
        ConsentCommand::List { subject, json, gallery } => {
            let system = open(gallery, None)?;
            if system.store().subject(subject)?.is_none() {
                bail!("unknown subject '{subject}'");
            }
            let consents = system.store().consents(subject)?;
            if *json {
                print_json(&consents);
            } else {
                for c in &consents {
                    let state = match (&c.revoked_at, &c.expires_at) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(e)) => format!("expires {e}"),
                        (None, None) => "no expiry".into(),
                    };
                    println!(
                        "{}: {} ({}), evidence {}, granted {}, {state}",
                        c.id, c.purpose, c.legal_basis, c.evidence, c.granted_at
                    );
                }
            }
        }
        ConsentCommand::Grant { subject, purpose, evidence, legal_basis, expires, json, gallery } => {
            let system = open(gallery, None)?;
            let grant = consent(purpose, evidence, legal_basis, expires.as_deref())?;
            let granted = system.grant_consent(subject, &grant, &default_actor())?;
            if *json {
                print_json(&granted);
            } else {
                println!("consent {} recorded for {subject}: {}", granted.id, granted.purpose);
            }
        }
        ConsentCommand::Revoke { subject, purpose, gallery } => {
            let system = open(gallery, None)?;
            let removed = system.revoke_consent(subject, purpose.as_deref(), &default_actor())?;
            println!("revoked consent of {subject}; {removed} template(s) removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn purge_expired(g: &GalleryArgs) -> Result<ExitCode> {
    let system = open(g, None)?;
    // Opening already purged; report what is left to do (normally nothing) and what was done.
    let report = system.purge_expired(&default_actor())?;
    println!("{} template(s) of {} subject(s) removed", report.templates_removed, report.subjects.len());
    Ok(ExitCode::SUCCESS)
}

pub fn keys(cmd: &KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Create { scopes, label, json, gallery } => {
            let store = open_store(gallery)?;
            let (key, text) = store.create_api_key(scopes, label.as_deref(), &default_actor())?;
            if *json {
                print_json(&json!({"id": key.id, "key": text, "scopes": key.scopes}));
            } else {
                println!("{text}");
                eprintln!(
                    "API key {} with scopes {}; shown once, only its hash is stored",
                    key.id,
                    key.scopes.join(",")
                );
            }
        }
        KeysCommand::List { json, gallery } => {
            let keys = open_store(gallery)?.api_keys()?;
            if *json {
                print_json(&keys);
            } else {
                for k in &keys {
                    let state = k.revoked_at.as_deref().map_or("active".to_string(), |r| format!("revoked {r}"));
                    println!(
                        "{:<14} {:<24} {:<20} {state}",
                        k.id,
                        k.scopes.join(","),
                        k.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, gallery } => {
            open_store(gallery)?.revoke_api_key(id, &default_actor())?;
            println!("revoked API key {id}");
        }
        KeysCommand::Rotate { gallery } => {
            let mut system = open(gallery, None)?;
            let key = system.rotate_key(&default_actor())?;
            match key.source() {
                KeySource::File(path) => println!("re-encrypted the gallery; the new key is in {}", path.display()),
                _ => {
                    println!("{}", key.to_base64());
                    eprintln!("re-encrypted the gallery. The key above is shown once: set VISAGE_KEY to it now.");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(cmd: &AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { json, gallery } => {
            let system = open(gallery, None)?;
            let v = system.audit_verify()?;
            if *json {
                print_json(&v);
            } else if v.intact {
                println!("audit log intact: {} entries", v.entries);
            } else {
                println!(
                    "audit log TAMPERED: entry {} {}",
                    v.first_bad.unwrap_or_default(),
                    v.reason.as_deref().unwrap_or_default()
                );
            }
            Ok(if v.intact { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        AuditCommand::Show { subject, action, since, limit, json, gallery } => {
            let system = open(gallery, None)?;
            let since = since
                .as_deref()
                .map(|s| {
                    if s.len() == 10 {
                        time_util::parse_user_date(&format!("{s}T00:00:00Z"))
                    } else {
                        time_util::parse_user_date(s)
                    }
                })
                .transpose()?;
            let filter = AuditFilter { subject: subject.clone(), action: action.clone(), since, limit: *limit };
            let entries = system.audit_entries(&filter)?;
            if *json {
                print_json(&entries);
            } else {
                for e in &entries {
                    println!(
                        "{:>6} {} {:<14} {:<16} {:<20} {:<18} {}",
                        e.seq,
                        e.time,
                        e.actor,
                        e.action,
                        e.subject.as_deref().unwrap_or("-"),
                        e.outcome,
                        e.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
