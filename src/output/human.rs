//! Numbers as docker prints them for people: sizes in decimal units with three significant digits
//! (`4.26MB`) and ages in go-units' words (`About an hour ago`). One place, so every command agrees.

/// docker's sizes: decimal units, three significant digits (`4.26MB`, `856kB`, `0B`).
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", units[unit])
}

/// docker's "3 weeks ago" for an age of `seconds`.
pub fn ago(seconds: i64) -> String {
    format!("{} ago", duration(seconds))
}

/// docker's words for a duration (go-units HumanDuration): `Less than a second`, `About an hour`,
/// `3 weeks` (`Up 5 minutes` in `ps`).
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = (seconds as f64 / 3600.0).round() as i64;
    if seconds < 1 {
        "Less than a second".to_owned()
    } else if seconds == 1 {
        "1 second".to_owned()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_owned()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        for (bytes, expected) in [
            (0, "0B"),
            (999, "999B"),
            (4_261_000, "4.26MB"),
            (856_000, "856kB"),
            (12_300_000_000, "12.3GB"),
            (1_000, "1kB"),
        ] {
            assert_eq!(size(bytes), expected);
        }
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(ago(0), "Less than a second ago");
        assert_eq!(ago(30), "30 seconds ago");
        assert_eq!(ago(3700), "About an hour ago");
        assert_eq!(ago(86_400 * 3), "3 days ago");
        assert_eq!(ago(86_400 * 21), "3 weeks ago");
    }
}
