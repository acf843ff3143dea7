//! Garbage collection: what no image in the index references is deleted.
//!
//! References are derived each time (index -> manifests -> configs -> blobs and diff ids) rather than
//! kept as counters, so a crash can never leave a count wrong. Every function here runs with `gc.lock`
//! held exclusively by the caller: no command is then between moving content into the store and
//! committing it to the index, so anything unreferenced is garbage.

use std::collections::HashSet;
use std::fs;

use oci_spec::image::ImageManifest;

use super::digest::Digest;
use super::{Error, ImageStore, diff_ids, layout, parse_json};
use crate::store::{ctx, remove_tree};

/// What `image prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Ids of the dangling images deleted.
    pub deleted_images: Vec<Digest>,
    pub removed_blobs: usize,
    pub removed_layers: usize,
    /// Bytes of blobs and unpacked layers (uncompressed size) freed.
    pub reclaimed_bytes: u64,
}

/// Blobs and layers referenced by the index.
struct Referenced {
    blobs: HashSet<Digest>,
    diff_ids: HashSet<Digest>,
}

fn referenced(store: &ImageStore) -> Result<Referenced, Error> {
    let mut referenced = Referenced {
        blobs: HashSet::new(),
        diff_ids: HashSet::new(),
    };
    for entry in store.entries()? {
        if !referenced.blobs.insert(entry.manifest.clone()) {
            continue;
        }
        let manifest: ImageManifest = parse_json(
            "image manifest",
            &entry.manifest,
            &store.blobs.read(&entry.manifest)?,
        )?;
        let config_digest = layout::from_oci(manifest.config().digest())?;
        let config = parse_json(
            "image config",
            &config_digest,
            &store.blobs.read(&config_digest)?,
        )?;
        referenced
            .diff_ids
            .extend(diff_ids(&config, &config_digest)?);
        referenced.blobs.insert(config_digest);
        for layer in manifest.layers() {
            referenced.blobs.insert(layout::from_oci(layer.digest())?);
        }
    }
    Ok(referenced)
}

/// Deletes unreferenced blobs, layers, orphaned layer directories and stray temporary files. With
/// `keep_build_cache`, the layers the build cache remembers count as referenced (a build between
/// steps, and the cache across `image rm`, keep theirs); without, they go too (`image prune`), and
/// the cache forgets them.
pub(crate) fn collect(store: &ImageStore, keep_build_cache: bool) -> Result<PruneReport, Error> {
    let mut referenced = referenced(store)?;
    if keep_build_cache {
        for digest in store.cached_layers() {
            referenced.blobs.insert(digest.clone());
            referenced.diff_ids.insert(digest);
        }
    }
    // An uncompressed layer stored as a split needs no tarball (one may be left by a killed command).
    for layer in store.layers.list()? {
        if layer.split {
            referenced.blobs.remove(&layer.diff_id);
        }
    }
    let mut report = PruneReport::default();
    let (blobs, strays) = store.blobs.list()?;
    for digest in blobs
        .into_iter()
        .filter(|digest| !referenced.blobs.contains(digest))
    {
        report.reclaimed_bytes += store.blobs.size(&digest).unwrap_or(0);
        store.blobs.remove(&digest)?;
        report.removed_blobs += 1;
    }
    for stray in strays {
        remove_tree(&stray)?;
    }
    for layer in store
        .layers
        .list()?
        .into_iter()
        .filter(|layer| !referenced.diff_ids.contains(&layer.diff_id))
    {
        report.reclaimed_bytes += layer.size;
        store.layers.remove(&layer.diff_id)?;
        report.removed_layers += 1;
    }
    store.layers.remove_orphans()?;
    if !keep_build_cache {
        store.forget_missing_cached_layers();
    }
    for entry in fs::read_dir(&store.root).map_err(ctx("list", &store.root))? {
        let entry = entry.map_err(ctx("list", &store.root))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            remove_tree(&entry.path())?;
        }
    }
    Ok(report)
}

/// Cleans up after killed or failed commands: their work areas, and what they moved into the store
/// without committing.
pub(crate) fn recover(store: &ImageStore) -> Result<(), Error> {
    let tmp = store.tmp_dir();
    for entry in fs::read_dir(&tmp).map_err(ctx("list", &tmp))? {
        let entry = entry.map_err(ctx("list", &tmp))?;
        remove_tree(&entry.path())?;
    }
    collect(store, true)?;
    Ok(())
}
