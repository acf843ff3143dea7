//! Content hashes of files, kept by what `stat` says of them, so that the cache key of a `COPY`
//! whose sources did not change costs a `stat` per file instead of reading them all (the issue's
//! "a rebuild with nothing changed only stats the files").
//!
//! A file's hash is reused while its device, inode, size, modification and change times are the
//! same: any write changes the times (and `chmod`/`chown`/rename change the change time), so a
//! stale hash would need a write within the same nanosecond as the hashing. To rule that out as git
//! does for its index ("racy git"), a hash taken less than two seconds after the file's last change
//! is used but not kept.
//!
//! The table is one file in the store (`<image root>/filehashes`, a line per file), read when a
//! build starts and written back (atomically) when it ends; concurrent builds may each drop the
//! other's new entries, which only costs a re-read next time.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

#[cfg(test)]
use crate::image::digest::Digest;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Identity {
    dev: u64,
    ino: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(metadata: &fs::Metadata) -> Stamp {
        Stamp {
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// The table of known file hashes.
#[derive(Debug)]
pub struct FileHashes {
    path: PathBuf,
    known: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Identity, (Stamp, [u8; 32])>,
    changed: bool,
}

/// A hash younger than this (after the file's change time) is not kept.
const RACY_SECONDS: i64 = 2;

impl FileHashes {
    /// The table kept at `path` (empty when missing or unreadable).
    pub fn open(path: PathBuf) -> FileHashes {
        let entries = fs::read_to_string(&path)
            .map(|text| text.lines().filter_map(parse_line).collect())
            .unwrap_or_default();
        FileHashes {
            path,
            known: Mutex::new(Table {
                entries,
                changed: false,
            }),
        }
    }

    /// The SHA-256 of the regular file at `path`, whose `metadata` the caller has (from
    /// `symlink_metadata`).
    pub fn hash(&self, path: &Path, metadata: &fs::Metadata) -> io::Result<[u8; 32]> {
        self.hash_at(path, metadata, crate::time::now_unix())
    }

    /// [`Self::hash`] at the time `now` (seconds since the epoch).
    fn hash_at(&self, path: &Path, metadata: &fs::Metadata, now: i64) -> io::Result<[u8; 32]> {
        let identity = Identity {
            dev: metadata.dev(),
            ino: metadata.ino(),
        };
        let stamp = Stamp::of(metadata);
        if let Some((known, hash)) = self.table().entries.get(&identity)
            && *known == stamp
        {
            return Ok(*hash);
        }
        let mut file = fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let hash: [u8; 32] = hasher.finalize().into();
        // What was read must be what was stat'ed: a file changed meanwhile is not kept.
        let after = Stamp::of(&file.metadata()?);
        if after == stamp && now - stamp.ctime.0 >= RACY_SECONDS {
            let mut table = self.table();
            table.entries.insert(identity, (stamp, hash));
            table.changed = true;
        }
        Ok(hash)
    }

    /// Writes the table back if it learned something.
    pub fn save(&self) -> io::Result<()> {
        let table = self.table();
        if !table.changed {
            return Ok(());
        }
        let mut text = String::with_capacity(table.entries.len() * 120);
        for (identity, (stamp, hash)) in &table.entries {
            text.push_str(&format!(
                "{} {} {} {} {} {} {} {}\n",
                identity.dev,
                identity.ino,
                stamp.size,
                stamp.mtime.0,
                stamp.mtime.1,
                stamp.ctime.0,
                stamp.ctime.1,
                hex(hash)
            ));
        }
        crate::store::atomic::write_volatile(&self.path, text.as_bytes()).map_err(io::Error::other)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse_line(line: &str) -> Option<(Identity, (Stamp, [u8; 32]))> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [dev, ino, size, ms, mns, cs, cns, hash] = fields[..] else {
        return None;
    };
    let mut bytes = [0u8; 32];
    if hash.len() != 64 {
        return None;
    }
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hash.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((
        Identity {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        },
        (
            Stamp {
                size: size.parse().ok()?,
                mtime: (ms.parse().ok()?, mns.parse().ok()?),
                ctime: (cs.parse().ok()?, cns.parse().ok()?),
            },
            bytes,
        ),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_kept_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, "one").unwrap();
        // A minute later, the file is old enough for its hash to be kept.
        let later = crate::time::now_unix() + 60;
        let table_path = dir.path().join("table");
        let hashes = FileHashes::open(table_path.clone());
        let metadata = fs::symlink_metadata(&file).unwrap();
        let first = hashes.hash_at(&file, &metadata, later).unwrap();
        assert_eq!(hex(&first), Digest::of(b"one").hex());
        hashes.save().unwrap();
        // Read back, the table answers without reading: prove it by a table entry that disagrees
        // with the content.
        let text = fs::read_to_string(&table_path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let forged = text.replace(&hex(&first), &"ab".repeat(32));
        fs::write(&table_path, forged).unwrap();
        let reopened = FileHashes::open(table_path.clone());
        assert_eq!(
            reopened.hash_at(&file, &metadata, later).unwrap(),
            [0xab; 32]
        );
        // A write changes the stamp: the content is read again.
        fs::write(&file, "two").unwrap();
        let metadata = fs::symlink_metadata(&file).unwrap();
        assert_eq!(
            hex(&reopened.hash_at(&file, &metadata, later).unwrap()),
            Digest::of(b"two").hex()
        );
    }

    #[test]
    fn a_hash_of_a_file_changed_just_now_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, "fresh").unwrap();
        let hashes = FileHashes::open(dir.path().join("table"));
        let metadata = fs::symlink_metadata(&file).unwrap();
        hashes.hash(&file, &metadata).unwrap();
        hashes.save().unwrap();
        assert!(!dir.path().join("table").exists());
    }
}
