//! What the builder adds to the store: a layer it wrote (adopted as a blob and unpacked, so the next
//! build step can stack on it), an image made of layers already in the store, and the build cache:
//! a step's cache key and the layer it made (`buildcache/<key>` under the store, a line `layer
//! <diff id>` or `none`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::archive::{Blob, Prepared, make_manifest};
use super::compress::Compression;
use super::digest::{Digest, HashingWriter};
use super::reference::ImageRef;
use super::{Error, ImageStore};
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

impl ImageStore {
    fn cache_path(&self, key: &str) -> PathBuf {
        self.root.join("buildcache").join(key)
    }

    /// The cached outcome of the step with `key`, if the cache has it and its layer is still here.
    pub fn cached_step(&self, key: &str) -> Option<CachedStep> {
        let text = std::fs::read_to_string(self.cache_path(key)).ok()?;
        let text = text.trim();
        if text == "none" {
            return Some(CachedStep::NoLayer);
        }
        let digest = Digest::from_hex(text.strip_prefix("layer sha256:")?).ok()?;
        let layer = self.layers.get(&digest).ok()??;
        Some(CachedStep::Layer(AddedLayer {
            digest,
            size: layer.size,
            dir: layer.dir,
        }))
    }

    /// Records the outcome of the step with `key`.
    pub fn remember_step(&self, key: &str, layer: Option<&Digest>) -> Result<(), Error> {
        let dir = self.root.join("buildcache");
        crate::store::create_dir_all(&dir)?;
        let text = match layer {
            Some(digest) => format!("layer {digest}\n"),
            None => "none\n".to_owned(),
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
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .filter_map(|text| Digest::from_hex(text.trim().strip_prefix("layer sha256:")?).ok())
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
