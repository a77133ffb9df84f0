//! `visage._visage`: the native part of the `visage` Python package (the package in `python/visage`
//! re-exports it with the exception classes and type stubs).
//!
//! Every call that runs models releases the GIL, so Python threads analyse images in parallel. Errors
//! become the exception classes of `visage.errors`, with the CLI's messages and the HTTP API's codes.

use pyo3::prelude::*;

mod analysis;
mod convert;
mod decision;
mod errors;
mod face;
mod gallery;
mod input;
mod verify;

/// The module's contents: the classes and functions `visage/__init__.py` re-exports.
#[pymodule]
fn _visage(m: &Bound<'_, PyModule>) -> PyResult<()> {
    init_logging();
    m.add_class::<analysis::FaceAnalysis>()?;
    m.add_class::<face::Face>()?;
    m.add_class::<gallery::Gallery>()?;
    m.add_function(wrap_pyfunction!(verify::verify, m)?)?;
    m.add_function(wrap_pyfunction!(input::imread, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Library warnings (a template of another model, a fallback to tract) on stderr, filtered by
/// `VISAGE_LOG` (default `warn`), as the CLI prints them. A subscriber set by the host process wins.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VISAGE_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
