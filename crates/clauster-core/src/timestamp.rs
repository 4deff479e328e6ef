//! Timestamps as Clauster stores and shows them: RFC 3339 UTC with milliseconds
//! (`2026-11-25T15:02:22.123Z`), the tolerant reader the Python import needs, the strict
//! reader of transcript records, and the UTC days of the cost rollup. The calendar
//! arithmetic is the `time` crate's; this module only fixes the text shapes.

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

/// The instant of `text` in UTC, years 0–9999 only: naive (taken as UTC) or with an offset,
/// surrounding white space ignored, no leap second.
fn parse(text: &str) -> Option<OffsetDateTime> {
    let fields = fields(text.trim().as_bytes())?;
    if fields.leap_second {
        return None;
    }
    fields.instant(fields.offset.unwrap_or(UtcOffset::UTC))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a transcript record's `timestamp`) into
/// Unix milliseconds. A space or lower-case `t`/`z` is accepted too (RFC 3339 §5.6 allows
/// them); the offset is required. A leap second (`:60`) is folded into the next second:
/// records only need ordering. Anything else is `None` — such a record still counts, it just
/// has no time.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let fields = fields(text.as_bytes())?;
    let at = fields.instant(fields.offset?)?;
    let millis = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(millis + if fields.leap_second { 1_000 } else { 0 })
}

/// Unix milliseconds of `YYYY-MM-DD` at 00:00 UTC (a price row's `effective_from`).
pub fn parse_date_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    let days = i64::from(date(bytes)?.to_julian_day() - EPOCH_JULIAN_DAY);
    Some(days * 86_400_000)
}

/// The UTC day (days since 1970-01-01) of Unix milliseconds.
pub fn day_of_ms(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(86_400_000)
}

/// The UTC day of a `YYYY-MM-DD` date; `None` for anything else (a `since`/`until` bound of
/// the per-day usage).
pub fn parse_day(text: &str) -> Option<i64> {
    parse_date_ms(text).map(day_of_ms)
}

/// `YYYY-MM-DD` of a day since 1970-01-01; a day beyond the calendar's range is the epoch's.
pub fn format_day(day: i64) -> String {
    let date = i32::try_from(day)
        .ok()
        .and_then(|day| day.checked_add(EPOCH_JULIAN_DAY))
        .and_then(|julian| Date::from_julian_day(julian).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH.date());
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The Julian day number of 1970-01-01.
const EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// The fields of `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction][Z|z|±HH:MM]`.
struct Fields {
    local: PrimitiveDateTime,
    /// The seconds field was 60 (`local` holds 59).
    leap_second: bool,
    /// `None`: no offset written (naive).
    offset: Option<UtcOffset>,
}

impl Fields {
    /// The instant at `offset`, in UTC; `None` outside years 0–9999.
    fn instant(&self, offset: UtcOffset) -> Option<OffsetDateTime> {
        let utc = self
            .local
            .assume_offset(offset)
            .checked_to_offset(UtcOffset::UTC)?;
        (0..=9999).contains(&utc.year()).then_some(utc)
    }
}

fn date(bytes: &[u8]) -> Option<Date> {
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let field = |range: std::ops::Range<usize>| digits(&bytes[range]);
    Date::from_calendar_date(
        i32::try_from(field(0..4)?).ok()?,
        Month::try_from(u8::try_from(field(5..7)?).ok()?).ok()?,
        u8::try_from(field(8..10)?).ok()?,
    )
    .ok()
}

fn fields(bytes: &[u8]) -> Option<Fields> {
    if bytes.len() < 19
        || !matches!(bytes[10], b' ' | b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let date = date(bytes)?;
    let field = |range: std::ops::Range<usize>| digits(&bytes[range]);

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
    let second = u8::try_from(field(17..19)?).ok()?;
    let leap_second = second == 60;
    let time = Time::from_hms_milli(
        u8::try_from(field(11..13)?).ok()?,
        u8::try_from(field(14..16)?).ok()?,
        if leap_second { 59 } else { second },
        u16::try_from(millis).ok()?,
    )
    .ok()?;
    let offset = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(UtcOffset::UTC),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = i8::try_from(digits(&[*h1, *h2])?).ok()?;
            let minutes = i8::try_from(digits(&[*m1, *m2])?).ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            Some(UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?)
        }
        _ => return None,
    };
    Some(Fields {
        local: PrimitiveDateTime::new(date, time),
        leap_second,
        offset,
    })
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
        for (millis, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_764_082_942_123, "2025-11-25T15:02:22.123Z"),
            (1_764_083_000_123, "2025-11-25T15:03:20.123Z"),
            (951_825_600_001, "2000-02-29T12:00:00.001Z"),
        ] {
            assert_eq!(rfc3339_millis(millis), text, "{millis}");
        }
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
        for (input, expected) in [
            ("2026-11-25 15:02:22.123456", "2026-11-25T15:02:22.123Z"),
            ("2026-11-25 15:02:22", "2026-11-25T15:02:22.000Z"),
            ("2026-11-25 15:02:22.5", "2026-11-25T15:02:22.500Z"),
            ("2026-11-25T15:02:22.123Z", "2026-11-25T15:02:22.123Z"),
            ("2026-11-25t15:02:22z", "2026-11-25T15:02:22.000Z"),
            ("2026-11-25T15:02:22+01:00", "2026-11-25T14:02:22.000Z"),
            ("2026-12-31T23:30:00.999-01:00", "2027-01-01T00:30:00.999Z"),
            ("2024-02-29 00:00:00", "2024-02-29T00:00:00.000Z"),
            ("1969-12-31 23:59:59", "1969-12-31T23:59:59.000Z"),
            (" 2026-11-25 15:02:22 ", "2026-11-25T15:02:22.000Z"),
        ] {
            check(input, Some(expected));
        }
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
    fn parses_utc_and_offsets() {
        assert_eq!(
            parse_rfc3339_ms("2016-12-31T23:59:60Z"),
            parse_rfc3339_ms("2017-01-01T00:00:00Z")
        );
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
            " 2026-11-25T15:02:22Z",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_date_ms("2026-02-30"), None);
    }
}
