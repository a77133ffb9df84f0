//! Results to Python: values that serialise to JSON become the dicts and lists the CLI's `--json`
//! prints, key for key.

use pyo3::prelude::*;
use serde::Serialize;

/// `value` as plain Python objects (dict, list, str, float, int, bool, None), via its JSON form.
pub fn to_python<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| crate::errors::Failure::invalid(format!("cannot convert the result: {e}")))?;
    py.import("json")?.call_method1("loads", (text,))
}
