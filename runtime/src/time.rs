//! RFC 3339 timestamps, as image configs carry them (`2024-05-01T12:00:00.123456789Z`), converted to and
//! from Unix seconds. A few lines of civil-calendar arithmetic (Howard Hinnant's algorithms) instead of
//! a date crate: this is all the runtime needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Parses an RFC 3339 timestamp (fractional seconds and offsets allowed) into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_parses_variants() {
        for unix in [0, 951_782_400, 1_700_000_000, 4_102_444_800, -86_400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(unix)), Some(unix), "{unix}");
        }
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("2023-13-14T22:13:20Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}

/// Why a duration string was rejected (see [`parse_duration`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationErrorKind {
    /// Nothing to parse.
    Empty,
    /// Something other than a number where a number was expected (`"s"`, `"1s-"`, `".s"`).
    InvalidNumber,
    /// A number without a unit (`"10"`).
    MissingUnit,
    /// A unit that is not one of ns, us, µs, ms, s, m, h, d, w.
    UnknownUnit(String),
    /// Larger than about 292 years.
    Overflow,
}

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The units of [`parse_duration`]: Go's, and `d` and `w` (days, weeks).
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", NANOS_PER_MICRO),
    ("µs", NANOS_PER_MICRO), // U+00B5 micro sign
    ("μs", NANOS_PER_MICRO), // U+03BC Greek small letter mu
    ("ms", NANOS_PER_MILLI),
    ("s", NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("h", 3_600 * NANOS_PER_SECOND),
    ("d", 86_400 * NANOS_PER_SECOND),
    ("w", 604_800 * NANOS_PER_SECOND),
];

/// Parses a duration as Go's `time.ParseDuration` does (`"1m30s"`, `"1.5h"`, `"300ms"`, a lone
/// `"0"`), plus `d` and `w`, into nanoseconds: the one duration parser of the project (the CLI's
/// loader and Dockerfile `HEALTHCHECK` options use it).
pub fn parse_duration(input: &str) -> Result<i64, DurationErrorKind> {
    let mut rest = input;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    // As in Go, a lone zero needs no unit.
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(if input.is_empty() {
            DurationErrorKind::Empty
        } else {
            DurationErrorKind::InvalidNumber
        });
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        // The integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let mut whole: u64 = 0;
        for digit in int_digits.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(digit - b'0')))
                .ok_or(DurationErrorKind::Overflow)?;
        }
        rest = after_int;
        // The fraction, whose digits stop counting once they no longer fit.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut has_fraction_digits = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            let (frac_digits, after_frac) = after_dot.split_at(frac_len);
            has_fraction_digits = frac_len > 0;
            let mut overflowed = false;
            for digit in frac_digits.bytes() {
                if overflowed {
                    continue;
                }
                match fraction
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(digit - b'0')))
                {
                    Some(next) if next <= i64::MAX as u64 => {
                        fraction = next;
                        scale *= 10.0;
                    }
                    _ => overflowed = true,
                }
            }
            rest = after_frac;
        }
        if int_len == 0 && !has_fraction_digits {
            return Err(DurationErrorKind::InvalidNumber);
        }
        // The unit: everything up to the next number.
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(index, _)| index);
        let (unit, after_unit) = rest.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationErrorKind::MissingUnit);
        }
        let Some(&(_, unit_nanos)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationErrorKind::UnknownUnit(unit.to_owned()));
        };
        rest = after_unit;
        let mut value = whole
            .checked_mul(unit_nanos)
            .ok_or(DurationErrorKind::Overflow)?;
        if fraction > 0 {
            // As Go does: float64 keeps nanosecond accuracy for fractions of the largest units.
            let extra = (fraction as f64 * (unit_nanos as f64 / scale)) as u64;
            value = value
                .checked_add(extra)
                .ok_or(DurationErrorKind::Overflow)?;
        }
        total = total
            .checked_add(value)
            .ok_or(DurationErrorKind::Overflow)?;
        if total > i64::MAX as u64 {
            return Err(DurationErrorKind::Overflow);
        }
    }
    let nanos = i64::try_from(total).map_err(|_| DurationErrorKind::Overflow)?;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_parse_as_go_does() {
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_duration("10"), Err(DurationErrorKind::MissingUnit));
        assert_eq!(parse_duration(""), Err(DurationErrorKind::Empty));
        assert_eq!(
            parse_duration("3y"),
            Err(DurationErrorKind::UnknownUnit("y".into()))
        );
    }
}
