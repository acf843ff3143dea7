//! From an image reference to the endpoints a pull tries, as docker resolves them: `docker.io` is served
//! by `registry-1.docker.io` (and its credentials are filed under `https://index.docker.io/v1/`);
//! mirrors, which only docker.io has (docker's `registry-mirrors`), come first, in order.
//!
//! Plain HTTP is used only for hosts where it cannot leak to the network by accident: 127.0.0.0/8,
//! `::1` and `localhost`, or those the user lists as insecure. Other registries get HTTPS with the
//! system's roots, and no fallback.
//!
//! Settings come from the environment (`RCOMPOSE_REGISTRY_MIRRORS`, `RCOMPOSE_INSECURE_REGISTRIES`,
//! comma-separated; `RCOMPOSE_OFFLINE=1`) and from `<state root>/registries.json` (`{"mirrors":
//! [...], "insecure": [...], "offline": true}`), the environment first. Offline, only registries on
//! this machine (loopback) are used: an air-gapped host, and test suites whose traffic must stay on
//! the machine, get a clear error instead of a connection to the world.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use super::Error;
use crate::image::ImageRef;
use crate::image::reference::DEFAULT_DOMAIN;

/// The host that serves docker.io's API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key docker files Docker Hub's credentials under in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The settings file under the state root.
pub const SETTINGS_FILE: &str = "registries.json";

/// Mirrors and insecure registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Settings {
    /// Mirrors of docker.io, tried in order before it (`http://127.0.0.1:5000`, `mirror.example`).
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Registries (`host[:port]`) reached over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Use no registry off this machine.
    #[serde(default)]
    pub offline: bool,
}

impl Settings {
    /// The environment's settings, then the state root's file.
    pub fn load(state_root: &Path) -> Result<Self, Error> {
        let mut settings = Settings::default();
        let list = |name: &str| -> Vec<String> {
            std::env::var(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        settings.mirrors = list("RCOMPOSE_REGISTRY_MIRRORS");
        settings.insecure = list("RCOMPOSE_INSECURE_REGISTRIES");
        settings.offline = matches!(
            std::env::var("RCOMPOSE_OFFLINE").as_deref(),
            Ok("1" | "true" | "yes")
        );
        let path = state_root.join(SETTINGS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: Settings = serde_json::from_slice(&bytes)
                    .map_err(|error| Error::Invalid(format!("{}: {error}", path.display())))?;
                settings.mirrors.extend(file.mirrors);
                settings.insecure.extend(file.insecure);
                settings.offline |= file.offline;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(crate::store::IoError::new("read", path, error).into());
            }
        }
        Ok(settings)
    }

    /// The endpoints to try for `reference`: mirrors (for docker.io), then the registry itself.
    pub fn endpoints(&self, reference: &ImageRef) -> Result<Vec<Endpoint>, Error> {
        let mut endpoints = Vec::new();
        if reference.domain() == DEFAULT_DOMAIN {
            for mirror in &self.mirrors {
                endpoints.push(self.endpoint_for_url(mirror)?);
            }
        }
        endpoints.push(self.endpoint(reference.domain()));
        if self.offline {
            endpoints.retain(|endpoint| {
                let host = endpoint.base.split_once("://").map_or("", |(_, host)| host);
                is_loopback(host_without_port(host))
            });
            if endpoints.is_empty() {
                return Err(Error::Offline {
                    reference: reference.familiar(),
                    registry: self.endpoint(reference.domain()).base,
                    file: SETTINGS_FILE,
                });
            }
        }
        Ok(endpoints)
    }

    /// The endpoint of a registry named as in image references (`docker.io`, `localhost:5000`).
    pub fn endpoint(&self, domain: &str) -> Endpoint {
        let host = if domain == DEFAULT_DOMAIN || domain == "index.docker.io" {
            DOCKER_HUB_API.to_owned()
        } else {
            domain.to_owned()
        };
        let plain = self.allows_http(domain);
        Endpoint {
            base: format!("{}://{host}", if plain { "http" } else { "https" }),
            registry: domain.to_owned(),
            credential_key: credential_key(domain),
        }
    }

    fn endpoint_for_url(&self, url: &str) -> Result<Endpoint, Error> {
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(Error::Invalid(format!(
                "registry mirror {url:?}: expected [http[s]://]host[:port]"
            )));
        }
        let scheme = match scheme {
            Some("http") if self.allows_http(host) => "http",
            Some("http") => {
                return Err(Error::Invalid(format!(
                    "registry mirror {url:?}: plain HTTP is only used for loopback addresses and registries listed in RCOMPOSE_INSECURE_REGISTRIES"
                )));
            }
            Some("https") => "https",
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "registry mirror {url:?}: unknown scheme {other:?}"
                )));
            }
            None if self.allows_http(host) => "http",
            None => "https",
        };
        Ok(Endpoint {
            base: format!("{scheme}://{host}"),
            registry: host.to_owned(),
            credential_key: host.to_owned(),
        })
    }

    /// Whether plain HTTP may be used for `host[:port]`.
    pub fn allows_http(&self, host: &str) -> bool {
        self.insecure.iter().any(|insecure| {
            let insecure = insecure
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            insecure == host || insecure == host_without_port(host)
        }) || is_loopback(host_without_port(host))
    }
}

/// One place to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`, the root of the `/v2/` API.
    pub base: String,
    /// The registry as users name it (for messages and `login`), e.g. `docker.io`.
    pub registry: String,
    /// The key of its credentials in docker's `config.json`.
    pub credential_key: String,
}

/// The key docker uses in `config.json` for a registry.
pub fn credential_key(domain: &str) -> String {
    if domain == DEFAULT_DOMAIN || domain == "index.docker.io" || domain == DOCKER_HUB_API {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            mirrors: vec![
                "127.0.0.1:5001".to_owned(),
                "https://mirror.example".to_owned(),
            ],
            insecure: vec!["registry.lan:5000".to_owned()],
            offline: false,
        }
    }

    #[test]
    fn offline_only_registries_on_this_machine_are_used() {
        let offline = Settings {
            offline: true,
            ..settings()
        };
        let redis = ImageRef::parse("redis").unwrap();
        let bases: Vec<String> = offline
            .endpoints(&redis)
            .unwrap()
            .into_iter()
            .map(|e| e.base)
            .collect();
        assert_eq!(
            bases,
            ["http://127.0.0.1:5001"],
            "the loopback mirror alone"
        );
        let local = ImageRef::parse("localhost:5000/app").unwrap();
        assert_eq!(offline.endpoints(&local).unwrap().len(), 1);
        let remote = ImageRef::parse("ghcr.io/org/app:1").unwrap();
        let error = offline.endpoints(&remote).unwrap_err().to_string();
        assert!(
            error.starts_with("ghcr.io/org/app:1 would come from https://ghcr.io, but registries off this machine are not used"),
            "{error}"
        );
    }

    #[test]
    fn docker_hub_names_resolve_as_docker_does() {
        let redis = ImageRef::parse("redis").unwrap();
        assert_eq!(redis.to_string(), "docker.io/library/redis:latest");
        let endpoints = settings().endpoints(&redis).unwrap();
        let bases: Vec<&str> = endpoints.iter().map(|e| e.base.as_str()).collect();
        assert_eq!(
            bases,
            [
                "http://127.0.0.1:5001",
                "https://mirror.example",
                "https://registry-1.docker.io"
            ]
        );
        assert_eq!(endpoints[2].credential_key, DOCKER_HUB_KEY);
        assert_eq!(endpoints[2].registry, "docker.io");
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let settings = settings();
        for (name, base) in [
            ("localhost:5000/app", "http://localhost:5000"),
            ("127.0.0.1:5000/app", "http://127.0.0.1:5000"),
            ("127.8.9.1/app", "http://127.8.9.1"),
            ("[::1]:5000/app", "http://[::1]:5000"),
            ("registry.lan:5000/app", "http://registry.lan:5000"),
            ("registry.lan:5001/app", "https://registry.lan:5001"),
            (
                "ghcr.io/owner/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "https://ghcr.io",
            ),
        ] {
            let reference = ImageRef::parse(name).unwrap();
            let endpoints = settings.endpoints(&reference).unwrap();
            assert_eq!(endpoints.len(), 1, "{name}: mirrors are for docker.io only");
            assert_eq!(endpoints[0].base, base, "{name}");
            assert_eq!(endpoints[0].credential_key, reference.domain());
        }
        let error = Settings {
            mirrors: vec!["http://mirror.example".to_owned()],
            ..Settings::default()
        }
        .endpoints(&ImageRef::parse("redis:7").unwrap())
        .unwrap_err();
        assert!(error.to_string().contains("plain HTTP"), "{error}");
    }
}
