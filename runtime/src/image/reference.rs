//! THE image reference parser of rcompose: `[domain[:port]/]path[:tag][@sha256:digest]`.
//!
//! It follows the grammar of distribution/reference and Docker's normalization, because users type the
//! names docker accepts and expect docker's meaning: `busybox` is `docker.io/library/busybox:latest`,
//! `localhost:5000/app` keeps its registry, a name without a tag and without a digest gets `:latest`,
//! upper-case repository names and 64-hex names (which docker reserves for image ids) are refused.
//! Everything else in the project (registry, build, compose `image:` keys) must go through here.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, is_sha256_hex};

/// The registry docker assumes when a name has none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag a name without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A normalized image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference; the message quotes the input and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: empty image name")]
    Empty,
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error(
        "invalid repository name {0:?}: cannot specify 64-byte hexadecimal strings (that is an image id, not a name)"
    )]
    HexName(String),
    #[error("invalid reference format: {input:?}: {reason}")]
    Invalid { input: String, reason: &'static str },
    #[error("invalid reference format: repository name {0:?} is longer than 255 characters")]
    NameTooLong(String),
    #[error(
        "invalid tag {tag:?} in {input:?}: a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
    )]
    Tag { tag: String, input: String },
    #[error("invalid digest in image reference {input:?}: {source}")]
    Digest {
        input: String,
        #[source]
        source: super::digest::DigestError,
    },
}

impl ImageRef {
    /// Parses and normalizes a reference as docker does (see the module doc).
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if is_sha256_hex(input) {
            return Err(ReferenceError::HexName(input.to_owned()));
        }
        let invalid = |reason| ReferenceError::Invalid {
            input: input.to_owned(),
            reason,
        };
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        input: input.to_owned(),
                        source,
                    })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if !name_and_tag[colon + 1..].contains('/') => {
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            _ => (name_and_tag, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                tag: tag.to_owned(),
                input: input.to_owned(),
            });
        }
        if name.is_empty() {
            return Err(invalid("empty repository name"));
        }
        let (domain, path) = split_domain(name);
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path));
        }
        if !is_valid_domain(&domain) {
            return Err(invalid("invalid registry host"));
        }
        if !path.split('/').all(is_valid_path_component) {
            return Err(invalid(
                "path components are lowercase letters and digits separated by '.', '_', '__' or dashes",
            ));
        }
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(ReferenceError::NameTooLong(name.to_owned()));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host (with port), e.g. `docker.io`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if the reference has one (always, unless it has only a digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The fully qualified repository, e.g. `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as docker prints it, e.g. `busybox` or `localhost:5000/app`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_PREFIX) {
                Some(short) if !short.contains('/') => short.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The whole reference as docker prints it, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut text = self.familiar_repository();
        self.push_suffix(&mut text);
        text
    }

    /// This reference with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::Tag {
                tag: tag.to_owned(),
                input: tag.to_owned(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// This reference with a digest instead of a tag (`repo@sha256:...`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn push_suffix(&self, text: &mut String) {
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.repository();
        self.push_suffix(&mut text);
        f.write_str(&text)
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({self})")
    }
}

/// Docker's rule: the first component is a registry if it has a `.` or `:`, is `localhost`, or has
/// upper-case letters (which a repository path may not).
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_owned()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

/// `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            while i < bytes.len() && alnum(bytes[i]) {
                i += 1;
            }
            expect_alnum = false;
        } else if expect_alnum {
            return false;
        } else {
            let sep_start = i;
            match bytes[i] {
                b'.' => i += 1,
                b'_' => {
                    i += if bytes.get(i + 1) == Some(&b'_') {
                        2
                    } else {
                        1
                    }
                }
                b'-' => {
                    while i < bytes.len() && bytes[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            debug_assert!(i > sep_start);
            expect_alnum = true;
        }
    }
    !bytes.is_empty() && !expect_alnum
}

/// Host names, IPv4, bracketed IPv6, each with an optional numeric port.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, full: &str, familiar: &str) {
        let reference = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(reference.to_string(), full, "full form of {input}");
        assert_eq!(reference.familiar(), familiar, "familiar form of {input}");
        assert_eq!(
            ImageRef::parse(full).unwrap(),
            reference,
            "{full} round-trips"
        );
    }

    #[test]
    fn normalizes_like_docker() {
        check(
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        check(
            "busybox:1.36",
            "docker.io/library/busybox:1.36",
            "busybox:1.36",
        );
        check(
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        check(
            "docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        check(
            "index.docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
        );
        check("user/app:v1", "docker.io/user/app:v1", "user/app:v1");
        check(
            "docker.io/library/a/b",
            "docker.io/library/a/b:latest",
            "library/a/b:latest",
        );
        check(
            "localhost/app",
            "localhost/app:latest",
            "localhost/app:latest",
        );
        check(
            "localhost:5000/app:dev",
            "localhost:5000/app:dev",
            "localhost:5000/app:dev",
        );
        check(
            "127.0.0.1:5000/a/b/c",
            "127.0.0.1:5000/a/b/c:latest",
            "127.0.0.1:5000/a/b/c:latest",
        );
        check(
            "[::1]:5000/app",
            "[::1]:5000/app:latest",
            "[::1]:5000/app:latest",
        );
        check(
            "ghcr.io/o/x__y.z-w",
            "ghcr.io/o/x__y.z-w:latest",
            "ghcr.io/o/x__y.z-w:latest",
        );
        check(
            "Registry.Example/app",
            "Registry.Example/app:latest",
            "Registry.Example/app:latest",
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        check(
            &format!("busybox@{digest}"),
            &format!("docker.io/library/busybox@{digest}"),
            &format!("busybox@{digest}"),
        );
        check(
            &format!("busybox:1@{digest}"),
            &format!("docker.io/library/busybox:1@{digest}"),
            &format!("busybox:1@{digest}"),
        );
    }

    #[test]
    fn rejects_what_docker_rejects() {
        let errors = [
            ("", "empty image name"),
            ("Busybox", "must be lowercase"),
            ("user/App", "must be lowercase"),
            (&"a".repeat(64), "64-byte hexadecimal"),
            ("busybox:", "invalid tag"),
            ("busybox:-x", "invalid tag"),
            ("busybox:a/b", "invalid reference format"),
            ("a..b", "path components"),
            ("a-", "path components"),
            ("_a", "path components"),
            ("a___b", "path components"),
            ("a//b", "path components"),
            ("localhost:port/x", "registry host"),
            ("-bad.example/x", "registry host"),
            ("busybox@sha256:abc", "invalid digest"),
            ("busybox@md5:abc", "invalid digest"),
            (":tag", "empty repository name"),
        ];
        for (input, expected) in errors {
            let error = ImageRef::parse(input).expect_err(input).to_string();
            assert!(error.contains(expected), "{input:?}: {error}");
        }
        let long = format!("a/{}", "b".repeat(260));
        assert!(
            ImageRef::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 255")
        );
        assert!(ImageRef::parse(&format!("a:{}", "t".repeat(129))).is_err());
        assert!(ImageRef::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn retags() {
        let reference = ImageRef::parse("busybox").unwrap();
        assert_eq!(reference.with_tag("v2").unwrap().familiar(), "busybox:v2");
        assert!(reference.with_tag("bad tag").is_err());
    }
}
