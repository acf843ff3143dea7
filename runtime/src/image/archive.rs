//! `image load`: docker-archives (what `docker save`, `podman save` and `skopeo copy docker-archive:`
//! write) and OCI archives (an OCI image layout in a tar: umoci, `podman save --format oci-archive`,
//! `skopeo copy oci-archive:`), plain or gzip/zstd-compressed, from a file or a pipe.
//!
//! The input is read once, front to back (so `-` works and the archive never has to fit in memory):
//! every file in it is spooled into the operation's work area while being hashed. Then the archive's
//! own metadata (`manifest.json` for docker, `index.json` for OCI; a docker 25+ archive has both and is
//! read as docker, for its names) says which spooled files are configs and layers. Every digest the
//! archive claims is checked against the computed one, every layer's uncompressed content against the
//! config's diff id while it is unpacked, and only then do the images' names enter the index. A corrupt,
//! truncated or mismatched archive therefore fails with the problem named and leaves no image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::PathBuf;
use std::sync::Mutex;

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::Deserialize;

use super::compress::{Compression, decompress};
use super::digest::{Digest, HashingWriter};
use super::op::Op;
use super::reference::{ImageRef, is_valid_tag};
use super::{Error, ImageStore, diff_ids, layout, parse_json};
use crate::store::{IoError, ctx};

/// Metadata files bigger than this are refused (a manifest or config is kilobytes).
const JSON_MAX: u64 = 32 << 20;

/// One image a load or import added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image id (config digest).
    pub id: Digest,
    pub manifest: Digest,
    pub names: Vec<ImageRef>,
    /// Names that pointed at another image before, with that image's manifest digest.
    pub replaced: Vec<(ImageRef, Digest)>,
    /// Something the user should know (e.g. why the image has no name).
    pub note: Option<String>,
}

/// An image ready to be stored: all of its blobs are verified files in the work area or bytes.
pub(crate) struct Prepared {
    pub manifest: Blob,
    pub config: Digest,
    /// Layer blob digest and diff id, from the base up.
    pub layers: Vec<(Digest, Digest)>,
    pub names: Vec<ImageRef>,
    pub note: Option<String>,
}

/// Content of a blob to store.
pub(crate) enum Blob {
    Bytes(Vec<u8>),
    Spooled(Digest),
}

#[derive(Debug)]
struct Spooled {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

/// The files of an archive, spooled into the work area.
struct Spool {
    files: HashMap<String, Spooled>,
    links: HashMap<String, String>,
}

/// Normalizes an archive member name (`./a//b/../c` -> `a/c`); names are map keys here, never paths.
fn member_name(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

impl Spool {
    fn read(op: &Op, input: impl Read) -> Result<Self, Error> {
        let (_, reader) =
            decompress(BufReader::with_capacity(1 << 20, input)).map_err(Error::Input)?;
        let mut archive = tar::Archive::new(reader);
        let mut spool = Spool {
            files: HashMap::new(),
            links: HashMap::new(),
        };
        for (n, entry) in archive.entries().map_err(Error::Input)?.enumerate() {
            let mut entry = entry.map_err(Error::Input)?;
            let name = member_name(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let path = op.path(&format!("spool-{n}"));
                    let file = File::create(&path).map_err(ctx("create", &path))?;
                    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
                    io::copy(&mut entry, &mut writer).map_err(|error| match error.kind() {
                        io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::InvalidData
                        | io::ErrorKind::Other => Error::Input(error),
                        _ => Error::Io(IoError::new("write", &path, error)),
                    })?;
                    let (digest, size, buffered) = writer.finish();
                    buffered
                        .into_inner()
                        .map_err(|error| IoError::new("write", &path, error.into_error()))?;
                    spool.files.insert(name, Spooled { path, digest, size });
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    // docker save links a repeated layer to its first copy.
                    let target =
                        String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                            .into_owned();
                    let target = if entry.header().entry_type() == tar::EntryType::Symlink {
                        let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                        member_name(&format!("{dir}/{target}"))
                    } else {
                        member_name(&target)
                    };
                    spool.links.insert(name, target);
                }
                _ => {}
            }
        }
        Ok(spool)
    }

    fn get(&self, name: &str) -> Result<&Spooled, Error> {
        let mut current = member_name(name);
        for _ in 0..16 {
            if let Some(file) = self.files.get(&current) {
                return Ok(file);
            }
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => break,
            }
        }
        Err(Error::Archive(format!("the archive has no file {name:?}")))
    }

    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    fn read_json(&self, name: &str) -> Result<Vec<u8>, Error> {
        let file = self.get(name)?;
        if file.size > JSON_MAX {
            return Err(Error::Archive(format!(
                "{name} is {} bytes, too big for image metadata",
                file.size
            )));
        }
        std::fs::read(&file.path).map_err(|error| IoError::new("read", &file.path, error).into())
    }

    /// The spooled blob `blobs/<alg>/<hex>` for an OCI descriptor, checked against its digest and size.
    fn blob(&self, descriptor: &Descriptor) -> Result<&Spooled, Error> {
        let digest = layout::from_oci(descriptor.digest())?;
        let name = format!("blobs/sha256/{}", digest.hex());
        let file = self
            .get(&name)
            .map_err(|_| Error::Archive(format!("blob {digest} is missing from the archive")))?;
        if file.digest != digest {
            return Err(Error::Archive(format!(
                "blob {digest} in the archive is corrupt: its content hashes to {}",
                file.digest
            )));
        }
        if file.size != descriptor.size() {
            return Err(Error::Archive(format!(
                "blob {digest} in the archive is {} bytes, its descriptor says {}",
                file.size,
                descriptor.size()
            )));
        }
        Ok(file)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn sniff_file(path: &PathBuf) -> Result<Compression, Error> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(ctx("open", path))?;
    let n = file.read(&mut head).map_err(ctx("read", path))?;
    Ok(Compression::sniff(&head[..n]))
}

/// Builds the OCI manifest the store keeps for an image that arrived without one (docker-archive,
/// import). Deterministic, so loading the same archive twice yields the same manifest digest.
pub(crate) fn make_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64, Compression)],
) -> Result<Vec<u8>, Error> {
    let layers = layers
        .iter()
        .map(|(digest, size, compression)| {
            layout::descriptor(
                MediaType::from(compression.layer_media_type()),
                digest,
                *size,
            )
        })
        .collect::<Vec<_>>();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(layout::descriptor(
            MediaType::ImageConfig,
            config,
            config_size,
        ))
        .layers(layers)
        .build()
        .map_err(|error| Error::Archive(format!("cannot build a manifest: {error}")))?;
    serde_json::to_vec(&manifest).map_err(|source| Error::Json {
        what: "image manifest",
        name: config.to_string(),
        source,
    })
}

pub(crate) fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

impl ImageStore {
    /// Loads every image of a docker-archive or OCI archive.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>, Error> {
        let op = self.begin("load")?;
        let result = Spool::read(&op, input).and_then(|spool| {
            let prepared = if spool.has("manifest.json") {
                prepare_docker(&spool)?
            } else if spool.has("index.json") {
                prepare_oci(&spool)?
            } else {
                return Err(Error::Archive(
                    "neither manifest.json (docker-archive) nor index.json (OCI archive) found; \
                     is this a root filesystem tarball? use `image import` for those"
                        .to_owned(),
                ));
            };
            let files = spool
                .files
                .values()
                .map(|file| (file.digest.clone(), file.path.clone()))
                .collect();
            self.store_prepared(&op, prepared, files)
        });
        self.end(op, result)
    }

    /// Ends an operation: removes its work area on success, cleans up at once on failure if it can.
    pub(crate) fn end<T>(&self, op: Op, result: Result<T, Error>) -> Result<T, Error> {
        match result {
            Ok(value) => {
                op.finish()?;
                Ok(value)
            }
            Err(error) => {
                drop(op);
                let _ = self.recover_if_idle();
                Err(error)
            }
        }
    }

    /// Moves verified blobs into the store, unpacks the layers, then commits the names.
    pub(crate) fn store_prepared(
        &self,
        op: &Op,
        prepared: Vec<Prepared>,
        files: HashMap<Digest, PathBuf>,
    ) -> Result<Vec<Loaded>, Error> {
        let mut manifests = Vec::new();
        let mut layers: Vec<(Digest, Digest)> = Vec::new();
        for image in &prepared {
            let mut needed = vec![image.config.clone()];
            needed.extend(image.layers.iter().map(|(blob, _)| blob.clone()));
            let manifest = match &image.manifest {
                Blob::Bytes(bytes) => self.blobs.write(bytes)?,
                Blob::Spooled(digest) => {
                    needed.push(digest.clone());
                    digest.clone()
                }
            };
            for digest in needed {
                if !self.blobs.contains(&digest) && !self.is_split_layer(&digest)? {
                    let path = files
                        .get(&digest)
                        .ok_or_else(|| Error::MissingBlob(digest.clone()))?;
                    if path.exists() {
                        self.blobs.adopt(path, &digest)?;
                    }
                }
            }
            for layer in &image.layers {
                if !layers.iter().any(|(_, diff)| diff == &layer.1) {
                    layers.push(layer.clone());
                }
            }
            manifests.push(manifest);
        }
        self.ensure_layers(op, layers)?;
        let mut loaded = Vec::new();
        for (image, manifest) in prepared.into_iter().zip(manifests) {
            let size = self.blobs.size(&manifest)?;
            let replaced = self.commit(&[(manifest.clone(), size, image.names.clone())])?;
            loaded.push(Loaded {
                id: image.config,
                manifest,
                names: image.names,
                replaced,
                note: image.note,
            });
        }
        Ok(loaded)
    }

    /// Unpacks layers on as many threads as there are cores.
    fn ensure_layers(&self, op: &Op, layers: Vec<(Digest, Digest)>) -> Result<(), Error> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(layers.len())
            .max(1);
        let queue = Mutex::new(layers.into_iter());
        let next = || {
            queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .next()
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        while let Some((blob, diff_id)) = next() {
                            self.layers.ensure(&self.blobs, &blob, &diff_id, op)?;
                        }
                        Ok::<(), Error>(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        })
    }
}

fn prepare_docker(spool: &Spool) -> Result<Vec<Prepared>, Error> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(&spool.read_json("manifest.json")?)
        .map_err(|source| Error::Json {
            what: "docker-archive",
            name: "manifest.json".to_owned(),
            source,
        })?;
    if entries.is_empty() {
        return Err(Error::Archive("manifest.json lists no images".to_owned()));
    }
    let mut prepared = Vec::new();
    for entry in entries {
        let config_file = spool.get(&entry.config)?;
        let config: ImageConfiguration = parse_json(
            "image config",
            &config_file.digest,
            &spool.read_json(&entry.config)?,
        )?;
        let diff_ids = diff_ids(&config, &config_file.digest)?;
        if diff_ids.len() != entry.layers.len() {
            return Err(Error::Archive(format!(
                "image config {} lists {} layers, manifest.json {}",
                entry.config,
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::new();
        let mut described = Vec::new();
        for (name, diff_id) in entry.layers.iter().zip(diff_ids) {
            let file = spool.get(name)?;
            let compression = sniff_file(&file.path)?;
            if compression == Compression::None && file.digest != diff_id {
                return Err(Error::DiffIdMismatch {
                    blob: file.digest.clone(),
                    actual: file.digest.clone(),
                    expected: diff_id,
                });
            }
            described.push((file.digest.clone(), file.size, compression));
            layers.push((file.digest.clone(), diff_id));
        }
        let manifest = make_manifest(&config_file.digest, config_file.size, &described)?;
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|tag| ImageRef::parse(tag))
            .collect::<Result<Vec<_>, _>>()?;
        prepared.push(Prepared {
            manifest: Blob::Bytes(manifest),
            config: config_file.digest.clone(),
            layers,
            names,
            note: None,
        });
    }
    Ok(prepared)
}

fn prepare_oci(spool: &Spool) -> Result<Vec<Prepared>, Error> {
    let index: ImageIndex =
        serde_json::from_slice(&spool.read_json("index.json")?).map_err(|source| Error::Json {
            what: "OCI archive",
            name: "index.json".to_owned(),
            source,
        })?;
    let mut prepared = Vec::new();
    for descriptor in index.manifests() {
        let annotations = descriptor.annotations().clone().unwrap_or_default();
        let manifest_descriptor = resolve_platform(spool, descriptor, 0)?;
        let manifest_file = spool.blob(&manifest_descriptor)?;
        let manifest: ImageManifest = parse_json(
            "image manifest",
            &manifest_file.digest,
            &std::fs::read(&manifest_file.path).map_err(ctx("read", &manifest_file.path))?,
        )?;
        let config_file = spool.blob(manifest.config())?;
        let config: ImageConfiguration = parse_json(
            "image config",
            &config_file.digest,
            &std::fs::read(&config_file.path).map_err(ctx("read", &config_file.path))?,
        )?;
        let diff_ids = diff_ids(&config, &config_file.digest)?;
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::Archive(format!(
                "image config {} lists {} layers, manifest {} {}",
                config_file.digest,
                diff_ids.len(),
                manifest_file.digest,
                manifest.layers().len()
            )));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            layers.push((spool.blob(layer)?.digest.clone(), diff_id));
        }
        let (names, note) = match (
            annotations.get(layout::CONTAINERD_NAME),
            annotations.get(layout::REF_NAME),
        ) {
            (Some(full), _) => (vec![ImageRef::parse(full)?], None),
            (None, Some(name)) if is_valid_tag(name) && !name.contains(['/', ':']) => (
                Vec::new(),
                Some(format!(
                    "the archive names this image only by the tag {name:?}, not a full name; give it one with `rcompose image tag {} NAME[:TAG]`",
                    config_file.digest.short()
                )),
            ),
            (None, Some(name)) => (vec![ImageRef::parse(name)?], None),
            (None, None) => (Vec::new(), None),
        };
        prepared.push(Prepared {
            manifest: Blob::Spooled(manifest_file.digest.clone()),
            config: config_file.digest.clone(),
            layers,
            names,
            note,
        });
    }
    if prepared.is_empty() {
        return Err(Error::Archive("index.json lists no images".to_owned()));
    }
    Ok(prepared)
}

/// Follows a nested image index to the manifest for this host's platform.
fn resolve_platform(
    spool: &Spool,
    descriptor: &Descriptor,
    depth: usize,
) -> Result<Descriptor, Error> {
    let is_index = matches!(descriptor.media_type(), MediaType::ImageIndex)
        || descriptor.media_type().to_string()
            == "application/vnd.docker.distribution.manifest.list.v2+json";
    if !is_index {
        return Ok(descriptor.clone());
    }
    if depth > 4 {
        return Err(Error::Archive("image indexes nested too deeply".to_owned()));
    }
    let file = spool.blob(descriptor)?;
    let index: ImageIndex = parse_json(
        "image index",
        &file.digest,
        &std::fs::read(&file.path).map_err(ctx("read", &file.path))?,
    )?;
    let (os, arch) = host_platform();
    let chosen = index
        .manifests()
        .iter()
        .find(|candidate| {
            candidate.platform().as_ref().is_some_and(|platform| {
                platform.os().to_string() == os && platform.architecture().to_string() == arch
            })
        })
        .ok_or_else(|| {
            Error::Archive(format!(
                "image index {} has no manifest for {os}/{arch}",
                file.digest
            ))
        })?;
    resolve_platform(spool, chosen, depth + 1)
}
