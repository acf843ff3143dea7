//! Unpacking one layer tar stream into an empty directory, safely against hostile input.
//!
//! The tar crate's own `unpack` is not used: it follows symlinks planted by earlier entries of the same
//! archive in some cases and knows nothing of whiteouts. Instead every entry is checked against an
//! in-memory map of what this layer has created so far, so no syscall ever resolves a path through
//! something the archive made:
//! - paths are normalized lexically; a leading `/` is stripped (contained, as GNU tar and docker do) and a
//!   `..` that climbs above the layer root is refused;
//! - every parent of an entry must be a directory created by this layer; an entry under a symlink (whatever
//!   the symlink points to) is refused, so nothing is ever written through a link;
//! - a hardlink's target must be a non-directory already unpacked in this layer (so it cannot name a host
//!   file), and is linked without following symlinks;
//! - files are created with `O_CREAT|O_EXCL|O_NOFOLLOW`, after removing whatever this layer had there.
//!
//! Whiteouts are converted to what overlayfs reads, because layers are stacked as overlay lower dirs:
//! `.wh.<name>` becomes a 0/0 character device `<name>`, and `.wh..wh..opq` becomes the
//! `trusted.overlay.opaque=y` xattr on its directory (the OCI image spec's layer changeset rules, in
//! overlay's own representation). `trusted.overlay.*` and `user.overlay.*` xattrs coming from the archive
//! are dropped: they would let an image steer overlayfs (redirects, metacopy).
//!
//! Modes (with setuid/setgid/sticky), owners (when running as root), xattrs, mtimes, device nodes and
//! FIFOs are kept. Directory modes and times are applied at the end, deepest first, so that creating
//! children neither fails on a read-only directory nor changes the recorded mtime.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use filetime::FileTime;

use super::split::Recorder;
use crate::store::{IoError, ctx, remove_tree};
use crate::sys::{self, NodeKind};

/// Limits and behaviour of one unpack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Apply the archive's uid/gid (needs root; otherwise files belong to the caller).
    pub preserve_owners: bool,
    /// Refuse archives with more entries than this (each costs memory for the path map).
    pub max_entries: u64,
    /// Refuse entries whose normalized path is longer than this many bytes.
    pub max_path_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            preserve_owners: sys::is_root(),
            max_entries: 4_000_000,
            max_path_len: 3800,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub file_bytes: u64,
}

/// Why a layer could not be unpacked. Paths are the archive's, lossily decoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("entry {path:?} climbs out of the layer with '..'")]
    Escape { path: String },
    #[error(
        "entry {path:?} lies under {parent:?}, a symlink in this layer (refusing to write through links)"
    )]
    SymlinkParent { path: String, parent: String },
    #[error("entry {path:?} lies under {parent:?}, which is not a directory")]
    NotDirectoryParent { path: String, parent: String },
    #[error(
        "hardlink {path:?} points to {target:?}, which is not a file unpacked earlier in this layer"
    )]
    HardlinkTarget { path: String, target: String },
    #[error("entry {path:?} is longer than {max} bytes")]
    PathTooLong { path: String, max: usize },
    #[error("the archive has more than {max} entries (refusing a possible tar bomb)")]
    TooManyEntries { max: u64 },
    #[error("entry {path:?} has unsupported tar type {kind:?}")]
    UnsupportedType { path: String, kind: u8 },
    #[error("invalid whiteout {path:?}")]
    InvalidWhiteout { path: String },
    #[error("creating {path:?} needs root (CAP_MKNOD: device nodes and overlay whiteouts)")]
    NeedsRoot { path: String },
    #[error(
        "file {path:?} is cut short: the header says {expected} bytes, the stream has {found} (truncated archive?)"
    )]
    Truncated {
        path: String,
        expected: u64,
        found: u64,
    },
    #[error("corrupt tar stream")]
    Tar(#[source] io::Error),
    #[error("corrupt tar header of entry {path:?}")]
    Header {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Directory,
    Symlink,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct DirMeta {
    mode: u32,
    owner: Option<(u32, u32)>,
    mtime: Option<FileTime>,
}

/// Unpacks the tar stream `reader` into `dest`, an existing empty directory.
pub fn unpack(reader: impl Read, dest: &Path, options: &Options) -> Result<Stats, Error> {
    unpack_recorded(reader, dest, options, None)
}

/// [`unpack`], telling `recorder` which stream bytes became which file's data (see `split`). `reader`
/// must be the recorder's own [`Recording`](super::split::Recording) of the stream.
pub fn unpack_recorded(
    reader: impl Read,
    dest: &Path,
    options: &Options,
    recorder: Option<&RefCell<Recorder>>,
) -> Result<Stats, Error> {
    let mut unpacker = Unpacker {
        dest,
        options,
        recorder,
        known: HashMap::new(),
        dirs: HashMap::new(),
        stats: Stats::default(),
        buffer: vec![0; 256 * 1024],
    };
    let position = Rc::new(Cell::new(Position::default()));
    let mut archive = tar::Archive::new(Counting {
        inner: reader,
        position: Rc::clone(&position),
    });
    let mut data_end = 0;
    for entry in archive.entries().map_err(Error::Tar)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(_) if ends_after_padding(position.get(), data_end) => break,
            Err(error) => return Err(Error::Tar(error)),
        };
        unpacker.stats.entries += 1;
        if unpacker.stats.entries > options.max_entries {
            return Err(Error::TooManyEntries {
                max: options.max_entries,
            });
        }
        data_end = entry.raw_file_position() + entry.size();
        unpacker.entry(entry)?;
    }
    unpacker.finish_dirs()?;
    Ok(unpacker.stats)
}

/// How far the tar reader got, and whether the stream has ended.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    bytes: u64,
    eof: bool,
}

struct Counting<R> {
    inner: R,
    position: Rc<Cell<Position>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut position = self.position.get();
        position.bytes += n as u64;
        position.eof |= n == 0 && !buf.is_empty();
        self.position.set(position);
        Ok(n)
    }
}

/// Go's archive/tar (and so docker, containerd, umoci, skopeo) treats a stream that ends after the last
/// entry's data, without the padding to 512 bytes or the two zero blocks, as a complete archive, and
/// some writers (umoci) produce such layers. Accept exactly that: the stream ended, and nothing past the
/// last entry's data is missing but padding. A cut inside a header or inside file data stays an error
/// (file data is checked against the header's size).
fn ends_after_padding(position: Position, data_end: u64) -> bool {
    position.eof
        && data_end > 0
        && position.bytes >= data_end
        && position.bytes <= data_end.next_multiple_of(512)
}

struct Unpacker<'a> {
    dest: &'a Path,
    options: &'a Options,
    recorder: Option<&'a RefCell<Recorder>>,
    /// Everything this layer created, by normalized relative path (`a/b/c`; the root is `""`).
    known: HashMap<Vec<u8>, Kind>,
    dirs: HashMap<Vec<u8>, DirMeta>,
    stats: Stats,
    buffer: Vec<u8>,
}

/// Lexically normalizes an archive path; `None` if `..` climbs above the root.
fn normalize(raw: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join(&b'/'))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(slash) => (&rel[..slash], &rel[slash + 1..]),
        None => (b"", rel),
    }
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        name.to_vec()
    } else {
        let mut path = Vec::with_capacity(parent.len() + 1 + name.len());
        path.extend_from_slice(parent);
        path.push(b'/');
        path.extend_from_slice(name);
        path
    }
}

/// Metadata read from the header and PAX records of one entry.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: FileTime,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, path: &[u8]) -> Result<Meta, Error> {
    let header_error = |source| Error::Header {
        path: lossy(path),
        source,
    };
    let header = entry.header();
    let mode = header.mode().map_err(header_error)?;
    let mut uid = header.uid().map_err(header_error)?;
    let mut gid = header.gid().map_err(header_error)?;
    let mut mtime = FileTime::from_unix_time(header.mtime().map_err(header_error)? as i64, 0);
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(header_error)? {
        for extension in extensions {
            let extension = extension.map_err(header_error)?;
            let key = extension.key_bytes();
            let value = extension.value_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if !name.starts_with(b"trusted.overlay.") && !name.starts_with(b"user.overlay.") {
                    xattrs.push((name.to_vec(), value.to_vec()));
                }
            } else if key == b"uid" {
                uid = parse_decimal(value).unwrap_or(uid);
            } else if key == b"gid" {
                gid = parse_decimal(value).unwrap_or(gid);
            } else if key == b"mtime" {
                mtime = parse_pax_time(value).unwrap_or(mtime);
            }
        }
    }
    Ok(Meta {
        mode: mode & 0o7777,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn parse_pax_time(value: &[u8]) -> Option<FileTime> {
    let text = std::str::from_utf8(value).ok()?;
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(FileTime::from_unix_time(seconds, nanos))
}

impl Unpacker<'_> {
    fn full(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.dest.to_owned()
        } else {
            self.dest.join(OsStr::from_bytes(rel))
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), Error> {
        let raw = entry.path_bytes().into_owned();
        let rel = normalize(&raw).ok_or_else(|| Error::Escape { path: lossy(&raw) })?;
        if rel.len() > self.options.max_path_len {
            return Err(Error::PathTooLong {
                path: lossy(&rel[..64.min(rel.len())]) + "...",
                max: self.options.max_path_len,
            });
        }
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let meta = read_meta(&mut entry, &raw)?;
        if rel.is_empty() {
            // The layer root itself (`./`): only its metadata matters.
            if kind.is_dir() {
                self.dirs.insert(Vec::new(), self.dir_meta(&meta));
                self.apply_xattrs(&self.full(b""), &meta.xattrs)?;
            }
            return Ok(());
        }
        let (parent, name) = split_parent(&rel);
        self.ensure_parents(parent, &rel)?;
        if name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parent, name, &rel);
        }
        match kind {
            tar::EntryType::Directory => self.directory(&rel, &meta),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.file(&rel, &meta, &mut entry, kind != tar::EntryType::GNUSparse)
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| Error::Header {
                    path: lossy(&raw),
                    source: io::Error::new(io::ErrorKind::InvalidData, "symlink without a target"),
                })?;
                self.symlink(&rel, &target, &meta)
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                self.hardlink(&rel, &target)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let node = match kind {
                    tar::EntryType::Char => NodeKind::Char,
                    tar::EntryType::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                let (major, minor) = if node == NodeKind::Fifo {
                    (0, 0)
                } else {
                    let header_error = |source| Error::Header {
                        path: lossy(&raw),
                        source,
                    };
                    let major = entry
                        .header()
                        .device_major()
                        .map_err(header_error)?
                        .unwrap_or(0);
                    let minor = entry
                        .header()
                        .device_minor()
                        .map_err(header_error)?
                        .unwrap_or(0);
                    (major, minor)
                };
                self.node(&rel, node, major, minor, &meta)
            }
            other => Err(Error::UnsupportedType {
                path: lossy(&raw),
                kind: other.as_byte(),
            }),
        }
    }

    fn dir_meta(&self, meta: &Meta) -> DirMeta {
        DirMeta {
            mode: meta.mode,
            owner: self
                .options
                .preserve_owners
                .then_some((meta.uid as u32, meta.gid as u32)),
            mtime: Some(meta.mtime),
        }
    }

    /// Checks (and creates, if the archive skipped them) the parent directories of an entry.
    fn ensure_parents(&mut self, parent: &[u8], rel: &[u8]) -> Result<(), Error> {
        if parent.is_empty() || self.known.get(parent) == Some(&Kind::Directory) {
            return Ok(());
        }
        let mut end = 0;
        loop {
            let next = parent[end..]
                .iter()
                .position(|&b| b == b'/')
                .map(|i| end + i)
                .unwrap_or(parent.len());
            let prefix = &parent[..next];
            match self.known.get(prefix) {
                Some(Kind::Directory) => {}
                Some(Kind::Symlink) => {
                    return Err(Error::SymlinkParent {
                        path: lossy(rel),
                        parent: lossy(prefix),
                    });
                }
                Some(Kind::Other) => {
                    return Err(Error::NotDirectoryParent {
                        path: lossy(rel),
                        parent: lossy(prefix),
                    });
                }
                None => {
                    let full = self.full(prefix);
                    mkdir(&full)?;
                    self.known.insert(prefix.to_vec(), Kind::Directory);
                    let owner = self.options.preserve_owners.then_some((0, 0));
                    self.dirs.insert(
                        prefix.to_vec(),
                        DirMeta {
                            mode: 0o755,
                            owner,
                            mtime: None,
                        },
                    );
                }
            }
            if next == parent.len() {
                return Ok(());
            }
            end = next + 1;
        }
    }

    /// Removes what this layer has at `rel` (a later entry replaces an earlier one, as tar does).
    fn clear(&mut self, rel: &[u8]) -> Result<(), Error> {
        if let Some(recorder) = self.recorder
            && self.known.contains_key(rel)
        {
            let dest = self.dest;
            recorder
                .borrow_mut()
                .inline(rel, |path| fs::read(dest.join(OsStr::from_bytes(path))))
                .map_err(ctx("keep the data of", &self.full(rel)))?;
        }
        match self.known.remove(rel) {
            None => Ok(()),
            Some(Kind::Directory) => {
                remove_tree(&self.full(rel))?;
                let prefix = join(rel, b"");
                self.known.retain(|path, _| !path.starts_with(&prefix));
                self.dirs
                    .retain(|path, _| path != rel && !path.starts_with(&prefix));
                Ok(())
            }
            Some(_) => {
                let full = self.full(rel);
                fs::remove_file(&full).map_err(ctx("remove", &full))?;
                Ok(())
            }
        }
    }

    fn directory(&mut self, rel: &[u8], meta: &Meta) -> Result<(), Error> {
        if self.known.get(rel) != Some(&Kind::Directory) {
            self.clear(rel)?;
            mkdir(&self.full(rel))?;
            self.known.insert(rel.to_vec(), Kind::Directory);
        }
        self.dirs.insert(rel.to_vec(), self.dir_meta(meta));
        self.apply_xattrs(&self.full(rel), &meta.xattrs)
    }

    fn file<R: Read>(
        &mut self,
        rel: &[u8],
        meta: &Meta,
        entry: &mut tar::Entry<'_, R>,
        plain_data: bool,
    ) -> Result<(), Error> {
        self.clear(rel)?;
        if let Some(recorder) = self.recorder
            && plain_data
        {
            // The data bytes are written to the file unchanged: the split refers to the file.
            recorder
                .borrow_mut()
                .file(entry.raw_file_position(), entry.size(), rel);
        }
        let full = self.full(rel);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&full)
            .map_err(ctx("create", &full))?;
        self.known.insert(rel.to_vec(), Kind::Other);
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(Error::Tar(error)),
            };
            file.write_all(&self.buffer[..n])
                .map_err(ctx("write", &full))?;
            written += n as u64;
        }
        self.stats.file_bytes += written;
        if written != entry.size() {
            return Err(Error::Truncated {
                path: lossy(rel),
                expected: entry.size(),
                found: written,
            });
        }
        if self.options.preserve_owners {
            std::os::unix::fs::fchown(&file, Some(meta.uid as u32), Some(meta.gid as u32))
                .map_err(ctx("chown", &full))?;
        }
        file.set_permissions(fs::Permissions::from_mode(meta.mode))
            .map_err(ctx("chmod", &full))?;
        self.apply_xattrs(&full, &meta.xattrs)?;
        filetime::set_file_handle_times(&file, Some(meta.mtime), Some(meta.mtime))
            .map_err(ctx("set times of", &full))?;
        Ok(())
    }

    fn symlink(&mut self, rel: &[u8], target: &[u8], meta: &Meta) -> Result<(), Error> {
        self.clear(rel)?;
        let full = self.full(rel);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &full)
            .map_err(ctx("create symlink", &full))?;
        self.known.insert(rel.to_vec(), Kind::Symlink);
        if self.options.preserve_owners {
            std::os::unix::fs::lchown(&full, Some(meta.uid as u32), Some(meta.gid as u32))
                .map_err(ctx("chown", &full))?;
        }
        self.apply_xattrs(&full, &meta.xattrs)?;
        filetime::set_symlink_file_times(&full, meta.mtime, meta.mtime)
            .map_err(ctx("set times of", &full))?;
        Ok(())
    }

    fn hardlink(&mut self, rel: &[u8], raw_target: &[u8]) -> Result<(), Error> {
        let refuse = || Error::HardlinkTarget {
            path: lossy(rel),
            target: lossy(raw_target),
        };
        let target = normalize(raw_target).ok_or_else(refuse)?;
        if target.is_empty() || target == rel {
            return Err(refuse());
        }
        // The target must be a non-directory this layer created; its parents were checked when it
        // was created, and `clear` forgets everything under a replaced directory.
        if !matches!(
            self.known.get(target.as_slice()),
            Some(Kind::Other | Kind::Symlink)
        ) {
            return Err(refuse());
        }
        self.clear(rel)?;
        let full = self.full(rel);
        // linkat(2) without AT_SYMLINK_FOLLOW: a symlink target is linked itself, never followed.
        fs::hard_link(self.full(&target), &full).map_err(ctx("create hardlink", &full))?;
        let kind = self.known[target.as_slice()];
        self.known.insert(rel.to_vec(), kind);
        Ok(())
    }

    fn node(
        &mut self,
        rel: &[u8],
        kind: NodeKind,
        major: u32,
        minor: u32,
        meta: &Meta,
    ) -> Result<(), Error> {
        self.clear(rel)?;
        let full = self.full(rel);
        self.mknod(&full, rel, kind, meta.mode, major, minor)?;
        self.known.insert(rel.to_vec(), Kind::Other);
        if self.options.preserve_owners {
            std::os::unix::fs::lchown(&full, Some(meta.uid as u32), Some(meta.gid as u32))
                .map_err(ctx("chown", &full))?;
        }
        fs::set_permissions(&full, fs::Permissions::from_mode(meta.mode))
            .map_err(ctx("chmod", &full))?;
        self.apply_xattrs(&full, &meta.xattrs)?;
        filetime::set_symlink_file_times(&full, meta.mtime, meta.mtime)
            .map_err(ctx("set times of", &full))?;
        Ok(())
    }

    fn mknod(
        &self,
        full: &Path,
        rel: &[u8],
        kind: NodeKind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), Error> {
        sys::mknod(full, kind, mode, major, minor).map_err(|error| {
            if error.kind() == io::ErrorKind::PermissionDenied {
                Error::NeedsRoot { path: lossy(rel) }
            } else {
                Error::Io(IoError::new("create device node", full, error))
            }
        })
    }

    fn whiteout(&mut self, parent: &[u8], name: &[u8], rel: &[u8]) -> Result<(), Error> {
        if name == OPAQUE {
            let dir = self.full(parent);
            return sys::lsetxattr(&dir, OPAQUE_XATTR, b"y").map_err(|error| {
                if error.kind() == io::ErrorKind::PermissionDenied {
                    Error::NeedsRoot { path: lossy(rel) }
                } else {
                    Error::Io(IoError::new("mark opaque", dir, error))
                }
            });
        }
        if name.starts_with(b".wh..wh.") {
            // aufs bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not part of the filesystem.
            return Ok(());
        }
        let hidden = &name[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::InvalidWhiteout { path: lossy(rel) });
        }
        let target = join(parent, hidden);
        self.clear(&target)?;
        let full = self.full(&target);
        self.mknod(&full, rel, NodeKind::Char, 0, 0, 0)?;
        self.known.insert(target, Kind::Other);
        Ok(())
    }

    fn apply_xattrs(&self, full: &Path, xattrs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Error> {
        for (name, value) in xattrs {
            if let Err(error) = sys::lsetxattr(full, name, value) {
                let unprivileged = !sys::is_root()
                    && matches!(
                        error.raw_os_error(),
                        Some(libc::EPERM | libc::EOPNOTSUPP | libc::EACCES)
                    );
                if !unprivileged {
                    return Err(Error::Io(IoError::new(
                        "set extended attribute on",
                        full,
                        error,
                    )));
                }
            }
        }
        Ok(())
    }

    /// Applies directory owners, modes and mtimes, deepest first.
    fn finish_dirs(&mut self) -> Result<(), Error> {
        let mut dirs: Vec<(Vec<u8>, DirMeta)> = self.dirs.drain().collect();
        dirs.sort_by_key(|(path, _)| {
            std::cmp::Reverse(
                path.iter().filter(|&&b| b == b'/').count() + usize::from(!path.is_empty()),
            )
        });
        for (rel, meta) in dirs {
            let full = self.full(&rel);
            if let Some((uid, gid)) = meta.owner {
                std::os::unix::fs::lchown(&full, Some(uid), Some(gid))
                    .map_err(ctx("chown", &full))?;
            }
            fs::set_permissions(&full, fs::Permissions::from_mode(meta.mode))
                .map_err(ctx("chmod", &full))?;
            if let Some(mtime) = meta.mtime {
                filetime::set_symlink_file_times(&full, mtime, mtime)
                    .map_err(ctx("set times of", &full))?;
            }
        }
        Ok(())
    }
}

fn mkdir(full: &Path) -> Result<(), IoError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(full)
        .map_err(ctx("create directory", full))
}

#[cfg(test)]
mod tests;
