//! What the builder adds to the store: a layer it wrote (adopted as a blob and unpacked, so the next
//! build step can stack on it) and an image made of layers already in the store.

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
