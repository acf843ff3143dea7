//! What the builder adds to the store: a layer it wrote (adopted as a blob and unpacked, so the next
//! build step can stack on it), an image made of layers already in the store, and the build cache:
//! a step's cache key and the layer it made (`buildcache/<key>` under the store, a line `layer
//! <diff id>` or `none`, then `created <unix seconds>`: when the step first ran, so that a rebuild
//! from the cache writes the same history, and so the same image).
//!
//! Emptying the cache (`builder prune`) forgets records first and removes layers after, through
//! the collector: a layer goes only when neither an image nor a remaining record holds it, so a
//! layer an image uses is never removed, and a prune killed half-way leaves layers that the next
//! collection removes. Between its steps a build's layers are held by the cache alone, so builds
//! hold the [`ImageStore::build_guard`] shared and a prune waits for it exclusively.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::archive::{Blob, Prepared, make_manifest};
use super::compress::Compression;
use super::digest::{Digest, HashingWriter};
use super::reference::ImageRef;
use super::{Error, ImageStore, PruneReport};
use crate::store::lock::Lock;
use crate::store::{IoError, ctx};

/// A layer added by [`ImageStore::add_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLayer {
    /// The digest of the uncompressed tar: its blob digest and its diff id at once.
    pub digest: Digest,
    pub size: u64,
    /// The unpacked directory.
    pub dir: PathBuf,
}

impl ImageStore {
    /// Adds an uncompressed layer tar that `write` produces: stored as a blob and unpacked.
    pub fn add_layer(
        &self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<AddedLayer, Error> {
        let op = self.begin("build")?;
        let result = (|| {
            let path = op.path("layer.tar");
            let file = File::create(&path).map_err(ctx("create", &path))?;
            let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
            write(&mut writer).map_err(|e| IoError::new("write", &path, e))?;
            let (digest, size, buffered) = writer.finish();
            buffered
                .into_inner()
                .map_err(|e| IoError::new("write", &path, e.into_error()))?;
            if !self.blobs.contains(&digest) {
                self.blobs.adopt(&path, &digest)?;
            }
            self.layers.ensure(&self.blobs, &digest, &digest, &op)?;
            let layer = self
                .layers
                .get(&digest)?
                .ok_or_else(|| Error::MissingBlob(digest.clone()))?;
            Ok(AddedLayer {
                digest,
                size,
                dir: layer.dir,
            })
        })();
        self.end(op, result)
    }

    /// Stores an image from its config and layers (blob, size, compression, diff id) that are in
    /// the store, named `name` (dangling if `None`); returns the image id.
    pub fn add_image(
        &self,
        config: &[u8],
        layers: &[(Digest, u64, Compression, Digest)],
        name: Option<&ImageRef>,
    ) -> Result<Digest, Error> {
        let op = self.begin("build")?;
        let result = (|| {
            let config_digest = self.blobs.write(config)?;
            let described: Vec<(Digest, u64, Compression)> = layers
                .iter()
                .map(|(blob, size, compression, _)| (blob.clone(), *size, *compression))
                .collect();
            let manifest = make_manifest(&config_digest, config.len() as u64, &described)?;
            let prepared = Prepared {
                manifest: Blob::Bytes(manifest),
                config: config_digest.clone(),
                layers: layers
                    .iter()
                    .map(|(blob, _, _, diff_id)| (blob.clone(), diff_id.clone()))
                    .collect(),
                names: name.cloned().into_iter().collect(),
                note: None,
            };
            self.store_prepared(&op, vec![prepared], HashMap::new())?;
            Ok(config_digest)
        })();
        self.end(op, result)
    }
}

/// What the cache knows of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedStep {
    /// The step made this layer (still in the store).
    Layer(AddedLayer),
    /// The step changed nothing.
    NoLayer,
}

/// A cache record as written: the step's layer (`None`: it changed nothing) and when it first ran
/// (`None` in records older than the field).
struct Record {
    layer: Option<Digest>,
    created: Option<i64>,
}

impl Record {
    fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        let layer = match lines.next()?.trim() {
            "none" => None,
            line => Some(Digest::from_hex(line.strip_prefix("layer sha256:")?).ok()?),
        };
        let created = lines
            .find_map(|line| line.strip_prefix("created "))
            .and_then(|value| value.trim().parse().ok());
        Some(Record { layer, created })
    }

    fn read(path: &std::path::Path) -> Option<Record> {
        Record::parse(&std::fs::read_to_string(path).ok()?)
    }
}

impl ImageStore {
    fn cache_path(&self, key: &str) -> PathBuf {
        self.root.join("buildcache").join(key)
    }

    /// The cached outcome of the step with `key`, if the cache has it and its layer is still here,
    /// with when the step first ran (seconds since the epoch; the record's time for old records).
    pub fn cached_step(&self, key: &str) -> Option<(CachedStep, i64)> {
        let path = self.cache_path(key);
        let record = Record::read(&path)?;
        let created = record.created.unwrap_or_else(|| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&path).map_or(0, |m| m.mtime())
        });
        let Some(digest) = record.layer else {
            return Some((CachedStep::NoLayer, created));
        };
        let layer = self.layers.get(&digest).ok()??;
        Some((
            CachedStep::Layer(AddedLayer {
                digest,
                size: layer.size,
                dir: layer.dir,
            }),
            created,
        ))
    }

    /// Records the outcome of the step with `key`, first run at `created` (seconds since the epoch).
    pub fn remember_step(
        &self,
        key: &str,
        layer: Option<&Digest>,
        created: i64,
    ) -> Result<(), Error> {
        let dir = self.root.join("buildcache");
        crate::store::create_dir_all(&dir)?;
        let text = match layer {
            Some(digest) => format!("layer {digest}\ncreated {created}\n"),
            None => format!("none\ncreated {created}\n"),
        };
        crate::store::atomic::write_volatile(&self.cache_path(key), text.as_bytes())?;
        Ok(())
    }
}

impl ImageStore {
    /// The layers the build cache remembers.
    pub(crate) fn cached_layers(&self) -> Vec<Digest> {
        let Ok(entries) = std::fs::read_dir(self.root.join("buildcache")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| Record::read(&entry.path())?.layer)
            .collect()
    }

    /// Forgets the cached steps whose layer is gone.
    pub(crate) fn forget_missing_cached_layers(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("buildcache")) else {
            return;
        };
        for entry in entries.flatten() {
            let key = entry.file_name().to_string_lossy().into_owned();
            if self.cached_step(&key).is_none() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl ImageStore {
    fn build_lock(&self) -> PathBuf {
        self.root.join("locks").join("build.lock")
    }

    /// Held while a build runs (shared: builds run side by side; [`crate::build`] takes it): the
    /// layers the cache holds for it between steps stay until it is dropped.
    /// [`ImageStore::prune_build_cache`] and `prune` wait for every holder, and `remove` does not
    /// collect while one holds it.
    pub fn build_guard(&self) -> Result<Lock, Error> {
        crate::store::create_dir_all(&self.root.join("locks"))?;
        Ok(Lock::shared(&self.build_lock())?)
    }

    /// Waits until no build runs, and keeps builds from starting while held.
    pub(crate) fn build_exclusive(&self) -> Result<Lock, Error> {
        crate::store::create_dir_all(&self.root.join("locks"))?;
        Ok(Lock::exclusive(&self.build_lock())?)
    }

    /// [`Self::build_exclusive`] if no build runs now.
    pub(crate) fn try_build_exclusive(&self) -> Result<Option<Lock>, Error> {
        crate::store::create_dir_all(&self.root.join("locks"))?;
        Ok(Lock::try_exclusive(&self.build_lock())?)
    }

    /// Empties the build cache (`builder prune`): forgets the cached steps whose layer no image
    /// uses (the cache's alone: "dangling"), or with `all` every cached step, then removes the
    /// layers no image and no remaining record holds. A layer an image uses is never removed;
    /// with `all` the next build runs every step again. Waits for running builds.
    /// Returns the keys of the records forgotten and what the collection freed.
    pub fn prune_build_cache(&self, all: bool) -> Result<(Vec<String>, PruneReport), Error> {
        let _builds = self.build_exclusive()?;
        let _gc = Lock::exclusive(&self.gc_lock())?;
        super::gc::recover(self)?;
        let used: HashSet<Digest> = self
            .images()?
            .iter()
            .flat_map(|image| image.layers.iter().map(|layer| layer.diff_id.clone()))
            .collect();
        let mut forgotten = Vec::new();
        let dir = self.root.join("buildcache");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok((forgotten, PruneReport::default()));
            }
            Err(error) => return Err(IoError::new("list", &dir, error).into()),
        };
        for entry in entries {
            let entry = entry.map_err(ctx("list", &dir))?;
            let path = entry.path();
            let dangling = match Record::read(&path) {
                Some(Record {
                    layer: Some(digest),
                    ..
                }) => !used.contains(&digest),
                // A step that made no layer holds nothing; only `all` forgets it.
                Some(Record { layer: None, .. }) => false,
                // An unreadable record holds nothing either.
                None => true,
            };
            if all || dangling {
                std::fs::remove_file(&path).map_err(ctx("remove", &path))?;
                forgotten.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        forgotten.sort();
        Ok((forgotten, super::gc::collect(self, true)?))
    }
}
