//! `image save`: images out as a tar that docker, podman and skopeo read.
//!
//! The layout is docker 25's: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) plus,
//! for a docker-archive, `manifest.json` naming config and layers by their `blobs/` paths. Blobs are
//! written as stored, byte for byte, so config digest (image id), layer digests and diff ids are kept.
//! In `index.json` each name is annotated as docker does: `io.containerd.image.name` holds the full
//! reference and `org.opencontainers.image.ref.name` the tag (what `skopeo ... oci-archive:FILE:TAG`
//! looks up). Blobs are streamed from the store and verified as they are read.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use oci_spec::image::{ImageIndex, MediaType};
use serde::Serialize;

use super::digest::Digest;
use super::reference::ImageRef;
use super::{Error, Image, ImageStore, layout};
use crate::store::{IoError, atomic, ctx, lock::Lock};

/// The archive format `image save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// docker-archive (with the OCI layout inside, like docker 25+).
    Docker,
    /// OCI image layout in a tar.
    Oci,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

impl ImageStore {
    /// Writes the images named by `queries` (names or ids) to `output`.
    pub fn save(
        &self,
        queries: &[String],
        format: ArchiveFormat,
        output: impl Write,
    ) -> Result<(), Error> {
        // Held shared, like a load: `rm` and `prune` wait until the blobs are written out.
        let _gc = Lock::shared(&self.gc_lock())?;
        let all = self.images()?;
        let mut chosen: Vec<(Image, Vec<ImageRef>)> = Vec::new();
        for query in queries {
            let image = super::find(&all, query)?;
            let name = ImageRef::parse(query)
                .ok()
                .filter(|name| name.digest().is_none() && image.names.contains(name));
            match chosen
                .iter_mut()
                .find(|(existing, _)| existing.manifest_digest == image.manifest_digest)
            {
                Some((_, names)) => names.extend(name),
                None => chosen.push((image.clone(), name.into_iter().collect())),
            }
        }
        let mut builder = tar::Builder::new(output);
        let write_error = Error::Output;
        append_bytes(&mut builder, "oci-layout", layout::LAYOUT_FILE.as_bytes())
            .map_err(write_error)?;
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut header = header(0, tar::EntryType::Directory);
            header.set_mode(0o755);
            builder
                .append_data(&mut header, dir, io::empty())
                .map_err(write_error)?;
        }
        let mut written = BTreeSet::new();
        let mut descriptors = Vec::new();
        let mut docker = Vec::new();
        for (image, names) in &chosen {
            let mut blobs = vec![image.manifest_digest.clone(), image.id.clone()];
            blobs.extend(image.layers.iter().map(|layer| layer.blob.clone()));
            for digest in blobs {
                if written.insert(digest.clone()) {
                    self.append_blob(&mut builder, &digest)?;
                }
            }
            let size = self.blobs.size(&image.manifest_digest)?;
            let base = layout::descriptor(MediaType::ImageManifest, &image.manifest_digest, size);
            if names.is_empty() {
                descriptors.push(base.clone());
            }
            for name in names {
                let mut descriptor = base.clone();
                let mut annotations =
                    HashMap::from([(layout::CONTAINERD_NAME.to_owned(), name.to_string())]);
                if let Some(tag) = name.tag() {
                    annotations.insert(layout::REF_NAME.to_owned(), tag.to_owned());
                }
                descriptor.set_annotations(Some(annotations));
                descriptors.push(descriptor);
            }
            docker.push(DockerEntry {
                config: blob_path(&image.id),
                repo_tags: names.iter().map(ImageRef::familiar).collect(),
                layers: image
                    .layers
                    .iter()
                    .map(|layer| blob_path(&layer.blob))
                    .collect(),
            });
        }
        let mut index = ImageIndex::default();
        index.set_media_type(Some(MediaType::ImageIndex));
        index.set_manifests(descriptors);
        append_bytes(&mut builder, "index.json", &to_json(&index)?).map_err(write_error)?;
        if format == ArchiveFormat::Docker {
            append_bytes(&mut builder, "manifest.json", &to_json(&docker)?).map_err(write_error)?;
        }
        builder
            .into_inner()
            .and_then(|mut output| output.flush())
            .map_err(write_error)
    }

    /// Writes the archive to `path` atomically: a failed save leaves no file behind.
    pub fn save_to_file(
        &self,
        queries: &[String],
        format: ArchiveFormat,
        path: &Path,
    ) -> Result<(), Error> {
        let temp = atomic::temp_sibling(path);
        let result = (|| {
            let file = File::create(&temp).map_err(ctx("create", &temp))?;
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            self.save(queries, format, &mut writer)?;
            let file = writer
                .into_inner()
                .map_err(|error| IoError::new("write", &temp, error.into_error()))?;
            file.sync_all().map_err(ctx("sync", &temp))?;
            fs::rename(&temp, path).map_err(ctx("rename into place", path))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn append_blob<W: Write>(
        &self,
        builder: &mut tar::Builder<W>,
        digest: &Digest,
    ) -> Result<(), Error> {
        let (size, reader) = self.blob_reader(digest)?;
        let mut header = header(size, tar::EntryType::Regular);
        builder
            .append_data(&mut header, blob_path(digest), reader)
            .map_err(|error| {
                if error.kind() == io::ErrorKind::InvalidData
                    || error.kind() == io::ErrorKind::NotFound
                {
                    Error::BlobRead {
                        digest: digest.clone(),
                        source: error,
                    }
                } else {
                    Error::Output(error)
                }
            })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Json {
        what: "archive metadata",
        name: String::new(),
        source,
    })
}

fn header(size: u64, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = header(bytes.len() as u64, tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes)
}
