//! Timestamps as the store keeps them: UTC, RFC 3339, whole seconds, so they sort as text.

use crate::error::StoreError;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

const STORED: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Now, in the stored format.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// A time in the stored format.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(STORED).expect("a UTC time formats")
}

/// Parses `YYYY-MM-DD` (the end of that day, UTC: consent given "until 2027-01-31" holds all that day)
/// or an RFC 3339 time, into the stored format.
pub fn parse_user_date(text: &str) -> Result<String, StoreError> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(format(t));
    }
    let day = Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|_| StoreError::InvalidDate(text.to_string()))?;
    let end = day.with_hms(23, 59, 59).expect("valid time").assume_utc();
    Ok(format(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_times() {
        assert_eq!(parse_user_date("2027-01-31").unwrap(), "2027-01-31T23:59:59Z");
        assert_eq!(parse_user_date("2027-01-31T12:00:00+02:00").unwrap(), "2027-01-31T10:00:00Z");
        for bad in ["", "2027-13-01", "31/01/2027", "tomorrow", "2027-02-30"] {
            assert!(matches!(parse_user_date(bad), Err(StoreError::InvalidDate(_))), "{bad}");
        }
        assert!(now().as_str() > "2026-01-01T00:00:00Z");
    }
}
