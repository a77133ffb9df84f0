//! Connections to PostgreSQL: the pool, its session settings, and running the synchronous client off
//! an async runtime.

use postgres::Client;
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

/// Runs `f` on a scoped thread when called from inside a tokio runtime (where the synchronous client
/// must not block), inline otherwise.
pub(super) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    } else {
        f()
    }
}

pub(super) type Pool = r2d2_postgres::r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// The session settings of every pooled connection: look beyond the first candidates when a filter
/// (the embedding model) rejects some, and keep recall high for per-subject ranking (several templates
/// per subject). `VISAGE_PG_EF_SEARCH` trades latency for recall (see the README's figures).
#[derive(Debug)]
pub(super) struct SessionSettings;

impl r2d2_postgres::r2d2::CustomizeConnection<Client, postgres::Error> for SessionSettings {
    fn on_acquire(&self, client: &mut Client) -> Result<(), postgres::Error> {
        client.batch_execute(&format!("SET hnsw.ef_search = {}; SET hnsw.iterative_scan = relaxed_order", ef_search()))
    }
}

/// Connections per store: `VISAGE_PG_POOL`, else 8 (1 to 64).
pub fn pool_size() -> u32 {
    std::env::var("VISAGE_PG_POOL").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(8).clamp(1, 64)
}

/// The HNSW candidate list length of searches: `VISAGE_PG_EF_SEARCH`, else 100 (10 to 1000).
pub fn ef_search() -> u32 {
    std::env::var("VISAGE_PG_EF_SEARCH").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(100).clamp(10, 1000)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
