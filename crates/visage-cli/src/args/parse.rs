//! Value parsers for numeric flags: a clear message for a value out of its range.

fn parse_number(text: &str, min: f32, max: f32) -> Result<f32, String> {
    let v: f32 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if !v.is_finite() || v < min || v > max {
        return Err(format!("{v} is outside [{min}, {max}]"));
    }
    Ok(v)
}

pub fn parse_similarity(text: &str) -> Result<f32, String> {
    parse_number(text, -1.0, 1.0)
}

pub fn parse_unit(text: &str) -> Result<f32, String> {
    parse_number(text, 0.0, 1.0)
}

pub fn parse_pixels(text: &str) -> Result<f32, String> {
    parse_number(text, 0.0, 100_000.0)
}

/// A number of worker threads: 1 to 256.
pub fn parse_workers(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|_| format!("'{text}' is not a whole number"))?;
    if !(1..=256).contains(&n) {
        return Err(format!("{n} workers: give 1 to 256"));
    }
    Ok(n)
}
