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

/// A number of threads or workers: 1 to 256 (more would only exhaust memory and the scheduler).
pub fn parse_threads(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| format!("'{text}' is not a number of threads from 1 to 256"))
}
