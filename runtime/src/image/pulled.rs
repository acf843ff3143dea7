//! What a registry pull adds to the store, through the same parts as `image load`: a layer is
//! unpacked by `layer::Layers::ensure_with` straight from the download as it arrives (the
//! blob digest checked by the registry client at the stream's end, the diff id while unpacking),
//! its blob enters under the digest it was verified against, and the image's names enter the index
//! last, by `ImageStore::store_prepared`, the commit point. The manifest is stored byte for byte as
//! the registry served it, so the image's manifest digest is its repo digest.
//!
//! A pull runs as one operation ([`Pulling`]): layers unpack into its work area while they download,
//! each moves into the store once both its digests match, and a pull that fails or is killed leaves
//! no image: the next idle command collects what it had moved in.
//!
//! What survives a pull is the bytes it received. Each download is written, as it streams, to
//! `partial/<blob hex>.partial` ([`Partial`]): named by the digest it must end up with, outside the
//! work area (which the next command collects), and locked while a pull writes it. The next pull of
//! that blob reads those bytes again (hashing and unpacking them, which costs no transfer) and asks
//! the registry only for the rest. When the blob is complete and verified, that file is linked into
//! the store as the blob (nothing is written twice), and its partial name goes only when the image
//! is committed: a pull killed after some layers completed (whose uncommitted blobs and layers the
//! next command collects) still has their bytes. Partial files nobody resumed for a day are removed
//! when a pull starts.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use oci_spec::image::ImageConfiguration;

use super::archive::{Blob, Loaded, Prepared};
use super::digest::Digest;
use super::layer;
use super::op::Op;
use super::reference::ImageRef;
use super::{Error, ImageStore, diff_ids, parse_json};
use crate::store::{IoError, create_dir_all, ctx};

/// Partial downloads older than this are removed when a pull starts.
const PARTIAL_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// A pull in progress: its work area and the store's collector held off.
pub struct Pulling<'a> {
    store: &'a ImageStore,
    op: Op,
    /// Partial downloads that became blobs, removed at the commit.
    completed: Mutex<Vec<PathBuf>>,
}

/// The bytes of one blob received so far, in `partial/<hex>.partial`, locked by this pull: read
/// them from the start with [`Partial::file`], then append what follows them.
pub struct Partial {
    path: PathBuf,
    file: File,
    received: u64,
}

impl ImageStore {
    /// Starts adding a pulled image.
    pub fn begin_pull(&self) -> Result<Pulling<'_>, Error> {
        let pulling = Pulling {
            store: self,
            op: self.begin("pull")?,
            completed: Mutex::new(Vec::new()),
        };
        create_dir_all(&pulling.partial_dir())?;
        sweep_partials(&pulling.partial_dir())?;
        Ok(pulling)
    }
}

impl Pulling<'_> {
    fn partial_dir(&self) -> PathBuf {
        self.store.root.join("partial")
    }

    /// Whether the store already has this layer unpacked and its blob `blob` (so it need not be
    /// downloaded).
    pub fn has_layer(&self, blob: &Digest, diff_id: &Digest) -> Result<bool, Error> {
        let Some(layer) = self.store.layers.get(diff_id)? else {
            return Ok(false);
        };
        Ok(self.store.blobs.contains(blob) || (layer.split && blob == diff_id))
    }

    /// The partial download of `blob` (of `size` bytes), waiting while another pull writes it;
    /// `None` if, by then, the store has the layer (`diff_id`) and its blob.
    pub fn partial(
        &self,
        blob: &Digest,
        size: u64,
        diff_id: &Digest,
    ) -> Result<Option<Partial>, Error> {
        let path = self.partial_dir().join(format!("{}.partial", blob.hex()));
        let file = loop {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&path)
                .map_err(ctx("open", &path))?;
            file.lock().map_err(ctx("lock", &path))?;
            // The pull that held the lock may have removed the file (its image committed, or its
            // bytes were wrong): then this handle is no longer the partial download, and the name
            // is opened again.
            if names_file(&path, &file) {
                break file;
            }
        };
        let partial = Partial {
            received: file.metadata().map_err(ctx("inspect", &path))?.len(),
            path,
            file,
        };
        if self.has_layer(blob, diff_id)? {
            partial.discard()?;
            return Ok(None);
        }
        if partial.received > size {
            partial
                .file
                .set_len(0)
                .map_err(ctx("truncate", &partial.path))?;
            return Ok(Some(Partial {
                received: 0,
                ..partial
            }));
        }
        Ok(Some(partial))
    }

    /// Unpacks layer `diff_id` from `stream`, the bytes of blob `blob` in order (the partial
    /// download's, then the registry's), and links the partial download into the store as the blob.
    /// `verify` is called once the unpacking has read what it needs, whether it succeeded or not: it
    /// must read the stream to its end and check the blob's digest and size; its error wins (a
    /// transfer that went wrong explains a broken tar, not the reverse). If the store has the layer
    /// already (unpacked by a concurrent command), the blob is only read, verified and kept.
    pub fn add_layer_streamed<R: Read, E: From<Error>>(
        &self,
        partial: &Partial,
        blob: &Digest,
        diff_id: &Digest,
        stream: &mut R,
        mut verify: impl FnMut(&mut R) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut unpacked = false;
        let adopt = || -> Result<(), Error> {
            let target = self.store.blobs.path(blob);
            match fs::hard_link(&partial.path, &target) {
                Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(IoError::new("link blob into", target, error).into());
                }
                _ => {}
            }
            self.completed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(partial.path.clone());
            Ok(())
        };
        self.store.layers.ensure_with(
            &self.store.blobs,
            blob,
            diff_id,
            &self.op,
            |staging, options, record| -> Result<_, E> {
                unpacked = true;
                let result = layer::unpack_layer(&mut *stream, blob, staging, options, record);
                verify(stream)?;
                Ok(result?)
            },
            || Ok(adopt()?),
        )?;
        if !unpacked && !self.has_layer(blob, diff_id)? {
            let drained = io::copy(stream, &mut io::sink());
            verify(stream)?;
            drained.map_err(|source| Error::Unpack {
                blob: blob.clone(),
                source: super::unpack::Error::Tar(source),
            })?;
            adopt()?;
        }
        Ok(())
    }

    /// The diff ids an image config lists (checked against the manifest's layer count by the caller).
    pub fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, Error> {
        let digest = Digest::of(config);
        let parsed: ImageConfiguration = parse_json("image config", &digest, config)?;
        diff_ids(&parsed, &digest)
    }

    /// Stores the config and manifest as received and gives the image `names`: the commit point.
    /// Every layer must have been added (or found present) before.
    pub fn commit(
        self,
        manifest: &[u8],
        config: &[u8],
        layers: Vec<(Digest, Digest)>,
        names: Vec<ImageRef>,
    ) -> Result<Loaded, Error> {
        let result = (|| {
            let config = self.store.blobs.write(config)?;
            let prepared = Prepared {
                manifest: Blob::Bytes(manifest.to_vec()),
                config,
                layers,
                names,
                note: None,
            };
            let mut loaded = self
                .store
                .store_prepared(&self.op, vec![prepared], HashMap::new())?;
            let completed = self
                .completed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for path in completed.iter() {
                crate::store::remove_tree(path)?;
            }
            loaded
                .pop()
                .ok_or_else(|| Error::Archive("nothing pulled".to_owned()))
        })();
        self.store.end(self.op, result)
    }

    /// Gives up: the work area goes, and what the pull moved into the store is collected (partial
    /// downloads stay, for the next pull to resume).
    pub fn abort(self) {
        let _ = self
            .store
            .end::<()>(self.op, Err(Error::Archive(String::new())));
    }
}

impl Partial {
    /// How many bytes of the blob it held when this pull took it.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The file: reads start at its beginning, writes append.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the bytes received (they do not make the blob): the next pull starts from byte 0.
    /// Nothing happens if another pull replaced the file meanwhile.
    pub fn discard(self) -> Result<(), IoError> {
        if !names_file(&self.path, &self.file) {
            return Ok(());
        }
        crate::store::remove_tree(&self.path)
    }
}

/// Whether `path` still names the open `file` (not another file, or nothing).
fn names_file(path: &Path, file: &File) -> bool {
    match (fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

/// Removes partial downloads that no pull has touched for [`PARTIAL_KEPT_FOR`] and none holds.
fn sweep_partials(dir: &Path) -> Result<(), IoError> {
    let now = SystemTime::now();
    for entry in fs::read_dir(dir).map_err(ctx("list", dir))? {
        let entry = entry.map_err(ctx("list", dir))?;
        let stale = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age > PARTIAL_KEPT_FOR)
            });
        if !stale {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && names_file(&path, &file) {
            crate::store::remove_tree(&path)?;
        }
    }
    Ok(())
}
