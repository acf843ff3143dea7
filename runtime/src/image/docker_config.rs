//! The fields docker writes in an image config's `config` that the OCI image spec lacks
//! (oci-spec's `Config` drops them when it reads a config): `Healthcheck`, which containers made
//! from the image run; `OnBuild`, the triggers a build `FROM` the image runs first; and `Shell`,
//! the shell of shell-form commands in builds on it. They are read from, and written into, the raw
//! config JSON here.

use serde::{Deserialize, Serialize};

/// Docker's own fields of an image config's `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerConfig {
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<Healthcheck>,
    /// `ONBUILD` triggers, each an instruction as written (`RUN make`).
    #[serde(
        rename = "OnBuild",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// `SHELL`, when the image's Dockerfile set one.
    #[serde(
        rename = "Shell",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
}

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

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Docker's fields in a raw image config (defaults where it has none, or cannot be read).
pub fn read(config: &[u8]) -> DockerConfig {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(config) else {
        return DockerConfig::default();
    };
    value
        .get("config")
        .and_then(|inner| serde_json::from_value(inner.clone()).ok())
        .unwrap_or_default()
}

/// `config` (a serialized image config) with docker's fields set in it (empty ones left out).
pub fn write(config: &[u8], fields: &DockerConfig) -> serde_json::Result<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(config)?;
    if let Some(object) = value.as_object_mut() {
        let inner = object
            .entry("config")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let (Some(inner), serde_json::Value::Object(own)) =
            (inner.as_object_mut(), serde_json::to_value(fields)?)
        {
            inner.extend(own);
        }
    }
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_fields_round_trip_through_the_raw_config() {
        let config =
            br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"OnBuild":null}}"#;
        assert_eq!(read(config), DockerConfig::default());
        let fields = DockerConfig {
            healthcheck: Some(Healthcheck {
                test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
                interval: 5_000_000_000,
                retries: 3,
                ..Healthcheck::default()
            }),
            on_build: vec!["RUN make".into()],
            shell: vec!["/bin/bash".into(), "-c".into()],
        };
        let written = write(config, &fields).unwrap();
        assert_eq!(read(&written), fields);
        let text = String::from_utf8(written).unwrap();
        assert!(text.contains(r#""Env":["A=1"]"#), "{text}");
        assert!(text.contains(r#""Interval":5000000000"#), "{text}");
        assert!(text.contains(r#""OnBuild":["RUN make"]"#), "{text}");
    }
}
