//! A pull: endpoints in order (mirrors, then the registry), the manifest (an index resolved to this
//! platform), the config, then the layers the store lacks, downloaded on up to
//! [`super::PARALLEL_LAYERS`] threads.
//!
//! Each layer is unpacked while it downloads, in one pass over its bytes (`download` makes them one
//! stream: what an earlier, interrupted pull kept, then the registry's rest by range request,
//! written to the partial download as they pass): sha256 of the blob, decompression, sha256 of the
//! tar (the diff id) and unpacking into the pull's work area, in bounded buffers whatever its size.
//! The layer and its blob enter the store only once both digests match the descriptor and the
//! config (see `image::pulled`). A transfer that fails (after the retries) leaves its bytes for the
//! next pull to resume from. Only when every layer is in are the config, the manifest (as served)
//! and the names committed: the tag, and the repo digest (the digest the tag resolved to, an
//! index's for a multi-platform image).

use super::download::BlobStream;
use super::manifest::{self, Descriptor, Manifest};
use super::resolve::{Endpoint, Settings};
use super::transport::{self, Payload, Session, read_json_body, status_error};
use super::{Error, Progress, Report};
use crate::image::{Digest, ImageRef, ImageStore, Pulling};

/// Largest config blob read into memory.
const CONFIG_LIMIT: u64 = 32 << 20;

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image id (its config digest).
    pub id: Digest,
    /// The digest the reference resolved to (an index's for a multi-platform image).
    pub digest: Digest,
    /// The names the image got (the tag, the repo digest).
    pub names: Vec<ImageRef>,
    /// Whether the store had this image already (docker's "Image is up to date").
    pub up_to_date: bool,
    /// Layers downloaded, and layers the store had.
    pub downloaded: usize,
    pub existing: usize,
    /// Where it came from (a mirror or the registry), as `scheme://host`.
    pub endpoint: String,
}

/// Pulls `reference` into the store.
pub fn pull(
    store: &ImageStore,
    settings: &Settings,
    reference: &ImageRef,
    report: Report<'_>,
) -> Result<Pulled, Error> {
    let endpoints = settings.endpoints(reference)?;
    let last = endpoints.len() - 1;
    for (n, endpoint) in endpoints.iter().enumerate() {
        match pull_from(store, endpoint, reference, report) {
            Ok(pulled) => return Ok(pulled),
            Err(error @ Error::Image(_)) => return Err(error),
            Err(error) if n < last => report(Progress::Fallback {
                endpoint: endpoint.base.clone(),
                error: error.to_string(),
            }),
            Err(error) => return Err(error),
        }
    }
    unreachable!("endpoints always end with the registry itself")
}

/// The digest `reference`'s tag points to in its registry now (an index's for a multi-platform
/// image, as docker pins them), with no blob fetched: `config --resolve-image-digests`.
pub fn resolve_digest(settings: &Settings, reference: &ImageRef) -> Result<Digest, Error> {
    if let Some(digest) = reference.digest() {
        return Ok(digest.clone());
    }
    let tag = reference.tag().unwrap_or("latest");
    let endpoints = settings.endpoints(reference)?;
    let last = endpoints.len() - 1;
    for (n, endpoint) in endpoints.iter().enumerate() {
        let resolved = Session::open(endpoint, reference.path(), "pull", &[]).and_then(|session| {
            fetch_manifest(&session, tag, None, &reference.familiar()).map(|(_, _, digest)| digest)
        });
        match resolved {
            Ok(digest) => return Ok(digest),
            Err(error) if n < last && !matches!(error, Error::Image(_)) => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("endpoints always end with the registry itself")
}

fn pull_from(
    store: &ImageStore,
    endpoint: &Endpoint,
    reference: &ImageRef,
    report: Report<'_>,
) -> Result<Pulled, Error> {
    let session = Session::open(endpoint, reference.path(), "pull", &[])?;
    let wanted = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => unreachable!("a reference has a tag or a digest"),
    };
    let shown = reference.familiar();
    let (bytes, content_type, digest) =
        fetch_manifest(&session, &wanted, reference.digest(), &shown)?;
    report(Progress::Resolved {
        digest: digest.clone(),
    });
    let (bytes, parsed, manifest_digest) = match Manifest::parse(&bytes, content_type.as_deref())? {
        Manifest::Index(entries) => {
            let host = manifest::host();
            let chosen = manifest::choose(&entries, &host).ok_or_else(|| Error::NoPlatform {
                reference: shown.clone(),
                platform: host.to_string(),
                available: manifest::offered(&entries),
            })?;
            let chosen_digest = chosen.digest()?;
            let (bytes, content_type, chosen_digest) = fetch_manifest(
                &session,
                &chosen_digest.to_string(),
                Some(&chosen_digest),
                &shown,
            )?;
            match Manifest::parse(&bytes, content_type.as_deref())? {
                Manifest::Index(_) => {
                    return Err(Error::Invalid(format!(
                        "{shown}: the index entry for this platform is another index"
                    )));
                }
                image => (bytes, image, chosen_digest),
            }
        }
        image => (bytes, image, digest.clone()),
    };
    let Manifest::Image { config, layers } = parsed else {
        unreachable!("indexes were resolved above")
    };
    let config_digest = config.digest()?;
    if config.size > CONFIG_LIMIT {
        return Err(Error::Invalid(format!(
            "{shown}: the image config is {} bytes, too big",
            config.size
        )));
    }
    let config_bytes = fetch_small_blob(&session, &config_digest, &shown)?;
    let diff_ids = Pulling::diff_ids(&config_bytes)?;
    if diff_ids.len() != layers.len() {
        return Err(Error::Invalid(format!(
            "{shown}: the config lists {} layers, the manifest {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    let up_to_date = store
        .images()?
        .iter()
        .any(|image| image.manifest_digest == manifest_digest);
    let mut names = vec![reference.with_digest(digest.clone())];
    if reference.digest().is_none() {
        names.push(reference.clone());
    }

    let pulling = store.begin_pull()?;
    let mut todo = Vec::new();
    let mut pairs = Vec::new();
    let mut existing = 0;
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let blob = layer.digest()?;
        if layer.media_type.contains("foreign") {
            pulling.abort();
            return Err(Error::Invalid(format!(
                "{shown}: layer {blob} is a foreign layer ({}), which only Windows images have",
                layer.media_type
            )));
        }
        pairs.push((blob.clone(), diff_id.clone()));
        match pulling.has_layer(&blob, diff_id) {
            Ok(true) => {
                existing += 1;
                report(Progress::Exists { digest: blob });
            }
            Ok(false) => {
                if !todo.iter().any(|(d, _, _): &(Digest, _, _)| d == &blob) {
                    todo.push((blob, layer.clone(), diff_id.clone()));
                }
            }
            Err(error) => {
                pulling.abort();
                return Err(error.into());
            }
        }
    }
    let downloaded = todo.len();
    report(Progress::Downloading {
        layers: downloaded,
        bytes: todo.iter().map(|(_, descriptor, _)| descriptor.size).sum(),
    });
    if let Err(error) = download_layers(&session, &pulling, todo, &shown, report) {
        pulling.abort();
        return Err(error);
    }
    let loaded = pulling.commit(&bytes, &config_bytes, pairs, names)?;
    Ok(Pulled {
        id: loaded.id,
        digest,
        names: loaded.names,
        up_to_date,
        downloaded,
        existing,
        endpoint: endpoint.base.clone(),
    })
}

/// GETs a manifest by tag or digest; checks it against `pinned` if given. Returns its bytes, content
/// type and digest.
fn fetch_manifest(
    session: &Session,
    wanted: &str,
    pinned: Option<&Digest>,
    shown: &str,
) -> Result<(Vec<u8>, Option<String>, Digest), Error> {
    let url = session.url(&format!("manifests/{wanted}"));
    let response = session.send(
        "GET",
        &url,
        &[("Accept", manifest::ACCEPT.to_owned())],
        &Payload::Empty,
    )?;
    let status = response.status().as_u16();
    if status == 404 {
        let body = read_json_body(&url, response, status).unwrap_or_default();
        return Err(Error::NotFound {
            reference: shown.to_owned(),
            registry: session.endpoint.registry.clone(),
            message: transport::error_detail(&body).unwrap_or_default(),
        });
    }
    if status != 200 {
        return Err(status_error(&url, response));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bytes = read_json_body(&url, response, status)?;
    let actual = Digest::of(&bytes);
    if let Some(pinned) = pinned
        && &actual != pinned
    {
        return Err(Error::DigestMismatch {
            what: "manifest",
            expected: pinned.clone(),
            actual,
            registry: session.endpoint.registry.clone(),
        });
    }
    Ok((bytes, content_type, actual))
}

/// GETs a small blob (a config) into memory, verified.
fn fetch_small_blob(session: &Session, digest: &Digest, shown: &str) -> Result<Vec<u8>, Error> {
    let url = session.url(&format!("blobs/{digest}"));
    let response = session.send("GET", &url, &[], &Payload::Empty)?;
    let status = response.status().as_u16();
    if status == 404 {
        return Err(Error::NotFound {
            reference: format!("{shown}: blob {digest}"),
            registry: session.endpoint.registry.clone(),
            message: String::new(),
        });
    }
    if status != 200 {
        return Err(status_error(&url, response));
    }
    let bytes = response
        .into_body()
        .with_config()
        .limit(CONFIG_LIMIT)
        .read_to_vec()
        .map_err(|error| Error::Connection {
            url: url.clone(),
            message: error.to_string(),
        })?;
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(Error::DigestMismatch {
            what: "blob",
            expected: digest.clone(),
            actual,
            registry: session.endpoint.registry.clone(),
        });
    }
    Ok(bytes)
}

type Job = (Digest, Descriptor, Digest);

fn download_layers(
    session: &Session,
    pulling: &Pulling<'_>,
    todo: Vec<Job>,
    shown: &str,
    report: Report<'_>,
) -> Result<(), Error> {
    if todo.is_empty() {
        return Ok(());
    }
    super::parallel(todo, |(blob, descriptor, diff_id)| {
        download_layer(
            session,
            pulling,
            &blob,
            descriptor.size,
            &diff_id,
            shown,
            report,
        )?;
        report(Progress::Done { digest: blob });
        Ok(())
    })
}

/// Downloads layer blob `blob` of `size` bytes and unpacks it as it arrives, from the bytes an
/// earlier pull left on: a transfer that fails keeps what it received for the next pull; bytes that
/// turn out wrong are dropped, and if some came from an earlier pull the blob is fetched once more
/// from its start (they may be what was wrong).
fn download_layer(
    session: &Session,
    pulling: &Pulling<'_>,
    blob: &Digest,
    size: u64,
    diff_id: &Digest,
    shown: &str,
    report: Report<'_>,
) -> Result<(), Error> {
    loop {
        let Some(partial) = pulling.partial(blob, size, diff_id)? else {
            // A concurrent pull brought it in meanwhile.
            return Ok(());
        };
        let resumed = partial.received() > 0;
        let mut stream = BlobStream::new(session, blob, size, &partial, shown, report);
        let result =
            pulling.add_layer_streamed(&partial, blob, diff_id, &mut stream, BlobStream::verify);
        let received_all = stream.received_all();
        drop(stream);
        let error = match result {
            Ok(()) => return Ok(()),
            Err(error) if !received_all => return Err(error),
            Err(error) => error,
        };
        partial.discard()?;
        if !(resumed && matches!(error, Error::DigestMismatch { .. })) {
            return Err(error);
        }
    }
}
