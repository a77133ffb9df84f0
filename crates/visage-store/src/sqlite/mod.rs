//! The embedded backend: the gallery in one SQLite file (WAL mode, versioned migrations). This module
//! opens the file and runs write transactions; its children hold the SQL of each job.

mod audit;
mod chain;
mod consent;
mod consent_log;
mod dump;
mod gallery;
mod keys;
mod pseudonyms;
mod rotate;
mod schema;
mod secrets;
mod store;
mod subjects;
mod templates;

pub use store::Store;
