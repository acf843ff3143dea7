//! Manifests as registries serve them: OCI image manifests and Docker schema 2 manifests (the same
//! shape), OCI image indexes and Docker manifest lists (the same shape), and the choice of this
//! machine's platform in an index by containerd's rules: os and architecture equal after
//! normalization (`aarch64` is `arm64`, `x86_64` is `amd64`), and the variant equal with its default
//! filled in (`arm64` is `arm64/v8`, `arm` is `arm/v7`); entries that are not images (attestations,
//! `unknown/unknown`) never match. The first match wins, as the index orders by preference.

use serde::Deserialize;

use super::Error;
use crate::image::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// What a manifest GET accepts.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn digest(&self) -> Result<Digest, Error> {
        self.digest.parse().map_err(|error| {
            Error::Invalid(format!("descriptor digest {:?}: {error}", self.digest))
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) if !variant.is_empty() => write!(f, "/{variant}"),
            _ => Ok(()),
        }
    }
}

/// A manifest document, either kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    Index(Vec<Descriptor>),
}

impl Manifest {
    /// Parses a manifest; `content_type` is the response's header, which wins over the document's
    /// `mediaType` (older documents lack it).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, Error> {
        let document: Document = serde_json::from_slice(bytes)
            .map_err(|error| Error::Invalid(format!("invalid manifest: {error}")))?;
        let media_type = document
            .media_type
            .clone()
            .or_else(|| {
                content_type.map(|value| value.split(';').next().unwrap_or(value).trim().to_owned())
            })
            .unwrap_or_default();
        if media_type == "application/vnd.docker.distribution.manifest.v1+json"
            || media_type == "application/vnd.docker.distribution.manifest.v1+prettyjws"
        {
            return Err(Error::Invalid(
                "Docker schema 1 manifests are not supported (deprecated since 2017); push the image again with a current client".to_owned(),
            ));
        }
        if let Some(manifests) = document.manifests {
            return Ok(Self::Index(manifests));
        }
        match (document.config, document.layers) {
            (Some(config), Some(layers)) => Ok(Self::Image { config, layers }),
            _ => Err(Error::Invalid(format!(
                "manifest of type {media_type:?} has neither layers nor manifests"
            ))),
        }
    }
}

/// This machine's platform, as OCI names it.
pub fn host() -> Platform {
    let (os, arch) = crate::image::archive::host_platform();
    let mut platform = Platform {
        os: os.to_owned(),
        architecture: arch.to_owned(),
        variant: None,
    };
    platform.variant = default_variant(&platform.architecture).map(str::to_owned);
    platform
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        "armhf" | "armel" => "arm",
        other => other,
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

fn normalize(platform: &Platform) -> Platform {
    let architecture = normalize_arch(&platform.architecture).to_owned();
    let variant = match platform.variant.as_deref() {
        Some("") | None => default_variant(&architecture).map(str::to_owned),
        // amd64's v1 is the baseline every amd64 machine runs.
        Some("v1") if architecture == "amd64" => None,
        Some("8") if architecture == "arm64" => Some("v8".to_owned()),
        Some(variant) => Some(variant.to_owned()),
    };
    Platform {
        os: platform.os.to_ascii_lowercase(),
        architecture,
        variant,
    }
}

/// The entry of an index for `wanted`.
pub fn choose<'a>(entries: &'a [Descriptor], wanted: &Platform) -> Option<&'a Descriptor> {
    let wanted = normalize(wanted);
    entries.iter().find(|entry| {
        entry
            .platform
            .as_ref()
            .is_some_and(|platform| normalize(platform) == wanted)
    })
}

/// The platforms an index offers, for an error message.
pub fn offered(entries: &[Descriptor]) -> String {
    let list: Vec<String> = entries
        .iter()
        .filter_map(|entry| entry.platform.as_ref())
        .filter(|platform| platform.os != "unknown")
        .map(Platform::to_string)
        .collect();
    if list.is_empty() {
        "no platform".to_owned()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, digest: char) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: format!("sha256:{}", digest.to_string().repeat(64)),
            size: 1,
            platform: Some(Platform {
                os: os.to_owned(),
                architecture: arch.to_owned(),
                variant: variant.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn chooses_the_platform_as_containerd_does() {
        let index = vec![
            entry("unknown", "unknown", None, 'a'),
            entry("linux", "arm", Some("v6"), 'b'),
            entry("linux", "arm", Some("v7"), 'c'),
            entry("linux", "arm64", Some("v8"), 'd'),
            entry("linux", "amd64", None, 'e'),
            entry("windows", "amd64", None, 'f'),
        ];
        let pick = |arch: &str, variant: Option<&str>| {
            let wanted = Platform {
                os: "linux".to_owned(),
                architecture: arch.to_owned(),
                variant: variant.map(str::to_owned),
            };
            choose(&index, &wanted).map(|d| d.digest.chars().last().unwrap())
        };
        assert_eq!(pick("amd64", None), Some('e'));
        assert_eq!(pick("x86_64", None), Some('e'));
        assert_eq!(pick("arm64", None), Some('d'), "arm64 is arm64/v8");
        assert_eq!(pick("aarch64", Some("v8")), Some('d'));
        assert_eq!(pick("arm", None), Some('c'), "arm is arm/v7");
        assert_eq!(pick("arm", Some("v6")), Some('b'));
        assert_eq!(pick("s390x", None), None);
        assert_eq!(
            offered(&index),
            "linux/arm/v6, linux/arm/v7, linux/arm64/v8, linux/amd64, windows/amd64"
        );
        let plain = vec![entry("linux", "arm64", None, 'g')];
        assert!(
            choose(
                &plain,
                &Platform {
                    os: "linux".to_owned(),
                    architecture: "arm64".to_owned(),
                    variant: Some("v8".to_owned())
                }
            )
            .is_some()
        );
    }

    #[test]
    fn parses_both_kinds() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        assert!(matches!(
            Manifest::parse(image, None).unwrap(),
            Manifest::Image { .. }
        ));
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(index, Some(OCI_INDEX)).unwrap(),
            Manifest::Index(_)
        ));
        let v1 = br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert!(
            Manifest::parse(v1, None)
                .unwrap_err()
                .to_string()
                .contains("schema 1")
        );
    }
}
