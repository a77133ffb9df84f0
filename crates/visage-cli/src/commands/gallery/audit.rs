//! `visage audit`: show the audit log, or verify its hash chain.

use super::open::open;
use crate::args::gallery::GalleryArgs;
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;
use visage::store::{time_util, AuditFilter};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit code 1 and the first bad entry if it was tampered with.
    Verify {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// List entries, newest last.
    Show {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Entries at or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

/// `visage audit`.
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
