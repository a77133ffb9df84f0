//! `visage keys`: API keys of the HTTP service, and rotation of the store's encryption key.

use super::open::{open, open_store};
use crate::args::gallery::GalleryArgs;
use crate::output::print_json;
use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;
use visage::store::KeySource;
use visage::system::default_actor;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for the HTTP service; it is printed once (only its hash is stored).
    Create {
        /// Comma-separated: enroll, identify, admin (admin implies the others).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Comma-separated purposes the key is bound to: its requests must act for one of them and
        /// only see the subjects consented for it (default: unbound).
        #[arg(long, value_delimiter = ',')]
        purposes: Vec<String>,
        /// What the key is for (shown by `keys list`).
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// List API keys (ids, scopes, revoked or not; never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Revoke an API key: it stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Re-encrypt every template under a new random key (written to the key file; printed once when
    /// the key comes from VISAGE_KEY).
    Rotate {
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

/// `visage keys`.
pub fn keys(cmd: &KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Create { scopes, purposes, label, json, gallery } => {
            let store = open_store(gallery)?;
            let (key, text) = store.create_api_key(scopes, purposes, label.as_deref(), &default_actor())?;
            if *json {
                print_json(&json!({"id": key.id, "key": text, "scopes": key.scopes, "purposes": key.purposes}));
            } else {
                println!("{text}");
                let bound = if key.purposes.is_empty() {
                    String::new()
                } else {
                    format!(", bound to the purposes {}", key.purposes.join(","))
                };
                eprintln!(
                    "API key {} with scopes {}{bound}; shown once, only its hash is stored",
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
                    let purposes = if k.purposes.is_empty() { "any purpose".into() } else { k.purposes.join(",") };
                    println!(
                        "{:<14} {:<24} {:<24} {:<20} {state}",
                        k.id,
                        k.scopes.join(","),
                        purposes,
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
