//! What a registry pull adds to the store, through the same path as `image load`: blobs enter under
//! the digest they were verified against, layers are unpacked by [`super::layer::Layers::ensure`] (which
//! checks the blob digest again while reading and the diff id while unpacking), and the image's names
//! enter the index last, by [`ImageStore::store_prepared`], the commit point. The manifest is stored
//! byte for byte as the registry served it, so the image's manifest digest is its repo digest.
//!
//! A pull runs as one operation ([`Pulling`]): downloads spool into its work area, each layer is
//! adopted and unpacked as soon as it arrives (so unpacking overlaps the other downloads), and a pull
//! that fails or is killed leaves no image: the next idle command collects what it had moved in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;

use super::archive::{Blob, Loaded, Prepared};
use super::digest::Digest;
use super::op::Op;
use super::reference::ImageRef;
use super::{Error, ImageStore, diff_ids, parse_json};

/// A pull in progress: its work area and the store's collector held off.
pub struct Pulling<'a> {
    store: &'a ImageStore,
    op: Op,
}

impl ImageStore {
    /// Starts adding a pulled image.
    pub fn begin_pull(&self) -> Result<Pulling<'_>, Error> {
        Ok(Pulling {
            store: self,
            op: self.begin("pull")?,
        })
    }
}

impl Pulling<'_> {
    /// A fresh file name in the work area, for a download to spool into.
    pub fn spool_path(&self, name: &str) -> PathBuf {
        self.op
            .path(&crate::store::atomic::unique_name(&format!("pull-{name}")))
    }

    /// Whether the store already has this layer unpacked and its blob `blob` (so it need not be
    /// downloaded).
    pub fn has_layer(&self, blob: &Digest, diff_id: &Digest) -> Result<bool, Error> {
        let Some(layer) = self.store.layers.get(diff_id)? else {
            return Ok(false);
        };
        Ok(self.store.blobs.contains(blob) || (layer.split && blob == diff_id))
    }

    /// Adopts a downloaded layer blob (whose digest the caller verified while spooling) and unpacks
    /// it, checking its uncompressed content against `diff_id`.
    pub fn add_layer(&self, file: &Path, blob: &Digest, diff_id: &Digest) -> Result<(), Error> {
        if !self.store.blobs.contains(blob) {
            self.store.blobs.adopt(file, blob)?;
        }
        self.store
            .layers
            .ensure(&self.store.blobs, blob, diff_id, &self.op)?;
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
            loaded
                .pop()
                .ok_or_else(|| Error::Archive("nothing pulled".to_owned()))
        })();
        self.store.end(self.op, result)
    }

    /// Gives up: the work area goes, and what the pull moved into the store is collected.
    pub fn abort(self) {
        let _ = self
            .store
            .end::<()>(self.op, Err(Error::Archive(String::new())));
    }
}
