//! Timestamps as Clauster stores and shows them: RFC 3339 UTC with milliseconds
//! (`2026-11-25T15:02:22.123Z`), plus the tolerant reader the Python import needs. The
//! calendar arithmetic is the `time` crate's; this module only fixes the text shapes.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch. Out of the
/// representable range (beyond year 9999) it saturates at the epoch.
pub fn rfc3339_millis(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_utc(at)
}

/// `YYYYmmddTHHMMSSZ` (backup file names) for seconds since the Unix epoch.
pub fn compact(unix_seconds: i64) -> String {
    let at =
        OffsetDateTime::from_unix_timestamp(unix_seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The epoch milliseconds of a timestamp [`normalize`] accepts; `None` before 1970.
pub fn unix_millis(text: &str) -> Option<u128> {
    let at = parse(text)?;
    u128::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Reads a timestamp of the Python store: naive UTC as SQLAlchemy writes it
/// (`2026-11-25 15:02:22.123456`) or RFC 3339 with `Z` or an offset. Returns it as RFC 3339
/// UTC with milliseconds (fractions beyond them are truncated), or `None` for anything else.
pub fn normalize(text: &str) -> Option<String> {
    parse(text).map(format_utc)
}

fn format_utc(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// The instant of `text` in UTC, years 0–9999 only.
fn parse(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.trim().as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b' ' | b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let field = |range: std::ops::Range<usize>| digits(&bytes[range]);
    let date = Date::from_calendar_date(
        i32::try_from(field(0..4)?).ok()?,
        Month::try_from(u8::try_from(field(5..7)?).ok()?).ok()?,
        u8::try_from(field(8..10)?).ok()?,
    )
    .ok()?;

    let mut rest = &bytes[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if length == 0 {
            return None;
        }
        // Milliseconds: the first three digits, padded with zeros.
        millis = fraction[..length]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0, |value, digit| value * 10 + u32::from(digit - b'0'));
        rest = &fraction[length..];
    }
    let time = Time::from_hms_milli(
        u8::try_from(field(11..13)?).ok()?,
        u8::try_from(field(14..16)?).ok()?,
        u8::try_from(field(17..19)?).ok()?,
        u16::try_from(millis).ok()?,
    )
    .ok()?;
    let offset = match rest {
        [] | [b'Z' | b'z'] => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = i8::try_from(digits(&[*h1, *h2])?).ok()?;
            let minutes = i8::try_from(digits(&[*m1, *m2])?).ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?
        }
        _ => return None,
    };
    let utc = PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&utc.year()).then_some(utc)
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0_u32, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(normalize(input).as_deref(), expected, "input {input:?}");
    }

    #[test]
    fn epoch_millis_round_trip() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_764_083_000_123),
            "2025-11-25T15:03:20.123Z"
        );
        assert_eq!(rfc3339_millis(951_825_600_001), "2000-02-29T12:00:00.001Z");
        assert_eq!(
            unix_millis("2025-11-25T15:03:20.123Z"),
            Some(1_764_083_000_123)
        );
        assert_eq!(unix_millis("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(unix_millis("1969-12-31T23:59:59Z"), None);
        assert_eq!(unix_millis("yesterday"), None);
        assert_eq!(compact(1_764_083_000), "20251125T150320Z");
    }

    #[test]
    fn naive_utc_and_rfc3339_are_normalized() {
        check(
            "2026-11-25 15:02:22.123456",
            Some("2026-11-25T15:02:22.123Z"),
        );
        check("2026-11-25 15:02:22", Some("2026-11-25T15:02:22.000Z"));
        check("2026-11-25 15:02:22.5", Some("2026-11-25T15:02:22.500Z"));
        check("2026-11-25T15:02:22.123Z", Some("2026-11-25T15:02:22.123Z"));
        check("2026-11-25t15:02:22z", Some("2026-11-25T15:02:22.000Z"));
        check(
            "2026-11-25T15:02:22+01:00",
            Some("2026-11-25T14:02:22.000Z"),
        );
        check(
            "2026-12-31T23:30:00.999-01:00",
            Some("2027-01-01T00:30:00.999Z"),
        );
        check("2024-02-29 00:00:00", Some("2024-02-29T00:00:00.000Z"));
        check("1969-12-31 23:59:59", Some("1969-12-31T23:59:59.000Z"));
        check(" 2026-11-25 15:02:22 ", Some("2026-11-25T15:02:22.000Z"));
    }

    #[test]
    fn anything_else_is_rejected() {
        for input in [
            "",
            "now",
            "yesterday",
            "2026-11-25",
            "2026-11-25 15:02",
            "2461000.5",
            "2026-13-01 00:00:00",
            "2026-02-29 00:00:00",
            "2026-04-31 00:00:00",
            "2026-11-25 24:00:00",
            "2026-11-25 15:60:00",
            "2026-11-25 15:02:60",
            "2026-11-25 15:02:22.",
            "2026-11-25 15:02:22.12a",
            "2026-11-25 15:02:22+0100",
            "2026-11-25 15:02:22 UTC",
            "2026/11/25 15:02:22",
            "+026-11-25 15:02:22",
            "0000-01-01T00:00:00+01:00",
        ] {
            check(input, None);
        }
    }
}
