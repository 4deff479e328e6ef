//! RFC 3339 timestamps of transcript records, reduced to Unix milliseconds.
//!
//! The core has no date library; records only need ordering (first/last) and comparison
//! against a price row's effective date, so milliseconds since the epoch are enough.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into Unix milliseconds (UTC).
///
/// A space or lower-case `t`/`z` is accepted too (RFC 3339 §5.6 allows them). Anything else,
/// including out-of-range fields, is `None`: a record with a bad timestamp is still counted,
/// it just has no time.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            // Only the first three fraction digits matter for milliseconds.
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let len = pos - start;
        if len == 0 {
            return None;
        }
        for _ in len..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(pos..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = two_digits(*h1, *h2)?;
            let m = two_digits(*m1, *m2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day)?;
    // A leap second (:60) is folded into the next second; ordering is all that matters.
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Unix milliseconds of `YYYY-MM-DD` at 00:00 UTC (a price row's `effective_from`).
pub(crate) fn parse_date_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let days = days_from_civil(digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?)?;
    Some(days * 86_400_000)
}

/// The UTC day (days since 1970-01-01) of Unix milliseconds.
pub(crate) fn day_of_ms(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(86_400_000)
}

/// The UTC day of a `YYYY-MM-DD` date; `None` for anything else (a `since`/`until` bound of
/// the per-day usage, issue 24).
pub fn parse_day(text: &str) -> Option<i64> {
    parse_date_ms(text).map(day_of_ms)
}

/// `YYYY-MM-DD` of a day since 1970-01-01 (the inverse of `days_from_civil`, Howard
/// Hinnant's algorithm).
pub fn format_day(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day_of_month = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day_of_month:02}")
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let mut value = 0;
    for &c in b.get(start..start + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(c - b'0');
    }
    Some(value)
}

fn two_digits(a: u8, b: u8) -> Option<i64> {
    digits(&[a, b], 0, 2)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.123456Z"), Some(1_123));
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T15:02:22.123Z"),
            Some(1_795_618_942_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-25T16:02:22.123+01:00"),
            parse_rfc3339_ms("2026-11-25T15:02:22.123Z")
        );
        assert_eq!(
            parse_rfc3339_ms("2026-10-06T23:30:00-05:00"),
            parse_rfc3339_ms("2026-10-07T04:30:00Z")
        );
        assert_eq!(
            parse_date_ms("2026-10-07"),
            parse_rfc3339_ms("2026-10-07T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn days_round_trip_through_their_dates() {
        for date in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "2026-11-25",
            "1969-12-31",
        ] {
            let day = parse_day(date).expect(date);
            assert_eq!(format_day(day), date);
        }
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(day_of_ms(-1), -1);
        let ms = parse_rfc3339_ms("2026-11-25T23:59:59.999Z").unwrap();
        assert_eq!(format_day(day_of_ms(ms)), "2026-11-25");
        assert_eq!(parse_day("2026-11-25T00:00:00Z"), None);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25T15:02:22",
            "2026-13-25T15:02:22Z",
            "2025-02-29T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T15:02:22.Z",
            "2026-11-25T15:02:22+0100",
            "2026-11-25T15:02:22Zjunk",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_date_ms("2026-02-30"), None);
    }
}
