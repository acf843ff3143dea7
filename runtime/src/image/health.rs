//! Docker's `config.Healthcheck` of an image: the image spec of OCI has no such field (oci-spec's
//! `Config` drops it when it reads a config), yet docker writes it and containers made from the
//! image run it, so it is read from, and written into, the raw config JSON here.

use serde::{Deserialize, Serialize};

/// `config.Healthcheck` as docker writes it: the test (`["CMD", ...]`, `["CMD-SHELL", "..."]` or
/// `["NONE"]`) and durations in nanoseconds (0: the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    #[serde(rename = "Test", default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(rename = "Interval", default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(rename = "Timeout", default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(rename = "StartPeriod", default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(rename = "StartInterval", default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(rename = "Retries", default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// The healthcheck in a raw image config, if it has one.
pub fn read(config: &[u8]) -> Option<Healthcheck> {
    let value: serde_json::Value = serde_json::from_slice(config).ok()?;
    serde_json::from_value(value.get("config")?.get("Healthcheck")?.clone()).ok()
}

/// `config` (a serialized image config) with `healthcheck` set in it.
pub fn write(config: &[u8], healthcheck: &Healthcheck) -> serde_json::Result<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(config)?;
    if let Some(object) = value.as_object_mut() {
        let inner = object
            .entry("config")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(inner) = inner.as_object_mut() {
            inner.insert("Healthcheck".into(), serde_json::to_value(healthcheck)?);
        }
    }
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthcheck_round_trips_through_the_raw_config() {
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"]}}"#;
        assert_eq!(read(config), None);
        let check = Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
            interval: 5_000_000_000,
            retries: 3,
            ..Healthcheck::default()
        };
        let written = write(config, &check).unwrap();
        assert_eq!(read(&written), Some(check));
        let text = String::from_utf8(written).unwrap();
        assert!(text.contains(r#""Env":["A=1"]"#), "{text}");
        assert!(text.contains(r#""Interval":5000000000"#), "{text}");
    }
}
