//! The one duration parser and the one byte-size parser of the project.
//!
//! [`Duration`] reads Go duration strings as compose-go does (it uses `str2duration`, which is
//! Go's `time.ParseDuration` plus the `d` and `w` units): `"1m30s"`, `"1.5h"`, `"100ms"`,
//! `"500us"`, `"2d"`. A bare number has no unit and is rejected, except `0`, exactly as compose-go
//! rejects `interval: 10`. It prints in Go's `time.Duration.String()` form (`"1m30s"`, `"100ms"`,
//! `"1h0m0s"`), which is what `docker compose config` prints.
//!
//! [`ByteSize`] reads sizes as docker's `units.RAMInBytes` does: a number, then an optional unit
//! among `b`, `k`, `m`, `g`, `t`, `p` (powers of 1024, case-insensitive), optionally followed by
//! `b` or `ib` (`"512m"`, `"1gb"`, `"2.5GiB"`, `"1024"`). It prints as an integer number of bytes.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The units a duration accepts, in the order the error message lists them.
const DURATION_UNITS_HINT: &str = "use ns, us, ms, s, m, h, d, w";

/// A span of time as Compose writes it (`"1m30s"`), stored in nanoseconds like Go's `time.Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

impl Duration {
    /// The zero duration, printed `0s`.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// A duration of `nanos` nanoseconds (negative values are allowed, as in Go).
    pub const fn from_nanos(nanos: i64) -> Self {
        Duration { nanos }
    }

    /// A duration of `millis` milliseconds, saturating at the largest representable duration.
    pub const fn from_millis(millis: i64) -> Self {
        Duration {
            nanos: millis.saturating_mul(NANOS_PER_MILLI as i64),
        }
    }

    /// A duration of `secs` seconds, saturating at the largest representable duration.
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(NANOS_PER_SECOND as i64),
        }
    }

    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whether the duration is below zero (Compose accepts `-1s`; what it means is for the caller).
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The duration as a [`std::time::Duration`], or `None` when it is negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }
}

impl From<std::time::Duration> for Duration {
    /// Converts, saturating at about 292 years.
    fn from(value: std::time::Duration) -> Self {
        Duration {
            nanos: i64::try_from(value.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

pub use runtime::time::DurationErrorKind;

/// A duration string that could not be parsed; its message names the input and says what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
    kind: DurationErrorKind,
}

impl ParseDurationError {
    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected.
    pub fn kind(&self) -> &DurationErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration {:?}: ", self.input)?;
        match &self.kind {
            DurationErrorKind::Empty => {
                write!(
                    f,
                    "empty value (write a number and a unit, e.g. \"10s\" or \"1m30s\")"
                )
            }
            DurationErrorKind::InvalidNumber => write!(
                f,
                "expected numbers each followed by a unit, e.g. \"10s\", \"1m30s\" or \"1.5h\""
            ),
            DurationErrorKind::MissingUnit => {
                write!(
                    f,
                    "missing unit ({DURATION_UNITS_HINT}), e.g. \"{}s\"",
                    self.input.trim()
                )
            }
            DurationErrorKind::UnknownUnit(unit) => {
                write!(f, "unknown unit {unit:?} ({DURATION_UNITS_HINT})")
            }
            DurationErrorKind::Overflow => write!(f, "too large (the maximum is about 292 years)"),
        }
    }
}

impl std::error::Error for ParseDurationError {}

impl FromStr for Duration {
    type Err = ParseDurationError;

    /// Parses as Go's `time.ParseDuration` with compose-go's extra `d` and `w` units.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        runtime::time::parse_duration(input)
            .map(|nanos| Duration { nanos })
            .map_err(|kind| ParseDurationError {
                input: input.to_owned(),
                kind,
            })
    }
}

/// Splits `value` into `value / 10^precision` and the decimals of the remainder without trailing
/// zeros (`".5"`, or `""` when the remainder is zero), as Go's `fmtFrac` does.
fn split_fraction(value: u64, precision: u32) -> (u64, String) {
    let divisor = 10u64.pow(precision);
    let remainder = value % divisor;
    if remainder == 0 {
        return (value / divisor, String::new());
    }
    let digits = format!("{remainder:0width$}", width = precision as usize);
    (
        value / divisor,
        format!(".{}", digits.trim_end_matches('0')),
    )
}

impl fmt::Display for Duration {
    /// Formats as Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `100ms`, `1.5µs`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let nanos = self.nanos.unsigned_abs();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < NANOS_PER_MICRO {
            return write!(f, "{sign}{nanos}ns");
        }
        if nanos < NANOS_PER_MILLI {
            let (whole, fraction) = split_fraction(nanos, 3);
            return write!(f, "{sign}{whole}{fraction}µs");
        }
        if nanos < NANOS_PER_SECOND {
            let (whole, fraction) = split_fraction(nanos, 6);
            return write!(f, "{sign}{whole}{fraction}ms");
        }
        let (total_seconds, fraction) = split_fraction(nanos, 9);
        let seconds = total_seconds % 60;
        let total_minutes = total_seconds / 60;
        if total_minutes == 0 {
            return write!(f, "{sign}{seconds}{fraction}s");
        }
        let minutes = total_minutes % 60;
        let hours = total_minutes / 60;
        if hours == 0 {
            return write!(f, "{sign}{minutes}m{seconds}{fraction}s");
        }
        write!(f, "{sign}{hours}h{minutes}m{seconds}{fraction}s")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    /// Reads a string, or a number written without quotes (which, as in Compose, needs a unit
    /// unless it is `0`, so `10` gets the "missing unit" message).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnitVisitor::<Duration>::new(
            "a duration such as \"10s\" or \"1m30s\"",
        ))
    }
}

const SIZE_UNITS_HINT: &str =
    "use b, k, m, g, t or p, optionally followed by b or ib, e.g. \"512m\" or \"1gb\"";

/// An amount of memory or storage in bytes, written `"512m"`, `"1g"` or `1073741824`.
///
/// Signed because Compose gives `-1` a meaning (`memswap_limit: -1` is unlimited swap); a negative
/// value can only come from a number, never from a string, as in docker's `units.RAMInBytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize {
    bytes: i64,
}

impl ByteSize {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: i64) -> Self {
        ByteSize { bytes }
    }

    /// The size in bytes.
    pub const fn bytes(self) -> i64 {
        self.bytes
    }
}

/// Why a size string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteSizeErrorKind {
    /// No number where one was expected (`""`, `"m"`, `"abc"`).
    InvalidNumber,
    /// A negative size written as a string (`"-1"`).
    Negative,
    /// A unit that is not one of b, k, m, g, t, p (with an optional b or ib).
    UnknownUnit(String),
    /// A fractional number of bytes given as a number (`1.5`).
    Fractional,
    /// Larger than 8 EiB.
    Overflow,
}

/// A size that could not be parsed; its message names the input and says what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseByteSizeError {
    input: String,
    kind: ByteSizeErrorKind,
}

impl ParseByteSizeError {
    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected.
    pub fn kind(&self) -> &ByteSizeErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseByteSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid size {:?}: ", self.input)?;
        match &self.kind {
            ByteSizeErrorKind::InvalidNumber => {
                write!(
                    f,
                    "expected a number of bytes and an optional unit ({SIZE_UNITS_HINT})"
                )
            }
            ByteSizeErrorKind::Negative => write!(f, "a size cannot be negative"),
            ByteSizeErrorKind::UnknownUnit(unit) => {
                write!(f, "unknown unit {unit:?} ({SIZE_UNITS_HINT})")
            }
            ByteSizeErrorKind::Fractional => {
                write!(
                    f,
                    "a number of bytes must be a whole number (or write a string such as \"1.5g\")"
                )
            }
            ByteSizeErrorKind::Overflow => write!(f, "too large (the maximum is 8 EiB)"),
        }
    }
}

impl std::error::Error for ParseByteSizeError {}

impl FromStr for ByteSize {
    type Err = ParseByteSizeError;

    /// Parses as docker's `units.RAMInBytes`: `"512m"`, `"1 GB"`, `"2.5g"`, `"1024"`, `"4KiB"`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |kind| ParseByteSizeError {
            input: input.to_owned(),
            kind,
        };
        // The number ends at the last digit, dot or space; a single space before the unit is allowed.
        let Some(separator) = input.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        else {
            return Err(error(ByteSizeErrorKind::InvalidNumber));
        };
        let (number, suffix) = if input.as_bytes()[separator] == b' ' {
            (&input[..separator], &input[separator + 1..])
        } else {
            (&input[..=separator], &input[separator + 1..])
        };
        let size: f64 = number
            .parse()
            .map_err(|_| error(ByteSizeErrorKind::InvalidNumber))?;
        if size.is_nan() {
            return Err(error(ByteSizeErrorKind::InvalidNumber));
        }
        if size < 0.0 {
            return Err(error(ByteSizeErrorKind::Negative));
        }
        let unknown_unit = || error(ByteSizeErrorKind::UnknownUnit(suffix.to_owned()));
        let lower = suffix.to_ascii_lowercase();
        let multiplier: f64 = match lower.as_str() {
            "" | "b" => 1.0,
            _ => {
                let mut chars = lower.chars();
                let exponent = match chars.next() {
                    Some('k') => 1,
                    Some('m') => 2,
                    Some('g') => 3,
                    Some('t') => 4,
                    Some('p') => 5,
                    _ => return Err(unknown_unit()),
                };
                match chars.as_str() {
                    "" | "b" | "ib" => 1024f64.powi(exponent),
                    _ => return Err(unknown_unit()),
                }
            }
        };
        let bytes = (size * multiplier).trunc();
        if bytes >= i64::MAX as f64 {
            return Err(error(ByteSizeErrorKind::Overflow));
        }
        Ok(ByteSize {
            bytes: bytes as i64,
        })
    }
}

impl fmt::Display for ByteSize {
    /// The number of bytes, as `docker compose config` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes)
    }
}

impl Serialize for ByteSize {
    /// The number of bytes as a string, as docker compose v2 prints sizes (`"1073741824"`); `-1`
    /// (unlimited) as a number: v2 prints `"-1"`, which neither v2 nor we read back as a size.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.bytes < 0 {
            serializer.serialize_i64(self.bytes)
        } else {
            serializer.serialize_str(&self.bytes.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    /// Reads a string (`"512m"`) or a number of bytes (`1024`, `-1`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnitVisitor::<ByteSize>::new(
            "a size such as \"512m\", \"1g\" or 1024",
        ))
    }
}

/// How a unit type reads an unquoted number.
trait FromNumber: FromStr + Sized {
    fn from_i64(value: i64) -> Result<Self, Self::Err>;
    fn from_f64(value: f64) -> Result<Self, Self::Err>;
}

impl FromNumber for Duration {
    fn from_i64(value: i64) -> Result<Self, Self::Err> {
        value.to_string().parse()
    }

    fn from_f64(value: f64) -> Result<Self, Self::Err> {
        value.to_string().parse()
    }
}

impl FromNumber for ByteSize {
    fn from_i64(value: i64) -> Result<Self, Self::Err> {
        Ok(ByteSize { bytes: value })
    }

    fn from_f64(value: f64) -> Result<Self, Self::Err> {
        let error = |kind| ParseByteSizeError {
            input: value.to_string(),
            kind,
        };
        if value.fract() != 0.0 || !value.is_finite() {
            return Err(error(ByteSizeErrorKind::Fractional));
        }
        if value.abs() >= i64::MAX as f64 {
            return Err(error(ByteSizeErrorKind::Overflow));
        }
        Ok(ByteSize {
            bytes: value as i64,
        })
    }
}

struct UnitVisitor<T> {
    expecting: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<T> UnitVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        UnitVisitor {
            expecting,
            marker: std::marker::PhantomData,
        }
    }
}

impl<T> Visitor<'_> for UnitVisitor<T>
where
    T: FromNumber,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::from_i64(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        match i64::try_from(value) {
            Ok(value) => T::from_i64(value).map_err(E::custom),
            Err(_) => T::from_f64(value as f64).map_err(E::custom),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        T::from_f64(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(text: &str) -> Duration {
        text.parse()
            .unwrap_or_else(|error| panic!("{text:?} should parse: {error}"))
    }

    fn duration_error(text: &str) -> String {
        match text.parse::<Duration>() {
            Ok(parsed) => panic!("{text:?} should not parse, got {parsed}"),
            Err(error) => error.to_string(),
        }
    }

    fn size(text: &str) -> i64 {
        text.parse::<ByteSize>()
            .unwrap_or_else(|error| panic!("{text:?} should parse: {error}"))
            .bytes()
    }

    fn size_error(text: &str) -> String {
        match text.parse::<ByteSize>() {
            Ok(parsed) => panic!("{text:?} should not parse, got {parsed}"),
            Err(error) => error.to_string(),
        }
    }

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn durations_parse_like_go() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("0s", 0),
            ("10s", 10 * SECOND),
            ("1m30s", 90 * SECOND),
            ("1.5h", 5_400 * SECOND),
            ("2h45m", (2 * 3_600 + 45 * 60) * SECOND),
            ("100ms", 100_000_000),
            ("500us", 500_000),
            ("500µs", 500_000),
            ("500μs", 500_000),
            ("42ns", 42),
            ("1d", 86_400 * SECOND),
            ("1w", 604_800 * SECOND),
            ("1w2d", 9 * 86_400 * SECOND),
            (".5s", SECOND / 2),
            ("1.s", SECOND),
            ("1.000000001s", SECOND + 1),
            ("-1.5s", -3 * SECOND / 2),
            ("+3s", 3 * SECOND),
            ("1h1m1s1ms1us1ns", 3_661 * SECOND + 1_001_001),
            ("0.1h", 360 * SECOND),
            ("2562047h", 2_562_047 * 3_600 * SECOND),
        ];
        for (text, nanos) in cases {
            assert_eq!(duration(text).as_nanos(), *nanos, "{text}");
        }
    }

    #[test]
    fn durations_print_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (1_000_000, "1ms"),
            (100_000_000, "100ms"),
            (1_500_000, "1.5ms"),
            (SECOND, "1s"),
            (10 * SECOND, "10s"),
            (SECOND + SECOND / 2, "1.5s"),
            (90 * SECOND, "1m30s"),
            (60 * SECOND, "1m0s"),
            (3_600 * SECOND, "1h0m0s"),
            (5_400 * SECOND, "1h30m0s"),
            (86_400 * SECOND, "24h0m0s"),
            (3_661 * SECOND + 1, "1h1m1.000000001s"),
            (-90 * SECOND, "-1m30s"),
            (-1_500, "-1.5µs"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Duration::from_nanos(*nanos).to_string(), *text, "{nanos}");
        }
    }

    #[test]
    fn durations_round_trip_through_text() {
        for text in [
            "1m30s", "10s", "100ms", "1h0m0s", "1.5µs", "2h45m0s", "-3s", "0s",
        ] {
            assert_eq!(duration(text).to_string(), text);
        }
        assert_eq!(duration("1.5h").to_string(), "1h30m0s");
        assert_eq!(duration("500us").to_string(), "500µs");
        assert_eq!(duration("2d").to_string(), "48h0m0s");
    }

    #[test]
    fn duration_errors_say_what_to_write() {
        assert_eq!(
            duration_error("1x"),
            "invalid duration \"1x\": unknown unit \"x\" (use ns, us, ms, s, m, h, d, w)"
        );
        assert_eq!(
            duration_error("10"),
            "invalid duration \"10\": missing unit (use ns, us, ms, s, m, h, d, w), e.g. \"10s\""
        );
        assert_eq!(
            duration_error("1m30"),
            "invalid duration \"1m30\": missing unit (use ns, us, ms, s, m, h, d, w), e.g. \"1m30s\""
        );
        assert!(duration_error("").starts_with("invalid duration \"\": empty value"));
        assert!(duration_error("-").contains("expected numbers each followed by a unit"));
        assert!(duration_error("s").contains("expected numbers each followed by a unit"));
        assert!(duration_error(".s").contains("expected numbers each followed by a unit"));
        assert!(duration_error("1s ").contains("unknown unit \"s \""));
        assert!(duration_error(" 1s").contains("expected numbers"));
        assert!(duration_error("1 s").contains("unknown unit \" s\""));
        assert!(duration_error("1S").contains("unknown unit \"S\""));
        assert!(duration_error("1sec").contains("unknown unit \"sec\""));
        assert!(duration_error("--1s").contains("expected numbers"));
        assert!(duration_error("2562048h").contains("too large"));
        assert!(duration_error("99999999999999999999s").contains("too large"));
        assert!(duration_error("9223372036854775807ns1ns").contains("too large"));
        let error = "1x".parse::<Duration>().err();
        assert_eq!(error.as_ref().map(ParseDurationError::input), Some("1x"));
        assert_eq!(
            error.as_ref().map(ParseDurationError::kind),
            Some(&DurationErrorKind::UnknownUnit("x".into()))
        );
    }

    #[test]
    fn duration_conversions() {
        assert_eq!(
            Duration::from_secs(90).to_std(),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(Duration::from_millis(-5).to_std(), None);
        assert!(Duration::from_millis(-5).is_negative());
        assert_eq!(
            Duration::from(std::time::Duration::from_millis(1500)).to_string(),
            "1.5s"
        );
        assert_eq!(
            Duration::from(std::time::Duration::MAX).as_nanos(),
            i64::MAX
        );
    }

    #[test]
    fn durations_serde() {
        let parsed: Duration = serde_json::from_value(serde_json::json!("1m30s")).unwrap();
        assert_eq!(parsed, Duration::from_secs(90));
        assert_eq!(
            serde_json::to_value(parsed).unwrap(),
            serde_json::json!("1m30s")
        );
        let zero: Duration = serde_json::from_value(serde_json::json!(0)).unwrap();
        assert_eq!(zero, Duration::ZERO);
        let error = serde_json::from_value::<Duration>(serde_json::json!(10))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("invalid duration \"10\": missing unit"),
            "{error}"
        );
        let error = serde_json::from_value::<Duration>(serde_json::json!(true))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid type: boolean `true`, expected a duration such as \"10s\" or \"1m30s\""
        );
        let error = serde_json::from_value::<Duration>(serde_json::json!("5y"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid duration \"5y\": unknown unit \"y\" (use ns, us, ms, s, m, h, d, w)"
        );
    }

    #[test]
    fn sizes_parse_like_docker() {
        const K: i64 = 1024;
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("1024", 1024),
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("100k", 100 * K),
            ("32kb", 32 * K),
            ("32Kb", 32 * K),
            ("32KiB", 32 * K),
            ("512m", 512 * K * K),
            ("512M", 512 * K * K),
            ("512mb", 512 * K * K),
            ("1g", K * K * K),
            ("1gb", K * K * K),
            ("1GB", K * K * K),
            ("1GiB", K * K * K),
            ("2.5g", 5 * K * K * K / 2),
            ("0.5m", K * K / 2),
            ("1t", K * K * K * K),
            ("1p", K * K * K * K * K),
            ("1 GB", K * K * K),
            ("1.5", 1),
            (".5k", 512),
            ("1e3", 1000),
        ];
        for (text, bytes) in cases {
            assert_eq!(size(text), *bytes, "{text}");
        }
    }

    #[test]
    fn size_errors_say_what_to_write() {
        assert_eq!(
            size_error("12x"),
            "invalid size \"12x\": unknown unit \"x\" (use b, k, m, g, t or p, optionally followed by b or ib, e.g. \"512m\" or \"1gb\")"
        );
        assert!(size_error("").contains("expected a number of bytes"));
        assert!(size_error("m").contains("expected a number of bytes"));
        assert!(size_error("abc").contains("expected a number of bytes"));
        assert!(size_error("1..5m").contains("expected a number of bytes"));
        assert_eq!(
            size_error("-1"),
            "invalid size \"-1\": a size cannot be negative"
        );
        assert!(size_error("-1m").contains("cannot be negative"));
        assert!(size_error("1bb").contains("unknown unit \"bb\""));
        assert!(size_error("1mm").contains("unknown unit \"mm\""));
        assert!(size_error("1mib2").contains("expected a number"));
        assert!(size_error("1kib ").contains("expected a number"));
        assert!(size_error("1kibb").contains("unknown unit \"kibb\""));
        assert!(size_error("1e").contains("unknown unit \"e\""));
        assert!(size_error("9999999p").contains("too large"));
        let error = "1x".parse::<ByteSize>().err();
        assert_eq!(error.as_ref().map(ParseByteSizeError::input), Some("1x"));
        assert_eq!(
            error.as_ref().map(ParseByteSizeError::kind),
            Some(&ByteSizeErrorKind::UnknownUnit("x".into()))
        );
    }

    #[test]
    fn sizes_serde() {
        let parsed: ByteSize = serde_json::from_value(serde_json::json!("512m")).unwrap();
        assert_eq!(parsed.bytes(), 512 * 1024 * 1024);
        assert_eq!(
            serde_json::to_value(parsed).unwrap(),
            serde_json::json!("536870912")
        );
        assert_eq!(parsed.to_string(), "536870912");
        let number: ByteSize = serde_json::from_value(serde_json::json!(1024)).unwrap();
        assert_eq!(number, ByteSize::from_bytes(1024));
        let unlimited: ByteSize = serde_json::from_value(serde_json::json!(-1)).unwrap();
        assert_eq!(unlimited.bytes(), -1);
        let whole_float: ByteSize = serde_json::from_value(serde_json::json!(2048.0)).unwrap();
        assert_eq!(whole_float.bytes(), 2048);
        let error = serde_json::from_value::<ByteSize>(serde_json::json!(1.5))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid size \"1.5\": a number of bytes must be a whole number"),
            "{error}"
        );
        let error = serde_json::from_value::<ByteSize>(serde_json::json!(u64::MAX))
            .unwrap_err()
            .to_string();
        assert!(error.contains("too large"), "{error}");
        let error = serde_json::from_value::<ByteSize>(serde_json::json!([1]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid type: sequence, expected a size such as \"512m\", \"1g\" or 1024"
        );
        let error = serde_json::from_value::<ByteSize>(serde_json::json!("1q"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid size \"1q\": unknown unit \"q\""),
            "{error}"
        );
    }
}
