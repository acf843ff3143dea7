//! The image store: OCI images, content-addressed and layered, under `<root>/image/`.
//!
//! ```text
//! <root>/image/
//!   oci-layout, index.json     an OCI image layout; index.json is the name table (see `layout`)
//!   blobs/sha256/<hex>         manifests, configs and layer tarballs as received (see `blob`)
//!   layers/sha256/<diff hex>   record of an unpacked layer: its short id and size (see `layer`)
//!   layers/split/<diff hex>    reproduces an uncompressed layer's tarball from l/<n> (see `split`)
//!   l/<n>                      the unpacked layer, an overlay lower dir
//!   tmp/<op>/                  work area of a running command (see `op`)
//!   partial/<hex>.partial      a layer blob's download so far, kept for the next pull (see `pulled`)
//!   locks/                     lock files: gc.lock, index.lock, layer-ids.lock, layers/<diff hex>
//! ```
//!
//! An image is a manifest in the index; its id is the digest of its config, as in docker. Commands that
//! add content run as an [`op::Op`]; the index write is their commit point. See `gc` for what happens to
//! content no image references.

pub mod archive;
pub mod blob;
mod built;
pub mod compress;
pub mod config;
pub mod digest;
pub mod docker_config;
mod gc;
pub mod import;
pub mod layer;
pub mod layout;
mod op;
pub mod pulled;
pub mod reference;
pub mod save;
pub mod split;
pub mod unpack;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageManifest};

pub use self::archive::Loaded;
use self::blob::Blobs;
pub use self::built::{AddedLayer, CachedStep};
pub use self::config::Change;
pub use self::digest::Digest;
pub use self::gc::PruneReport;
pub use self::layer::Layer;
use self::layer::Layers;
use self::layout::IndexEntry;
pub use self::pulled::Pulling;
pub use self::reference::{ImageRef, ReferenceError};
pub use self::save::ArchiveFormat;
use crate::store::{IoError, atomic, create_dir_all, lock::Lock};

/// What can go wrong in the image store. Messages say what, which file or digest, and a hint where one
/// helps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("blob {digest} is corrupt: its content hashes to {actual} ({})", path.display())]
    CorruptBlob {
        digest: Digest,
        actual: Digest,
        path: PathBuf,
    },
    #[error("cannot read blob {digest} back from the store")]
    BlobRead {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {0} is missing from the store")]
    MissingBlob(Digest),
    #[error("invalid {what} {name}")]
    Json {
        what: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid archive: {0}")]
    Archive(String),
    #[error(
        "layer {blob} does not match the image config: its uncompressed content is {actual}, the config says {expected}"
    )]
    DiffIdMismatch {
        blob: Digest,
        actual: Digest,
        expected: Digest,
    },
    #[error("cannot unpack layer {blob}")]
    Unpack {
        blob: Digest,
        #[source]
        source: unpack::Error,
    },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error(
        "image id prefix {prefix:?} is ambiguous: it matches {count} images; give more characters"
    )]
    Ambiguous { prefix: String, count: usize },
    #[error(
        "unable to delete {query} (must be forced): the image is referenced by several names ({names}); use -f or remove the names one at a time"
    )]
    MultipleNames { query: String, names: String },
    #[error("invalid --change {change:?}: {reason}")]
    Change { change: String, reason: String },
    #[error("cannot read the input")]
    Input(#[source] std::io::Error),
    #[error("cannot write the archive")]
    Output(#[source] std::io::Error),
}

/// One layer of an image, in order from the base.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    /// Digest of the stored (possibly compressed) blob.
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: String,
    /// Digest of the uncompressed tar (the config's diff id).
    pub diff_id: Digest,
    /// The unpacked layer, if present.
    pub unpacked: Option<Layer>,
}

/// An image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image id: the digest of its config.
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The names pointing at this image (empty for a dangling image), sorted.
    pub names: Vec<ImageRef>,
    pub layers: Vec<ImageLayer>,
    /// Docker's fields (`Healthcheck`, `OnBuild`, `Shell`), which `config` (the OCI shape) cannot
    /// hold.
    pub docker: docker_config::DockerConfig,
}

impl Image {
    /// Sum of the uncompressed layer sizes (docker's `Size`).
    pub fn size(&self) -> u64 {
        self.layers
            .iter()
            .map(|layer| layer.unpacked.as_ref().map_or(layer.blob_size, |l| l.size))
            .sum()
    }

    /// The config's creation time in Unix seconds, if it has a valid one.
    pub fn created_unix(&self) -> Option<i64> {
        self.config
            .created()
            .as_deref()
            .and_then(crate::time::parse_rfc3339)
    }

    /// The value of an overlay `lowerdir=` option for this image: the unpacked layers, top first, with
    /// `\\`, `:` and `,` escaped as overlayfs reads them. With short layer ids this stays far below the
    /// 4096-byte mount-option page for 100+ layers (see `layer`). `None` if a layer is not unpacked.
    pub fn lowerdir(&self) -> Option<String> {
        let dirs = self.layer_dirs()?;
        let escaped: Vec<String> = dirs
            .iter()
            .rev()
            .map(|dir| {
                let text = dir.to_string_lossy();
                let mut out = String::with_capacity(text.len());
                for c in text.chars() {
                    if matches!(c, '\\' | ':' | ',') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out
            })
            .collect();
        Some(escaped.join(":"))
    }

    /// The unpacked layer directories, from the base up (reverse for an overlay `lowerdir=`).
    pub fn layer_dirs(&self) -> Option<Vec<PathBuf>> {
        self.layers
            .iter()
            .map(|layer| layer.unpacked.as_ref().map(|l| l.dir.clone()))
            .collect()
    }
}

/// A handle on the image store of one state root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    blobs: Blobs,
    layers: Layers,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `state_root/image`, and cleans up after commands that
    /// were killed, if no other command is running.
    pub fn open(state_root: &Path) -> Result<Self, Error> {
        crate::store::secure_root(state_root)?;
        let root = state_root.join("image");
        crate::store::private_dir(&root)?;
        let store = Self {
            blobs: Blobs::new(root.join("blobs").join("sha256")),
            layers: Layers::new(&root),
            root,
        };
        create_dir_all(&store.root.join("blobs").join("sha256"))?;
        create_dir_all(&store.tmp_dir())?;
        store.layers.create_dirs()?;
        let layout = store.root.join("oci-layout");
        if !layout.exists() || !store.index_path().exists() {
            // As an operation: a concurrent `prune` removes the store root's dot files (what killed
            // commands leave), and these writes go through such temporary files.
            let op = store.begin("open")?;
            let result = (|| {
                if !layout.exists() {
                    atomic::write(&layout, layout::LAYOUT_FILE.as_bytes())?;
                }
                let _index = Lock::exclusive(&store.index_lock())?;
                if !store.index_path().exists() {
                    layout::write_index(&store.index_path(), &[])?;
                }
                Ok(())
            })();
            store.end(op, result)?;
        }
        store.recover_if_idle()?;
        Ok(store)
    }

    /// The store directory (`<state root>/image`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn index_lock(&self) -> PathBuf {
        self.root.join("locks").join("index.lock")
    }

    fn gc_lock(&self) -> PathBuf {
        self.root.join("locks").join("gc.lock")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn begin(&self, kind: &str) -> Result<op::Op, Error> {
        op::Op::begin(&self.tmp_dir(), &self.gc_lock(), kind)
    }

    /// A blob's size and content, verified as it is read: from `blobs/`, or reproduced from the
    /// unpacked layer for a layer stored as a split.
    pub fn blob_reader(
        &self,
        digest: &Digest,
    ) -> Result<(u64, Box<dyn std::io::Read + Send>), Error> {
        if self.blobs.contains(digest) {
            return Ok((self.blobs.size(digest)?, Box::new(self.blobs.open(digest)?)));
        }
        if let Some(layer) = self.layers.get(digest)?
            && let Some(split) = self.layers.split(&layer)?
        {
            let size = split.len();
            return Ok((
                size,
                Box::new(blob::Verified::new(
                    split.reader(&layer.dir),
                    digest.clone(),
                )),
            ));
        }
        Err(Error::MissingBlob(digest.clone()))
    }

    /// Whether `digest` is an uncompressed layer stored as a split (its tarball need not be kept).
    fn is_split_layer(&self, digest: &Digest) -> Result<bool, Error> {
        Ok(self.layers.get(digest)?.is_some_and(|layer| layer.split))
    }

    /// Reads the name table.
    fn entries(&self) -> Result<Vec<IndexEntry>, Error> {
        layout::read_index(&self.index_path())
    }

    /// Changes the name table under its lock.
    fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Vec<IndexEntry>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _lock = Lock::exclusive(&self.index_lock())?;
        let mut entries = self.entries()?;
        let result = change(&mut entries)?;
        layout::write_index(&self.index_path(), &entries)?;
        Ok(result)
    }

    /// Every image, ordered by id.
    pub fn images(&self) -> Result<Vec<Image>, Error> {
        let mut by_manifest: BTreeMap<Digest, Vec<ImageRef>> = BTreeMap::new();
        for entry in self.entries()? {
            let names = by_manifest.entry(entry.manifest).or_default();
            names.extend(entry.name);
        }
        let mut images = by_manifest
            .into_iter()
            .map(|(manifest, names)| self.load_image(manifest, names))
            .collect::<Result<Vec<_>, _>>()?;
        images.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then(a.manifest_digest.cmp(&b.manifest_digest))
        });
        Ok(images)
    }

    fn load_image(
        &self,
        manifest_digest: Digest,
        mut names: Vec<ImageRef>,
    ) -> Result<Image, Error> {
        let manifest: ImageManifest = parse_json(
            "image manifest",
            &manifest_digest,
            &self.blobs.read(&manifest_digest)?,
        )?;
        let id = layout::from_oci(manifest.config().digest())?;
        let config_bytes = self.blobs.read(&id)?;
        let config: ImageConfiguration = parse_json("image config", &id, &config_bytes)?;
        let docker = docker_config::read(&config_bytes);
        let diff_ids = diff_ids(&config, &id)?;
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::Archive(format!(
                "image {id}: the config lists {} layers, the manifest {manifest_digest} {}",
                diff_ids.len(),
                manifest.layers().len()
            )));
        }
        let mut layers = Vec::new();
        for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
            layers.push(ImageLayer {
                blob: layout::from_oci(descriptor.digest())?,
                blob_size: descriptor.size(),
                media_type: descriptor.media_type().to_string(),
                unpacked: self.layers.get(&diff_id)?,
                diff_id,
            });
        }
        names.sort();
        names.dedup();
        Ok(Image {
            id,
            manifest_digest,
            manifest,
            config,
            names,
            layers,
            docker,
        })
    }

    /// Finds an image by name (`busybox`, `busybox:1`, `name@sha256:...`), by id (`sha256:<hex>`) or by a
    /// unique id prefix, as docker does.
    pub fn image(&self, query: &str) -> Result<Image, Error> {
        let images = self.images()?;
        find(&images, query).cloned()
    }

    /// Gives the image `source` the name `target` (moving the name if another image had it).
    pub fn tag(&self, source: &str, target: &ImageRef) -> Result<Image, Error> {
        let target = strip_digest(target)?;
        let op = self.begin("tag")?;
        let image = self.image(source)?;
        self.commit(&[(
            image.manifest_digest.clone(),
            self.blobs.size(&image.manifest_digest)?,
            vec![target.clone()],
        )])?;
        op.finish()?;
        self.image(&target.to_string())
    }

    /// Removes a name or an image, as `docker image rm`: a name is removed, and the image goes with its
    /// last name; an id removes the image, which needs `force` if several names point at it.
    pub fn remove(&self, query: &str, force: bool) -> Result<Removal, Error> {
        let _gc = Lock::exclusive(&self.gc_lock())?;
        let images = self.images()?;
        let image = find(&images, query)?.clone();
        let by_name = ImageRef::parse(query)
            .ok()
            .filter(|name| name.digest().is_none() && image.names.contains(name));
        let removal = self.update_index(|entries| {
            let mut removal = Removal {
                untagged: Vec::new(),
                deleted: None,
            };
            match &by_name {
                Some(name) => {
                    entries.retain(|entry| entry.name.as_ref() != Some(name));
                    removal.untagged.push(name.clone());
                    // Its repo digests go with the image's last tag, as in docker.
                    if !entries.iter().any(|entry| {
                        entry.manifest == image.manifest_digest
                            && entry.name.as_ref().is_some_and(|name| name.tag().is_some())
                    }) {
                        entries.retain(|entry| entry.manifest != image.manifest_digest);
                    }
                }
                None => {
                    if image.names.len() > 1 && !force {
                        let names = image
                            .names
                            .iter()
                            .map(ImageRef::familiar)
                            .collect::<Vec<_>>()
                            .join(", ");
                        return Err(Error::MultipleNames {
                            query: query.to_owned(),
                            names,
                        });
                    }
                    removal.untagged.extend(image.names.iter().cloned());
                }
            }
            if !entries
                .iter()
                .any(|entry| entry.manifest == image.manifest_digest && entry.name.is_some())
                || by_name.is_none()
            {
                entries.retain(|entry| entry.manifest != image.manifest_digest);
                removal.deleted = Some(image.id.clone());
            }
            Ok(removal)
        })?;
        // A running build holds layers the cache does not record yet: collect when none runs (what
        // is left now goes with the next collection).
        if removal.deleted.is_some()
            && let Some(_builds) = self.try_build_exclusive()?
        {
            gc::collect(self, true)?;
        }
        Ok(removal)
    }

    /// Removes dangling images and every blob and layer no image references (build cache included).
    pub fn prune(&self) -> Result<PruneReport, Error> {
        self.prune_except(&[])
    }

    /// [`ImageStore::prune`], keeping the dangling images in `keep` (those containers still use).
    pub fn prune_except(&self, keep: &[Digest]) -> Result<PruneReport, Error> {
        // The build cache goes too: wait for running builds, whose layers it holds.
        let _builds = self.build_exclusive()?;
        let _gc = Lock::exclusive(&self.gc_lock())?;
        gc::recover(self)?;
        let mut report = PruneReport::default();
        let images = self.images()?;
        let dangling: Vec<&Image> = images
            .iter()
            .filter(|image| image.names.is_empty() && !keep.contains(&image.id))
            .collect();
        if !dangling.is_empty() {
            self.update_index(|entries| {
                entries.retain(|entry| {
                    !dangling
                        .iter()
                        .any(|image| image.manifest_digest == entry.manifest)
                });
                Ok(())
            })?;
            report.deleted_images = dangling.iter().map(|image| image.id.clone()).collect();
        }
        let collected = gc::collect(self, false)?;
        report.removed_blobs = collected.removed_blobs;
        report.removed_layers = collected.removed_layers;
        report.reclaimed_bytes = collected.reclaimed_bytes;
        Ok(report)
    }

    /// Cleans up after killed commands, if no command is running now.
    fn recover_if_idle(&self) -> Result<(), Error> {
        let tmp = self.tmp_dir();
        let busy = fs::read_dir(&tmp)
            .map_err(crate::store::ctx("list", &tmp))?
            .next()
            .is_some();
        if busy && let Some(_gc) = Lock::try_exclusive(&self.gc_lock())? {
            gc::recover(self)?;
        }
        Ok(())
    }

    /// Adds loaded images to the index: each name moves to its new image. Returns what each name
    /// pointed at before, if that was another image.
    fn commit(
        &self,
        images: &[(Digest, u64, Vec<ImageRef>)],
    ) -> Result<Vec<(ImageRef, Digest)>, Error> {
        self.update_index(|entries| {
            let mut moved = Vec::new();
            for (manifest, size, names) in images {
                for name in names {
                    if let Some(old) = entries.iter().find(|entry| {
                        entry.name.as_ref() == Some(name) && &entry.manifest != manifest
                    }) {
                        moved.push((name.clone(), old.manifest.clone()));
                    }
                    entries.retain(|entry| entry.name.as_ref() != Some(name));
                    add_name(entries, manifest, *size, name.clone());
                }
                if names.is_empty() && !entries.iter().any(|entry| &entry.manifest == manifest) {
                    entries.push(IndexEntry {
                        manifest: manifest.clone(),
                        size: *size,
                        name: None,
                    });
                }
            }
            // An image that lost its last name stays, dangling, as in docker.
            for (_, old) in &moved {
                if !entries.iter().any(|entry| &entry.manifest == old) {
                    let size = self.blobs.size(old).unwrap_or(0);
                    entries.push(IndexEntry {
                        manifest: old.clone(),
                        size,
                        name: None,
                    });
                }
            }
            Ok(moved)
        })
    }
}

/// What `remove` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub untagged: Vec<ImageRef>,
    /// The id of the deleted image, if the image itself went.
    pub deleted: Option<Digest>,
}

fn add_name(entries: &mut Vec<IndexEntry>, manifest: &Digest, size: u64, name: ImageRef) {
    entries.retain(|entry| !(&entry.manifest == manifest && entry.name.is_none()));
    entries.push(IndexEntry {
        manifest: manifest.clone(),
        size,
        name: Some(name),
    });
}

fn strip_digest(name: &ImageRef) -> Result<ImageRef, Error> {
    match (name.digest(), name.tag()) {
        (None, _) => Ok(name.clone()),
        (Some(_), Some(tag)) => Ok(name.with_tag(tag)?),
        (Some(_), None) => Err(Error::Reference(ReferenceError::Invalid {
            input: name.to_string(),
            reason: "a name with only a digest cannot be given to an image; use a tag",
        })),
    }
}

/// Docker's lookup order: a full id, then a name, then a unique id prefix.
fn find<'a>(images: &'a [Image], query: &str) -> Result<&'a Image, Error> {
    let not_found = || Error::NotFound(query.to_owned());
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    let is_hex = !hex.is_empty()
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if digest::is_sha256_hex(hex)
        && let Some(image) = images.iter().find(|image| image.id.hex() == hex)
    {
        return Ok(image);
    }
    if !(digest::is_sha256_hex(query) || query.starts_with("sha256:"))
        && let Ok(name) = ImageRef::parse(query)
    {
        let found = match name.digest() {
            // A repo digest names what the registry served: the image's manifest, or the index
            // it was chosen from (recorded as a name by a pull).
            Some(digest) => images.iter().find(|image| {
                &image.manifest_digest == digest
                    || &image.id == digest
                    || image.names.contains(&name)
            }),
            None => images.iter().find(|image| image.names.contains(&name)),
        };
        if let Some(image) = found {
            return Ok(image);
        }
    }
    if is_hex {
        let matches: Vec<&Image> = images
            .iter()
            .filter(|image| image.id.hex().starts_with(hex))
            .collect();
        let distinct = matches
            .iter()
            .map(|image| &image.id)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        return match (matches.first(), distinct) {
            (Some(image), 1) => Ok(image),
            (None, _) => Err(not_found()),
            _ => Err(Error::Ambiguous {
                prefix: query.to_owned(),
                count: distinct,
            }),
        };
    }
    Err(not_found())
}

fn parse_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    digest: &Digest,
    bytes: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what,
        name: digest.to_string(),
        source,
    })
}

/// The config's diff ids as digests.
fn diff_ids(config: &ImageConfiguration, id: &Digest) -> Result<Vec<Digest>, Error> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|text| {
            text.parse().map_err(|error| {
                Error::Archive(format!("image config {id}: rootfs.diff_ids: {error}"))
            })
        })
        .collect()
}
