//! A push: every blob the registry lacks, then the manifest, byte for byte as the store keeps it (so
//! the digest the registry reports is the image's manifest digest, and a pull gets the same image).
//!
//! Per blob (the config and each layer, on up to [`super::PARALLEL_LAYERS`] threads): a HEAD skips
//! what the repository has; a cross-repository mount (`POST .../uploads/?mount=<digest>&from=<repo>`)
//! is tried from the image's other names on the same registry, which costs no transfer when the
//! registry has the blob there; otherwise an upload: POST for a session, then for a small blob one
//! PUT with the data and the digest (monolithic), for a large one a PATCH per chunk with its
//! `Content-Range` and a PUT with the digest (chunked: a broken connection costs a chunk, not the
//! blob). A layer the store keeps as a split (an uncompressed layer) is reproduced from its
//! directory while it is sent in one PUT, verified at its end.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::manifest::OCI_MANIFEST;
use super::resolve::Settings;
use super::transport::{Payload, Session, status_error};
use super::{Error, Progress, Report, auth};
use crate::image::{Digest, ImageRef, ImageStore};

/// Blobs larger than this go up in chunks (see [`upload_chunked`]); smaller ones in one PUT.
const CHUNKED_ABOVE: u64 = 16 << 20;
/// The size of a chunk (ECR, for one, wants at least 5 MiB per chunk but the last).
const CHUNK: u64 = 8 << 20;
/// Times an upload the registry lost starts over.
const RESTARTS: u32 = 2;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest the registry serves the image under.
    pub digest: Digest,
    /// The manifest's size (docker prints `size: N`).
    pub size: u64,
    pub uploaded: usize,
    pub existing: usize,
    pub mounted: usize,
}

/// Pushes the store's image `source` (a name or id) to `target`.
pub fn push(
    store: &ImageStore,
    settings: &Settings,
    source: &str,
    target: &ImageRef,
    report: Report<'_>,
) -> Result<Pushed, Error> {
    let image = store.image(source)?;
    let endpoint = settings.endpoint(target.domain());
    let mount_sources: Vec<String> = image
        .names
        .iter()
        .filter(|name| name.domain() == target.domain() && name.path() != target.path())
        .map(|name| name.path().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let extra: Vec<String> = mount_sources
        .iter()
        .map(|path| format!("repository:{path}:pull"))
        .collect();
    let session = Session::open(&endpoint, target.path(), "pull,push", &extra)?;

    let mut blobs: Vec<(Digest, u64)> = image
        .layers
        .iter()
        .map(|layer| (layer.blob.clone(), layer.blob_size))
        .collect();
    let config_size = store.blobs().size(&image.id)?;
    blobs.push((image.id.clone(), config_size));
    blobs.dedup_by(|a, b| a.0 == b.0);

    let counts = std::sync::Mutex::new((0usize, 0usize, 0usize));
    super::parallel(blobs, |(digest, size)| {
        let outcome = push_blob(store, &session, &mount_sources, &digest, size, report)?;
        let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Existed => counts.1 += 1,
            Outcome::Mounted => counts.2 += 1,
            Outcome::Uploaded => counts.0 += 1,
        }
        Ok(())
    })?;
    let (uploaded, existing, mounted) = counts.into_inner().unwrap_or_else(|p| p.into_inner());

    let manifest = store.blobs().read(&image.manifest_digest)?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|value| value["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| OCI_MANIFEST.to_owned());
    let tag = match (target.tag(), target.digest()) {
        (Some(tag), _) => tag.to_owned(),
        (None, Some(_)) => image.manifest_digest.to_string(),
        (None, None) => unreachable!("a reference has a tag or a digest"),
    };
    let url = session.url(&format!("manifests/{tag}"));
    let response = session.send(
        "PUT",
        &url,
        &[("Content-Type", media_type)],
        &Payload::Bytes(&manifest),
    )?;
    if response.status().as_u16() != 201 {
        return Err(status_error(&url, response));
    }
    if let Some(served) = response
        .headers()
        .get("docker-content-digest")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<Digest>().ok())
        && served != image.manifest_digest
    {
        return Err(Error::DigestMismatch {
            what: "manifest",
            expected: image.manifest_digest.clone(),
            actual: served,
            registry: endpoint.registry.clone(),
        });
    }
    Ok(Pushed {
        digest: image.manifest_digest.clone(),
        size: manifest.len() as u64,
        uploaded,
        existing,
        mounted,
    })
}

enum Outcome {
    Existed,
    Mounted,
    Uploaded,
}

fn push_blob(
    store: &ImageStore,
    session: &Session,
    mount_sources: &[String],
    digest: &Digest,
    size: u64,
    report: Report<'_>,
) -> Result<Outcome, Error> {
    let head = session.url(&format!("blobs/{digest}"));
    let response = session.send("HEAD", &head, &[], &Payload::Empty)?;
    if response.status().as_u16() == 200 {
        report(Progress::Exists {
            digest: digest.clone(),
        });
        return Ok(Outcome::Existed);
    }
    let mut location = None;
    for from in mount_sources {
        let url = session.url(&format!(
            "blobs/uploads/?mount={}&from={}",
            auth::encode(&digest.to_string()),
            auth::encode(from)
        ));
        let response = session.send("POST", &url, &[], &Payload::Empty)?;
        match response.status().as_u16() {
            201 => {
                report(Progress::Mounted {
                    digest: digest.clone(),
                    from: from.clone(),
                });
                return Ok(Outcome::Mounted);
            }
            202 => {
                location = upload_location(session, &response);
                break;
            }
            _ => {}
        }
    }
    let location = match location {
        Some(location) => location,
        None => start_upload(session)?,
    };
    let path = store.blobs().path(digest);
    if size > CHUNKED_ABOVE && store.blobs().contains(digest) {
        upload_chunked(session, location, digest, &path, size, report)?;
    } else {
        upload_monolithic(store, session, location, digest)?;
        report(Progress::Bytes {
            digest: digest.clone(),
            done: size,
            total: size,
        });
    }
    report(Progress::Done {
        digest: digest.clone(),
    });
    Ok(Outcome::Uploaded)
}

/// Uploads blob `digest` in one PUT with the digest: the stored file, or, for a layer kept as a
/// split, its tarball reproduced while it is sent. A PUT the registry refuses after its connection
/// broke (distribution 2 forgets an upload whose data stopped midway, so the PUT sent again finds
/// none: 400 or 404) gets a new upload session, at most [`RESTARTS`] times.
fn upload_monolithic(
    store: &ImageStore,
    session: &Session,
    mut location: String,
    digest: &Digest,
) -> Result<(), Error> {
    let path = store.blobs().path(digest);
    let mut restarts = 0;
    loop {
        let url = with_digest(&location, digest);
        let headers = [("Content-Type", "application/octet-stream".to_owned())];
        let sent = if store.blobs().contains(digest) {
            session.send("PUT", &url, &headers, &Payload::File(&path))
        } else {
            let open = || -> Result<Box<dyn std::io::Read + Send>, Error> {
                Ok(store.blob_reader(digest)?.1)
            };
            session.send("PUT", &url, &headers, &Payload::Stream(&open))
        };
        let error = match sent {
            Ok(response) if response.status().as_u16() == 201 => return Ok(()),
            Ok(response) if matches!(response.status().as_u16(), 400 | 404) => {
                status_error(&url, response)
            }
            Ok(response) => return Err(status_error(&url, response)),
            Err(error @ Error::Connection { .. }) => error,
            Err(error) => return Err(error),
        };
        if restarts == RESTARTS {
            return Err(error);
        }
        restarts += 1;
        location = start_upload(session)?;
    }
}

/// An upload location with the blob's digest, for the PUT that completes the upload.
fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{separator}digest={}",
        auth::encode(&digest.to_string())
    )
}

/// Uploads stored blob `digest` (`size` bytes at `path`) in chunks of [`CHUNK`] bytes: a PATCH per
/// chunk with its `Content-Range`, each to the location the previous answer gave, then a PUT with
/// the digest. A chunk that fails is sent again from where the registry says the upload stands
/// (`GET` on its location); a registry that cannot say (distribution 2 forgets an upload whose
/// chunk broke) gets the upload again from a new session, at most [`RESTARTS`] times.
fn upload_chunked(
    session: &Session,
    mut location: String,
    digest: &Digest,
    path: &Path,
    size: u64,
    report: Report<'_>,
) -> Result<(), Error> {
    let mut offset = 0;
    let mut restarts = 0;
    while offset < size {
        let len = CHUNK.min(size - offset);
        let open = || -> Result<Box<dyn Read + Send>, Error> {
            let mut file = File::open(path).map_err(crate::store::ctx("open", path))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(crate::store::ctx("seek in", path))?;
            Ok(Box::new(file.take(len)))
        };
        let headers = [
            ("Content-Type", "application/octet-stream".to_owned()),
            ("Content-Range", format!("{offset}-{}", offset + len - 1)),
            ("Content-Length", len.to_string()),
        ];
        let sent = session.send("PATCH", &location, &headers, &Payload::Stream(&open));
        let accepted = match sent {
            Ok(response) if response.status().as_u16() == 202 => {
                upload_state(session, &response).filter(|(_, have)| *have == offset + len)
            }
            Ok(_) | Err(Error::Connection { .. }) => None,
            Err(error) => return Err(error),
        };
        let state = match accepted {
            Some(state) => Some(state),
            None => upload_status(session, &location).filter(|(_, have)| *have <= size),
        };
        match state {
            Some((next, have)) => {
                location = next;
                offset = have;
            }
            None if restarts < RESTARTS => {
                restarts += 1;
                location = start_upload(session)?;
                offset = 0;
            }
            None => {
                return Err(Error::Invalid(format!(
                    "{location}: the registry lost the chunked upload of blob {digest} at byte {offset}, {RESTARTS} times"
                )));
            }
        }
        report(Progress::Bytes {
            digest: digest.clone(),
            done: offset,
            total: size,
        });
    }
    let url = with_digest(&location, digest);
    let response = session.send("PUT", &url, &[], &Payload::Empty)?;
    if response.status().as_u16() != 201 {
        return Err(status_error(&url, response));
    }
    Ok(())
}

/// A new upload session's location (`POST .../blobs/uploads/`).
fn start_upload(session: &Session) -> Result<String, Error> {
    let url = session.url("blobs/uploads/");
    let response = session.send("POST", &url, &[], &Payload::Empty)?;
    if response.status().as_u16() != 202 {
        return Err(status_error(&url, response));
    }
    upload_location(session, &response)
        .ok_or_else(|| Error::Invalid(format!("{url}: the registry gave no upload location")))
}

/// Where an upload stands, from the registry's own answer (`GET` on its location: 204 with
/// `Range` and the location to continue at).
fn upload_status(session: &Session, location: &str) -> Option<(String, u64)> {
    let response = session.send("GET", location, &[], &Payload::Empty).ok()?;
    if response.status().as_u16() != 204 {
        return None;
    }
    upload_state(session, &response)
}

/// The location to continue an upload at and the bytes the registry holds, from an answer's
/// `Location` and `Range: 0-<last byte>` headers (`0-0` before the first byte, as distribution
/// says it).
fn upload_state(
    session: &Session,
    response: &ureq::http::Response<ureq::Body>,
) -> Option<(String, u64)> {
    let location = upload_location(session, response)?;
    let range = response.headers().get("range")?.to_str().ok()?;
    let held = range_held(range)?;
    Some((location, held))
}

/// Bytes an upload holds from its `Range` header. Distribution answers `0-0` both before the first
/// byte and after one byte; a chunk is never one byte here, so `0-0` is read as none.
fn range_held(range: &str) -> Option<u64> {
    let (start, end) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    match (start, end) {
        (0, 0) => Some(0),
        (0, end) => Some(end + 1),
        _ => None,
    }
}

fn upload_location(
    session: &Session,
    response: &ureq::http::Response<ureq::Body>,
) -> Option<String> {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(|location| session.absolute(location))
}
