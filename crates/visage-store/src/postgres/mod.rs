//! The gallery in PostgreSQL with pgvector: for several visage services on one database, and galleries
//! larger than one machine's memory.
//!
//! The tables are those of the SQLite store, with two differences:
//! - templates are kept either as plain `vector(512)` values, searched in the database through an HNSW
//!   index (cosine distance), or as AES-256-GCM ciphertexts searched in memory ([`TemplateMode`]);
//! - the audit chain's head is one row (`audit_head`) that every write transaction locks first
//!   (`SELECT ... FOR UPDATE`), so writers from any number of processes append one after another and
//!   the chain stays intact.
//!
//! The client is synchronous (`postgres`), with a pool of connections per store (`r2d2`; size
//! `VISAGE_PG_POOL`, default 8), so concurrent requests of one service run side by side rather than
//! queueing on one connection. Called from inside an async runtime, each call runs on a scoped helper
//! thread so it never blocks the runtime's own block_on.

mod audit;
mod chain;
mod consent;
mod consent_log;
mod dump;
mod gallery;
mod keys;
mod pool;
mod pseudonyms;
mod rotate;
mod schema;
mod search;
mod secrets;
mod store;
mod subjects;
mod templates;

pub use pool::{ef_search, pool_size, redact};
pub use store::{PgStore, DIM};
