//! A push: every blob the registry lacks, then the manifest, byte for byte as the store keeps it (so
//! the digest the registry reports is the image's manifest digest, and a pull gets the same image).
//!
//! Per blob (the config and each layer, on up to [`super::PARALLEL_LAYERS`] threads): a HEAD skips
//! what the repository has; a cross-repository mount (`POST .../uploads/?mount=<digest>&from=<repo>`)
//! is tried from the image's other names on the same registry, which costs no transfer when the
//! registry has the blob there; otherwise a monolithic upload (POST for a session, one PUT with the
//! digest). A layer the store keeps as a split (an uncompressed layer) is reproduced from its
//! directory while it is sent, verified at its end.

use super::manifest::OCI_MANIFEST;
use super::resolve::Settings;
use super::transport::{Payload, Session, status_error};
use super::{Error, Progress, Report, auth};
use crate::image::{Digest, ImageRef, ImageStore};

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
        None => {
            let url = session.url("blobs/uploads/");
            let response = session.send("POST", &url, &[], &Payload::Empty)?;
            if response.status().as_u16() != 202 {
                return Err(status_error(&url, response));
            }
            upload_location(session, &response).ok_or_else(|| {
                Error::Invalid(format!("{url}: the registry gave no upload location"))
            })?
        }
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!(
        "{location}{separator}digest={}",
        auth::encode(&digest.to_string())
    );
    let path = store.blobs().path(digest);
    let response = if store.blobs().contains(digest) {
        session.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream".to_owned())],
            &Payload::File(&path),
        )?
    } else {
        let open =
            || -> Result<Box<dyn std::io::Read + Send>, Error> { Ok(store.blob_reader(digest)?.1) };
        session.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream".to_owned())],
            &Payload::Stream(&open),
        )?
    };
    if response.status().as_u16() != 201 {
        return Err(status_error(&url, response));
    }
    report(Progress::Bytes {
        digest: digest.clone(),
        done: size,
        total: size,
    });
    report(Progress::Done {
        digest: digest.clone(),
    });
    Ok(Outcome::Uploaded)
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
