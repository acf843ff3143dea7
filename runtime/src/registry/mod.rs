//! The registry client: pull and push images through the OCI distribution API, into and out of the
//! image store.
//!
//! One job per module, in the order a pull goes through them:
//! - `resolve`: an [`ImageRef`] to the endpoints to try (mirrors of docker.io first, then the
//!   registry; `docker.io` is served by `registry-1.docker.io`) and whether plain HTTP is allowed
//!   (only for 127.0.0.0/8, `::1`, `localhost`, or registries the user lists as insecure);
//! - `credentials`: docker's `config.json` (`DOCKER_CONFIG` or `~/.docker`): `auths` (base64 `auth`,
//!   `identitytoken`), `credsStore` and `credHelpers` (`docker-credential-<name> get`), and the
//!   writes of `login`/`logout`;
//! - `auth`: the `WWW-Authenticate` challenge, bearer tokens for a set of scopes, basic auth;
//! - `transport`: one blocking HTTP session per registry and repository (ureq with rustls), with
//!   authentication on 401 (and a fresh token on `insufficient_scope` or expiry) and retries with
//!   backoff on 429, 5xx and broken connections;
//! - `manifest`: manifests (OCI and Docker schema 2), indexes and manifest lists, and the choice of
//!   this machine's platform in them (containerd's rules: `arm64` is `arm64/v8`);
//! - `pull`: manifest, config, then the layers on up to [`PARALLEL_LAYERS`] threads, each unpacked
//!   while it downloads; the image is named only once every digest checked (see `image::pulled`);
//! - `download`: one layer blob as one stream: the bytes an interrupted pull kept, then the rest
//!   by range request (again when a connection breaks), each chunk written to the partial download
//!   as it passes, the blob's digest checked at the end;
//! - `push`: HEAD for what the registry has, cross-repository mounts from the image's other names on
//!   the same registry, monolithic uploads, then the manifest.
//!
//! Everything is blocking and runs on threads: a pull is a few long transfers, not thousands of
//! small ones.

mod auth;
pub mod credentials;
mod download;
pub mod manifest;
mod pull;
mod push;
pub mod resolve;
mod transport;

use crate::image::{self, Digest, ImageRef, ReferenceError};
use crate::store::IoError;

pub use self::credentials::Credential;
pub use self::pull::{Pulled, pull, resolve_digest};
pub use self::push::{Pushed, push};
pub use self::resolve::Settings;
pub use self::transport::check_login;

/// Layers downloaded at once (containerd's default is 3 as well).
pub const PARALLEL_LAYERS: usize = 3;

/// What can go wrong talking to a registry. Messages name the registry, the repository or the
/// digest, and say what to do where that helps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("cannot reach {url}: {message}")]
    Connection { url: String, message: String },
    #[error(
        "{reference} would come from {registry}, but registries off this machine are not used (RCOMPOSE_OFFLINE or `offline` in {file}); load the image, or serve it from a registry or mirror on 127.0.0.1"
    )]
    Offline {
        reference: String,
        registry: String,
        file: &'static str,
    },
    #[error("{url}: the registry answered {status}{}", detail(.message))]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "authentication to {registry} failed{}; run `rcompose login {registry}` with the right credentials",
        detail(.message)
    )]
    Unauthorized { registry: String, message: String },
    #[error("{reference}: not found in {registry}{}", detail(.message))]
    NotFound {
        reference: String,
        registry: String,
        message: String,
    },
    #[error(
        "{what} {expected} from {registry} does not match its digest: the content received hashes to {actual}"
    )]
    DigestMismatch {
        what: &'static str,
        expected: Digest,
        actual: Digest,
        registry: String,
    },
    #[error(
        "{reference}: no manifest for this machine's platform {platform} (the image is for {available})"
    )]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("credentials: {0}")]
    Credentials(String),
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Progress of a pull or push, reported as it happens (from several threads).
#[derive(Debug, Clone)]
pub enum Progress {
    /// An endpoint failed and the next one is tried (a mirror, then the registry).
    Fallback { endpoint: String, error: String },
    /// The manifest was found: its digest.
    Resolved { digest: Digest },
    /// A pull downloads `layers` layers (those the store lacks) of `bytes` bytes in all.
    Downloading { layers: usize, bytes: u64 },
    /// The store (pull) or the registry (push) already has this blob.
    Exists { digest: Digest },
    /// A blob was mounted from another repository of the registry.
    Mounted { digest: Digest, from: String },
    /// Bytes moved so far for a blob.
    Bytes {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// A blob is complete (downloaded and unpacked, or uploaded).
    Done { digest: Digest },
}

/// A callback for [`Progress`]; must be callable from several threads.
pub type Report<'a> = &'a (dyn Fn(Progress) + Sync);

/// The reference's repository with a digest: docker's repo digest.
pub fn repo_digest(reference: &ImageRef, digest: &Digest) -> ImageRef {
    reference.with_digest(digest.clone())
}

/// Runs `work` on every item, on up to [`PARALLEL_LAYERS`] threads; the first error stops the
/// others from taking new items and is returned.
fn parallel<T: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let workers = PARALLEL_LAYERS.min(items.len());
    let queue = Mutex::new(items.into_iter());
    let failed = AtomicBool::new(false);
    let next = || {
        if failed.load(Ordering::Relaxed) {
            return None;
        }
        queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .next()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    while let Some(item) = next() {
                        if let Err(error) = work(item) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(error);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let mut first = Ok(());
        for handle in handles {
            let result = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if first.is_ok() {
                first = result;
            }
        }
        first
    })
}
