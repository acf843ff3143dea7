//! The OCI image layout's top-level files (`oci-layout`, `index.json`) and the conversions between the
//! store's digests and oci-spec's descriptor types.
//!
//! `index.json` is the store's name table: one manifest descriptor per name, the fully qualified
//! reference in the standard `org.opencontainers.image.ref.name` annotation (the spec allows a full
//! reference there), and a descriptor without that annotation for an image that lost all its names
//! (docker's dangling `<none>:<none>`). Because the store is a plain OCI layout, `skopeo` and `umoci`
//! can read it directly (`oci:<root>/image:docker.io/library/busybox:latest`).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::Error;
use super::digest::Digest;
use super::reference::ImageRef;
use crate::store::{IoError, atomic};

/// The standard annotation naming a manifest in an index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation docker and containerd use for the full image name in archives.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Contents of the `oci-layout` file.
pub const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// One row of the name table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub manifest: Digest,
    pub size: u64,
    /// `None` for an image without names (dangling).
    pub name: Option<ImageRef>,
}

/// Converts a store digest to oci-spec's type.
pub fn to_oci(digest: &Digest) -> oci_spec::image::Digest {
    oci_spec::image::Digest::from_str(&digest.to_string())
        .expect("a validated sha256 digest is a valid OCI digest")
}

/// Converts an oci-spec digest to the store's type (refusing algorithms other than sha256).
pub fn from_oci(digest: &oci_spec::image::Digest) -> Result<Digest, Error> {
    digest
        .to_string()
        .parse()
        .map_err(|source| Error::Archive(format!("descriptor digest: {source}")))
}

/// A descriptor with the given media type, digest and size.
pub fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type, size, to_oci(digest))
}

/// Reads the name table.
pub fn read_index(path: &Path) -> Result<Vec<IndexEntry>, Error> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(IoError::new("read", path, error).into()),
    };
    let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: "store index",
        name: path.display().to_string(),
        source,
    })?;
    let mut entries = Vec::new();
    for descriptor in index.manifests() {
        let name = match descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
        {
            Some(name) => Some(ImageRef::parse(name)?),
            None => None,
        };
        entries.push(IndexEntry {
            manifest: from_oci(descriptor.digest())?,
            size: descriptor.size(),
            name,
        });
    }
    Ok(entries)
}

/// Replaces the name table atomically.
pub fn write_index(path: &Path, entries: &[IndexEntry]) -> Result<(), Error> {
    let manifests = entries
        .iter()
        .map(|entry| {
            let mut descriptor = descriptor(MediaType::ImageManifest, &entry.manifest, entry.size);
            if let Some(name) = &entry.name {
                descriptor.set_annotations(Some(HashMap::from([(
                    REF_NAME.to_owned(),
                    name.to_string(),
                )])));
            }
            descriptor
        })
        .collect::<Vec<_>>();
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(manifests);
    let bytes = serde_json::to_vec_pretty(&index).map_err(|source| Error::Json {
        what: "store index",
        name: path.display().to_string(),
        source,
    })?;
    atomic::write(path, &bytes)?;
    Ok(())
}
