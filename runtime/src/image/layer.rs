//! Unpacked layers: each distinct layer (by diff id, the digest of its uncompressed tar) is unpacked
//! once into `l/<n>` and shared by every image that lists it.
//!
//! Why short numeric ids: a container's root filesystem is an overlay mount whose `lowerdir=` option
//! names every layer directory, and mount(2) copies options into one 4096-byte page. With
//! `<root>/image/l/<n>` each layer costs about 30 bytes, so 100+ layers fit even with a long root
//! (digest-named directories hit EINVAL at about 34 layers; containerd uses numeric snapshot ids for the
//! same reason). The diff id to id mapping is a small record `layers/sha256/<diff hex>`.
//!
//! Sharing is reference counted by derivation, not by stored counters: a layer is in use while an image
//! in the index lists its diff id, which `gc` computes. Counters that must be updated in step with the
//! index could drift after a crash; the derived count cannot.
//!
//! Stored once: an uncompressed layer's tarball is not kept beside its directory; a small split of its
//! tar stream (see `split`) reproduces it, byte for byte and verified, when an image is saved.
//!
//! Concurrency: a per-layer lock (`locks/<diff hex>`) makes the second of two concurrent loads of the
//! same layer wait and reuse the first one's work; id allocation happens under `locks/layer-ids.lock`.

use std::cell::RefCell;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;
use super::blob::Blobs;
use super::compress::Compression;
use super::digest::{Digest, HashingReader};
use super::op::Op;
use super::split::{Recorder, Recording, Split};
use super::unpack::{self, Options};
use crate::store::{IoError, atomic, create_dir_all, ctx, lock::Lock, remove_tree};

/// An unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the uncompressed tar stream (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// The short id: the layer's directory is `l/<id>`.
    pub id: u64,
    /// Size of the uncompressed tar stream in bytes (what docker reports as layer size).
    pub size: u64,
    /// The unpacked directory, an overlay lower dir.
    pub dir: PathBuf,
    /// Whether the tarball is kept as a split of the directory instead of a blob (see `split`).
    pub split: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    id: u64,
    size: u64,
    /// The tarball is not kept: `layers/split/<diff hex>` reproduces it from the directory.
    #[serde(default)]
    split: bool,
}

/// The layer directories of one store.
#[derive(Debug, Clone)]
pub struct Layers {
    records: PathBuf,
    splits: PathBuf,
    data: PathBuf,
    locks: PathBuf,
}

impl Layers {
    pub(crate) fn new(store_root: &Path) -> Self {
        Self {
            records: store_root.join("layers").join("sha256"),
            splits: store_root.join("layers").join("split"),
            data: store_root.join("l"),
            locks: store_root.join("locks").join("layers"),
        }
    }

    pub(crate) fn create_dirs(&self) -> Result<(), IoError> {
        create_dir_all(&self.records)?;
        create_dir_all(&self.splits)?;
        create_dir_all(&self.data)?;
        create_dir_all(&self.locks)
    }

    fn split_path(&self, diff_id: &Digest) -> PathBuf {
        self.splits.join(diff_id.hex())
    }

    /// The layer's tarball, reproduced from its directory, if it is stored as a split.
    pub fn split(&self, layer: &Layer) -> Result<Option<Split>, Error> {
        if !layer.split {
            return Ok(None);
        }
        Split::load(&self.split_path(&layer.diff_id)).map(Some)
    }

    /// The directory of layer `id`.
    pub fn dir(&self, id: u64) -> PathBuf {
        self.data.join(id.to_string())
    }

    /// The layer with this diff id, if it is unpacked.
    pub fn get(&self, diff_id: &Digest) -> Result<Option<Layer>, Error> {
        let path = self.records.join(diff_id.hex());
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(IoError::new("read", path, error).into()),
        };
        let record: Record = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: "layer record",
            name: path.display().to_string(),
            source,
        })?;
        Ok(Some(Layer {
            diff_id: diff_id.clone(),
            id: record.id,
            size: record.size,
            dir: self.dir(record.id),
            split: record.split,
        }))
    }

    /// Every unpacked layer.
    pub fn list(&self) -> Result<Vec<Layer>, Error> {
        let mut layers = Vec::new();
        for entry in fs::read_dir(&self.records).map_err(ctx("list", &self.records))? {
            let entry = entry.map_err(ctx("list", &self.records))?;
            let Some(diff_id) = entry
                .file_name()
                .to_str()
                .and_then(|name| Digest::from_hex(name).ok())
            else {
                continue;
            };
            if let Some(layer) = self.get(&diff_id)? {
                layers.push(layer);
            }
        }
        Ok(layers)
    }

    /// Returns the unpacked layer `diff_id`, unpacking blob `blob` first if no image has it yet. The blob
    /// is verified against its digest and its uncompressed stream against `diff_id`.
    pub(crate) fn ensure(
        &self,
        blobs: &Blobs,
        blob: &Digest,
        diff_id: &Digest,
        op: &Op,
    ) -> Result<Layer, Error> {
        self.ensure_with(
            blobs,
            blob,
            diff_id,
            op,
            |staging, options, record| unpack_blob(blobs, blob, staging, options, record),
            || Ok(()),
        )
    }

    /// [`Self::ensure`] with the unpacking given: `unpack` fills the staging directory and returns
    /// the diff id, size and split of what it read (a blob in the store, or a download as it
    /// arrives, see `pulled`); once that diff id is checked, `adopt` moves the blob into `blobs` (a
    /// download's verified file), and only then does the layer appear. Neither is called when the
    /// layer exists already.
    pub(crate) fn ensure_with<E: From<Error>>(
        &self,
        blobs: &Blobs,
        blob: &Digest,
        diff_id: &Digest,
        op: &Op,
        unpack: impl FnOnce(&Path, &Options, bool) -> Result<(Digest, u64, Option<Split>), E>,
        adopt: impl FnOnce() -> Result<(), E>,
    ) -> Result<Layer, E> {
        let _lock = Lock::exclusive(&self.locks.join(diff_id.hex())).map_err(Error::from)?;
        if let Some(layer) = self.get(diff_id)? {
            if layer.split && blob == diff_id {
                // A reload moved the tarball in again; the split already reproduces it.
                blobs.remove(blob).map_err(Error::from)?;
            }
            return Ok(layer);
        }
        let staging = op.path(&atomic::unique_name("layer"));
        fs::create_dir(&staging)
            .map_err(ctx("create directory", &staging))
            .map_err(Error::from)?;
        let options = Options::default();
        // Reading file data back for `save` needs the permission to read every file: root.
        let record = options.preserve_owners;
        let (actual, size, split) = match unpack(&staging, &options, record) {
            Ok(unpacked) => unpacked,
            Err(error) => {
                let _ = remove_tree(&staging);
                return Err(error);
            }
        };
        if &actual != diff_id {
            remove_tree(&staging).map_err(Error::from)?;
            return Err(Error::DiffIdMismatch {
                blob: blob.clone(),
                actual,
                expected: diff_id.clone(),
            }
            .into());
        }
        if let Err(error) = adopt() {
            let _ = remove_tree(&staging);
            return Err(error);
        }
        Ok(self.publish(blobs, blob, diff_id, &staging, size, split)?)
    }

    /// Moves an unpacked and checked staging directory into place as layer `diff_id` and writes its
    /// record, the layer's commit point.
    fn publish(
        &self,
        blobs: &Blobs,
        blob: &Digest,
        diff_id: &Digest,
        staging: &Path,
        size: u64,
        split: Option<Split>,
    ) -> Result<Layer, Error> {
        let _ids = Lock::exclusive(&self.locks.with_file_name("layer-ids.lock"))?;
        let id = self.next_id()?;
        let dir = self.dir(id);
        fs::rename(staging, &dir).map_err(ctx("move layer into", &dir))?;
        if let Some(split) = &split {
            split.save(&self.split_path(diff_id))?;
        }
        let record = Record {
            id,
            size,
            split: split.is_some(),
        };
        let record = serde_json::to_vec(&record).map_err(|source| Error::Json {
            what: "layer record",
            name: diff_id.to_string(),
            source,
        })?;
        atomic::write(&self.records.join(diff_id.hex()), &record)?;
        if split.is_some() {
            blobs.remove(blob)?;
        }
        Ok(Layer {
            diff_id: diff_id.clone(),
            id,
            size,
            dir,
            split: split.is_some(),
        })
    }

    fn next_id(&self) -> Result<u64, Error> {
        let mut max = 0;
        for entry in fs::read_dir(&self.data).map_err(ctx("list", &self.data))? {
            let entry = entry.map_err(ctx("list", &self.data))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u64>().ok())
            {
                max = max.max(id);
            }
        }
        Ok(max + 1)
    }

    /// Removes a layer: its record first (so it is never half visible), then its directory.
    pub(crate) fn remove(&self, diff_id: &Digest) -> Result<(), Error> {
        if let Some(layer) = self.get(diff_id)? {
            let record = self.records.join(diff_id.hex());
            fs::remove_file(&record).map_err(ctx("remove", &record))?;
            remove_tree(&self.split_path(diff_id))?;
            remove_tree(&layer.dir)?;
        }
        Ok(())
    }

    /// Removes layer directories that no record names (left by a command killed between the two steps
    /// of `ensure` or `remove`), stray temporary records, and per-layer lock files. The caller must hold
    /// `gc.lock` exclusively (then nobody holds a per-layer lock).
    pub(crate) fn remove_orphans(&self) -> Result<(), Error> {
        let in_use: std::collections::HashSet<u64> =
            self.list()?.into_iter().map(|layer| layer.id).collect();
        for entry in fs::read_dir(&self.data).map_err(ctx("list", &self.data))? {
            let entry = entry.map_err(ctx("list", &self.data))?;
            let id = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u64>().ok());
            if id.is_none_or(|id| !in_use.contains(&id)) {
                remove_tree(&entry.path())?;
            }
        }
        for entry in fs::read_dir(&self.records).map_err(ctx("list", &self.records))? {
            let entry = entry.map_err(ctx("list", &self.records))?;
            if entry
                .file_name()
                .to_str()
                .is_none_or(|name| Digest::from_hex(name).is_err())
            {
                remove_tree(&entry.path())?;
            }
        }
        for entry in fs::read_dir(&self.splits).map_err(ctx("list", &self.splits))? {
            let entry = entry.map_err(ctx("list", &self.splits))?;
            let diff_id = entry
                .file_name()
                .to_str()
                .and_then(|name| Digest::from_hex(name).ok());
            if diff_id.is_none_or(|diff_id| !self.records.join(diff_id.hex()).exists()) {
                remove_tree(&entry.path())?;
            }
        }
        for entry in fs::read_dir(&self.locks).map_err(ctx("list", &self.locks))? {
            let entry = entry.map_err(ctx("list", &self.locks))?;
            remove_tree(&entry.path())?;
        }
        Ok(())
    }
}

/// Memory a split may hold while recording (see `split::Recorder`).
const SPLIT_LIMIT: usize = 64 << 20;

/// Unpacks a stored layer blob (plain, gzip or zstd) into `dest`; returns the diff id (digest of the
/// uncompressed stream), its length, and, if `record` and the blob is an uncompressed tar, the split
/// that reproduces it from `dest`. Fails if the blob does not match its digest.
pub fn unpack_blob(
    blobs: &Blobs,
    blob: &Digest,
    dest: &Path,
    options: &Options,
    record: bool,
) -> Result<(Digest, u64, Option<Split>), Error> {
    unpack_layer(blobs.open(blob)?, blob, dest, options, record)
}

/// [`unpack_blob`] for the bytes of blob `blob` from any reader, read to its end (a store blob's
/// verified reader, or a download as it arrives). The blob's own digest is the reader's to check:
/// for an uncompressed tar the diff id returned is `blob` itself.
pub fn unpack_layer(
    input: impl Read,
    blob: &Digest,
    dest: &Path,
    options: &Options,
    record: bool,
) -> Result<(Digest, u64, Option<Split>), Error> {
    let unpack_error = |source| Error::Unpack {
        blob: blob.clone(),
        source,
    };
    let read_error = |source: io::Error| Error::Unpack {
        blob: blob.clone(),
        source: unpack::Error::Tar(source),
    };
    let mut counted = Counted {
        inner: input,
        count: 0,
    };
    let mut input = BufReader::with_capacity(1 << 20, &mut counted);
    let compression = Compression::sniff(input.fill_buf().map_err(read_error)?);
    let mut split = None;
    let result = match compression {
        // Uncompressed: the diff id is the blob digest, which the reader checks at its end, so one
        // hash covers both.
        Compression::None => {
            let recorder = RefCell::new(Recorder::new(SPLIT_LIMIT));
            let mut recording = Recording::new(&mut input, &recorder);
            let recorded = if record { Some(&recorder) } else { None };
            let result =
                unpack::unpack_recorded(&mut recording, dest, options, recorded).and_then(|_| {
                    let size =
                        io::copy(&mut recording, &mut io::sink()).map_err(unpack::Error::Tar)?;
                    Ok((blob.clone(), size))
                });
            if record && result.is_ok() {
                split = recorder.into_inner().finish();
            }
            result
        }
        Compression::Gzip => unpack_stream(
            flate2::bufread::MultiGzDecoder::new(&mut input),
            dest,
            options,
        ),
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(&mut input).map_err(read_error)?;
            unpack_stream(decoder, dest, options)
        }
    };
    let (diff_id, mut size) = result.map_err(unpack_error)?;
    // Read to the end of the blob so that its digest is checked even past the tar's end.
    io::copy(&mut input, &mut io::sink()).map_err(read_error)?;
    drop(input);
    if compression == Compression::None {
        size = counted.count;
    }
    Ok((diff_id, size, split))
}

/// Counts the bytes read through it (an uncompressed layer's size is its blob's).
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn unpack_stream(
    reader: impl Read,
    dest: &Path,
    options: &Options,
) -> Result<(Digest, u64), unpack::Error> {
    let mut hashing = HashingReader::new(reader);
    unpack::unpack(&mut hashing, dest, options)?;
    hashing.finish().map_err(unpack::Error::Tar)
}
