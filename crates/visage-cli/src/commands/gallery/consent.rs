//! `visage consent`: a subject's consent records: list, grant another purpose, revoke.

use super::open::{consent, open};
use crate::args::gallery::GalleryArgs;
use crate::output::print_json;
use anyhow::{bail, Result};
use clap::Subcommand;
use std::process::ExitCode;
use visage::system::default_actor;

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// A subject's consent records.
    List {
        subject: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Record a further consent (another purpose) for an enrolled subject.
    Grant {
        subject: String,
        /// What the biometric data may be used for.
        #[arg(long)]
        purpose: String,
        /// Where the proof of consent is kept.
        #[arg(long)]
        evidence: String,
        #[arg(long, default_value = "consent")]
        legal_basis: String,
        /// When the consent ends (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Revoke consent (for one purpose, or all); templates are removed when none is left.
    Revoke {
        subject: String,
        #[arg(long)]
        purpose: Option<String>,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

/// `visage consent`.
pub fn run(cmd: &ConsentCommand) -> Result<ExitCode> {
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
