//! A build step's changes as an OCI layer: the step ran on an overlay whose upper directory holds
//! exactly what it changed, and that directory becomes a tar stream with the image spec's changeset
//! rules (the inverse of what `image::unpack` does when it makes a layer directory):
//!
//! - a 0/0 character device (overlayfs's mark for a deleted file) becomes an empty `.wh.<name>`;
//! - a directory marked `trusted.overlay.opaque=y` (replaced: nothing below from the layers under
//!   it) gets a `.wh..wh..opq` entry inside it;
//! - files that share an inode become one file and hard links to it.
//!
//! The stream is deterministic, so that the same changes give the same digest: entries in byte
//! order of the names in the upper directory (a whiteout where its file was), numeric owners
//! without names, modes, and with `epoch`
//! (`SOURCE_DATE_EPOCH`) every timestamp clamped to it, as BuildKit's `rewrite-timestamp` does.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::sys;

const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

/// What a diff held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Tar entries written (whiteouts included).
    pub entries: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Writes the changes in `upper` as an uncompressed tar layer to `out`.
pub fn write_layer(upper: &Path, out: impl Write, epoch: Option<i64>) -> io::Result<DiffStats> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut writer = Writer {
        builder,
        epoch,
        links: HashMap::new(),
        stats: DiffStats::default(),
    };
    writer.directory(upper, Path::new(""))?;
    writer.builder.finish()?;
    Ok(writer.stats)
}

struct Writer<W: Write> {
    builder: tar::Builder<W>,
    epoch: Option<i64>,
    /// First path written for each (device, inode) with more than one link.
    links: HashMap<(u64, u64), PathBuf>,
    stats: DiffStats,
}

impl<W: Write> Writer<W> {
    /// Writes the entries of `dir` (at `relative` in the layer), sorted by name.
    fn directory(&mut self, dir: &Path, relative: &Path) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let inside = relative.join(&name);
            let metadata = fs::symlink_metadata(&path)?;
            let kind = metadata.file_type();
            if kind.is_char_device() && metadata.rdev() == 0 {
                let mut whiteout_name = std::ffi::OsString::from(".wh.");
                whiteout_name.push(&name);
                let mut header = self.header(&metadata, tar::EntryType::Regular);
                header.set_size(0);
                header.set_mode(0);
                self.append(&mut header, &relative.join(whiteout_name), io::empty())?;
                self.stats.whiteouts += 1;
                continue;
            }
            if kind.is_dir() {
                let mut header = self.header(&metadata, tar::EntryType::Directory);
                header.set_size(0);
                self.append(&mut header, &inside, io::empty())?;
                if sys::lgetxattr(&path, OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                    let mut opaque = self.header(&metadata, tar::EntryType::Regular);
                    opaque.set_size(0);
                    opaque.set_mode(0);
                    self.append(&mut opaque, &inside.join(".wh..wh..opq"), io::empty())?;
                    self.stats.opaque_dirs += 1;
                }
                self.directory(&path, &inside)?;
                continue;
            }
            if metadata.nlink() > 1 && !kind.is_dir() {
                let key = (metadata.dev(), metadata.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut header = self.header(&metadata, tar::EntryType::Link);
                    header.set_size(0);
                    self.builder.append_link(&mut header, &inside, &first)?;
                    self.stats.entries += 1;
                    continue;
                }
                self.links.insert(key, inside.clone());
            }
            if kind.is_file() {
                let mut header = self.header(&metadata, tar::EntryType::Regular);
                header.set_size(metadata.len());
                let file = fs::File::open(&path)?;
                self.append(&mut header, &inside, file)?;
                self.stats.bytes += metadata.len();
            } else if kind.is_symlink() {
                let target = fs::read_link(&path)?;
                let mut header = self.header(&metadata, tar::EntryType::Symlink);
                header.set_size(0);
                self.builder.append_link(&mut header, &inside, &target)?;
                self.stats.entries += 1;
            } else {
                let entry_type = if kind.is_char_device() {
                    tar::EntryType::Char
                } else if kind.is_block_device() {
                    tar::EntryType::Block
                } else if kind.is_fifo() {
                    tar::EntryType::Fifo
                } else {
                    // Sockets have no place in a layer (docker leaves them out too).
                    continue;
                };
                let mut header = self.header(&metadata, entry_type);
                header.set_size(0);
                let (major, minor) = sys::major_minor(metadata.rdev());
                header.set_device_major(major)?;
                header.set_device_minor(minor)?;
                self.append(&mut header, &inside, io::empty())?;
            }
        }
        Ok(())
    }

    /// A header with the entry's owner, mode and (clamped) modification time.
    fn header(&self, metadata: &fs::Metadata, entry_type: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry_type);
        header.set_uid(u64::from(metadata.uid()));
        header.set_gid(u64::from(metadata.gid()));
        header.set_mode(metadata.mode() & 0o7777);
        let mtime = match self.epoch {
            Some(epoch) => metadata.mtime().min(epoch),
            None => metadata.mtime(),
        };
        header.set_mtime(mtime.max(0) as u64);
        header
    }

    fn append(
        &mut self,
        header: &mut tar::Header,
        path: &Path,
        data: impl io::Read,
    ) -> io::Result<()> {
        self.builder.append_data(header, path, data)?;
        self.stats.entries += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
