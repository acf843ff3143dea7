//! `ADD <url>`: a file downloaded over HTTP(S) (TLS with the system's roots), as BuildKit adds it:
//! named after the URL's last path segment, mode 0600, its time the server's `Last-Modified`,
//! never extracted; `--checksum=sha256:<hex>` is verified before the file is used. The body is
//! streamed to a file, never held in memory. The download happens on every build (as BuildKit
//! checks the URL each time); the step's cache key is the downloaded content's, so an unchanged
//! file is a cache hit.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The name it gets in the image (the URL's last path segment).
    pub name: String,
    /// Its modification time (seconds since the epoch; 0 when the server gives none).
    pub mtime: i64,
}

/// Downloads `url` into `into` (a file created here), checking `checksum` (`sha256:<hex>`) if given.
pub fn download(url: &str, into: &Path, checksum: Option<&str>) -> Result<Fetched, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "ADD {url}: only http and https URLs can be downloaded (git repositories are not supported; clone into the build context and COPY)"
        ));
    }
    let expected = checksum
        .map(|checksum| {
            checksum
                .strip_prefix("sha256:")
                .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| {
                    format!("ADD --checksum={checksum}: a sha256:<64 hex digits> digest")
                })
        })
        .transpose()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .user_agent(concat!("rcompose/", env!("CARGO_PKG_VERSION")))
        .http_status_as_error(false)
        .build()
        .into();
    let fail = |what: String| format!("ADD {url}: {what}");
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    let mtime = response
        .headers()
        .get("last-modified")
        .and_then(|value| value.to_str().ok())
        .and_then(http_date)
        .unwrap_or(0);
    let mut body = response.into_body().into_reader();
    let mut file = File::create(into).map_err(|e| fail(format!("{}: {e}", into.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(fail(format!("download: {error}"))),
        };
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .map_err(|e| fail(format!("{}: {e}", into.display())))?;
    }
    if let Some(expected) = expected {
        let got: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != expected {
            return Err(fail(format!(
                "the download's digest is sha256:{got}, not the --checksum sha256:{expected}"
            )));
        }
    }
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .find(|segment| !segment.is_empty() && !segment.contains(':'))
        .unwrap_or("download")
        .to_owned();
    Ok(Fetched { name, mtime })
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, the only form servers send now) in seconds.
fn http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)?
        + 1;
    crate::time::parse_rfc3339(&format!("{year}-{month:02}-{day:0>2}T{time}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_read_as_unix_seconds() {
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn only_http_urls_and_good_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("x");
        let error = download("git@github.com:a/b.git", &into, None).unwrap_err();
        assert!(error.contains("only http and https"), "{error}");
        let error = download("http://127.0.0.1:9/x", &into, Some("md5:00")).unwrap_err();
        assert!(error.contains("sha256:<64 hex digits>"), "{error}");
    }
}
