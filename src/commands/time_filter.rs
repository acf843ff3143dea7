//! `--since` and `--until` values as docker reads them (`logs`, `events`): an RFC 3339 time (any
//! offset, with or without a fraction), a date (`2026-11-29`, midnight UTC), Unix seconds
//! (`1700000000`, `1700000000.5`), or a Go duration before now (`10m`, `1h30m`, `42s`).

use std::str::FromStr;

use crate::project::units::Duration;

/// The Unix time (whole seconds, fractions dropped) that `text` means at `now`.
pub fn unix_seconds(text: &str, now: i64, flag: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Some(seconds) = text
        .split_once('.')
        .map_or(Some(text), |(whole, fraction)| {
            fraction
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then_some(whole)
        })
        .and_then(|whole| whole.parse::<i64>().ok())
    {
        return Ok(seconds);
    }
    if let Some(time) = runtime::time::parse_rfc3339(text)
        .or_else(|| runtime::time::parse_rfc3339(&format!("{text}T00:00:00Z")))
    {
        return Ok(time);
    }
    match Duration::from_str(text) {
        Ok(ago) if !ago.is_negative() => Ok(now - ago.as_nanos() / 1_000_000_000),
        _ => anyhow::bail!(
            "invalid {flag} value {text:?}: use a time (2026-11-29T05:00:00Z), Unix seconds, or a \
             duration before now (10m, 1h30m)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_seconds_dates_and_durations() {
        let now = 1_800_000_000;
        let at = |text| unix_seconds(text, now, "--since").unwrap();
        assert_eq!(at("1700000000"), 1_700_000_000);
        assert_eq!(at("1700000000.25"), 1_700_000_000);
        assert_eq!(at("2026-11-29T05:00:00Z"), 1_795_928_400);
        assert_eq!(at("2026-11-29T06:00:00+01:00"), 1_795_928_400);
        assert_eq!(at("2026-11-29T05:00:00.123456789Z"), 1_795_928_400);
        assert_eq!(at("2026-11-29"), 1_795_910_400);
        assert_eq!(at("10m"), now - 600);
        assert_eq!(at("1h30m"), now - 5400);
        assert_eq!(at("59s"), now - 59);
        let error = unix_seconds("bogus", now, "--since")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid --since value \"bogus\""),
            "{error}"
        );
        assert!(unix_seconds("-5m", now, "--until").is_err());
    }
}
