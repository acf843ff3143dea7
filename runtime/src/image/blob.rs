//! The content-addressed blob store: `blobs/sha256/<hex>`, as the OCI image layout defines it.
//!
//! A blob enters only under the digest of its bytes (computed while writing, or verified after spooling)
//! and is renamed into place whole, so a path in `blobs/` always holds complete content. Reads verify
//! again: small blobs are hashed before they are returned, streams fail at their end if the content does
//! not match its name, so a corrupted store is reported, never trusted.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Error;
use super::digest::{Digest, HashingWriter};
use crate::store::{IoError, atomic, ctx};

/// The `blobs/sha256` directory of a store (or of an unpacked layout).
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where a blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, Error> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(Error::MissingBlob(digest.clone()))
            }
            Err(error) => Err(IoError::new("inspect", path, error).into()),
        }
    }

    /// Reads a whole blob and checks its digest.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(Error::MissingBlob(digest.clone()));
            }
            Err(error) => return Err(IoError::new("read", path, error).into()),
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::CorruptBlob {
                digest: digest.clone(),
                actual,
                path,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming; the reader fails with `InvalidData` at its end if the content does not
    /// hash to `digest`.
    pub fn open(&self, digest: &Digest) -> Result<Verified<BufReader<File>>, Error> {
        let path = self.path(digest);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(Error::MissingBlob(digest.clone()));
            }
            Err(error) => return Err(IoError::new("open", path, error).into()),
        };
        Ok(Verified::new(
            BufReader::with_capacity(1 << 20, file),
            digest.clone(),
        ))
    }

    /// Stores `bytes` and returns their digest.
    pub fn write(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::of(bytes);
        let target = self.path(&digest);
        if !target.exists() {
            let temp = atomic::temp_sibling(&target);
            let mut writer = HashingWriter::new(File::create(&temp).map_err(ctx("create", &temp))?);
            io::Write::write_all(&mut writer, bytes).map_err(ctx("write", &temp))?;
            drop(writer);
            fs::rename(&temp, &target).map_err(ctx("rename into place", &target))?;
        }
        Ok(digest)
    }

    /// Moves a file whose digest the caller has computed into the store (or drops it if the blob is
    /// already there).
    pub fn adopt(&self, file: &Path, digest: &Digest) -> Result<(), Error> {
        let target = self.path(digest);
        if target.exists() {
            fs::remove_file(file).map_err(ctx("remove", file))?;
        } else {
            fs::rename(file, &target).map_err(ctx("move blob into", &target))?;
        }
        Ok(())
    }

    /// Removes a blob; a missing one is not an error.
    pub fn remove(&self, digest: &Digest) -> Result<(), IoError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(IoError::new("remove", path, error))
            }
            _ => Ok(()),
        }
    }

    /// Every blob in the store, plus names that are not digests (temporary files to clean).
    pub fn list(&self) -> Result<(Vec<Digest>, Vec<PathBuf>), IoError> {
        let mut digests = Vec::new();
        let mut strays = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ctx("list", &self.dir))? {
            let entry = entry.map_err(ctx("list", &self.dir))?;
            match entry
                .file_name()
                .to_str()
                .and_then(|name| Digest::from_hex(name).ok())
            {
                Some(digest) => digests.push(digest),
                None => strays.push(entry.path()),
            }
        }
        Ok((digests, strays))
    }
}

/// A reader that checks, at end of stream, that what it read hashes to the expected digest.
pub struct Verified<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    checked: bool,
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R, expected: Digest) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            expected,
            checked: false,
        }
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.checked {
            self.checked = true;
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.expected.hex() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is corrupt: its content hashes to sha256:{actual}",
                        self.expected
                    ),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().to_owned());
        let digest = blobs.write(b"content").unwrap();
        assert_eq!(blobs.read(&digest).unwrap(), b"content");
        let mut streamed = Vec::new();
        blobs
            .open(&digest)
            .unwrap()
            .read_to_end(&mut streamed)
            .unwrap();
        assert_eq!(streamed, b"content");

        fs::write(blobs.path(&digest), b"tampered").unwrap();
        let error = blobs.read(&digest).unwrap_err().to_string();
        assert!(
            error.contains("corrupt") && error.contains(&digest.to_string()),
            "{error}"
        );
        let error = blobs
            .open(&digest)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let missing = Digest::of(b"nope");
        assert!(matches!(blobs.read(&missing), Err(Error::MissingBlob(_))));
    }
}
