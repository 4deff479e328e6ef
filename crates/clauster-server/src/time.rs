//! Timestamps as the store and the API write them: RFC 3339 UTC text with milliseconds
//! (`2026-11-25T15:02:22.123Z`), the current time in that form, and the tolerant reader the
//! Python import needs.
//!
//! Only this much calendar arithmetic is needed, so it is written here instead of pulling in
//! a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// The current time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn now_rfc3339() -> String {
    let (seconds, millis) = now_unix();
    format_rfc3339_millis(seconds, millis)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn rfc3339_from_unix_millis(ms: u128) -> String {
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let millis = i64::try_from(ms % 1000).unwrap_or(0);
    format_rfc3339_millis(seconds, millis)
}

/// The epoch milliseconds of a timestamp [`normalize_timestamp`] accepts.
pub(crate) fn unix_millis(text: &str) -> Option<u128> {
    let canonical = normalize_timestamp(text)?;
    let b = canonical.as_bytes();
    let field = |range: std::ops::Range<usize>| digits(&b[range]);
    let days = days_from_civil(field(0..4)?, field(5..7)?, field(8..10)?);
    let seconds =
        days * SECONDS_PER_DAY + field(11..13)? * 3600 + field(14..16)? * 60 + field(17..19)?;
    u128::try_from(seconds * 1000 + field(20..23)?).ok()
}

/// The current time as `YYYYmmddTHHMMSSZ`, the stamp in backup file names (§10.1).
pub(crate) fn now_compact() -> String {
    let (seconds, _) = now_unix();
    let (year, month, day, hour, minute, second) = civil_from_unix(seconds);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

/// Reads a timestamp of the Python store: naive UTC as SQLAlchemy writes it
/// (`2026-11-25 15:02:22.123456`) or RFC 3339 with `Z` or an offset. Returns it as RFC 3339
/// UTC with milliseconds (fractions beyond them are truncated), or `None` for anything else.
pub(crate) fn normalize_timestamp(text: &str) -> Option<String> {
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
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    let hour = digits(&bytes[11..13])?;
    let minute = digits(&bytes[14..16])?;
    let second = digits(&bytes[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut rest = &bytes[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if length == 0 {
            return None;
        }
        for position in 0..3 {
            let digit = fraction.get(position).filter(|_| position < length);
            millis = millis * 10 + digit.map_or(0, |b| i64::from(b - b'0'));
        }
        rest = &fraction[length..];
    }
    let offset_seconds = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let offset_hours = digits(&[*h1, *h2])?;
            let offset_minutes = digits(&[*m1, *m2])?;
            if offset_hours > 23 || offset_minutes > 59 {
                return None;
            }
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };

    let local =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    let utc = local - offset_seconds;
    let (utc_year, ..) = civil_from_unix(utc);
    if !(0..=9999).contains(&utc_year) {
        return None;
    }
    Some(format_rfc3339_millis(utc, millis))
}

fn now_unix() -> (i64, i64) {
    // A clock before 1970 is a broken clock; the epoch is as good an answer as any.
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX / 2);
    (seconds, i64::from(elapsed.subsec_millis()))
}

fn format_rfc3339_millis(unix_seconds: i64, millis: i64) -> String {
    let (year, month, day, hour, minute, second) = civil_from_unix(unix_seconds);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `(year, month, day, hour, minute, second)` of a Unix time (H. Hinnant's `civil_from_days`).
fn civil_from_unix(unix_seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix_seconds.div_euclid(SECONDS_PER_DAY) + 719_468;
    let second_of_day = unix_seconds.rem_euclid(SECONDS_PER_DAY);
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_millis_round_trip() {
        use super::{rfc3339_from_unix_millis, unix_millis};
        assert_eq!(rfc3339_from_unix_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_from_unix_millis(1_764_083_000_123),
            "2025-11-25T15:03:20.123Z"
        );
        assert_eq!(
            unix_millis("2025-11-25T15:03:20.123Z"),
            Some(1_764_083_000_123)
        );
        assert_eq!(unix_millis("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(unix_millis("yesterday"), None);
    }

    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(
            normalize_timestamp(input).as_deref(),
            expected,
            "input {input:?}"
        );
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

    #[test]
    fn now_has_the_stored_shapes() {
        let now = now_rfc3339();
        assert_eq!(normalize_timestamp(&now).as_deref(), Some(now.as_str()));
        let compact = now_compact();
        assert_eq!(compact.len(), 16);
        assert!(compact.ends_with('Z') && compact.as_bytes()[8] == b'T');
    }

    #[test]
    fn civil_round_trip_over_a_wide_range() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day, ..) = civil_from_unix(days * SECONDS_PER_DAY);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
    }
}
