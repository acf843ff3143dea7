//! Storing an uncompressed layer once: the unpacked directory plus a small "split" of its tar stream.
//!
//! Keeping both the layer tarball (for `save`, which must reproduce it byte for byte to keep its digest)
//! and its unpacked directory (for overlay mounts) would store every layer twice. Instead, while a layer
//! is unpacked, the tar stream is recorded minus the data of regular files, which the split refers to by
//! path in the layer directory (the idea of docker's tar-split). `save` streams the split back, reading
//! file data from the directory, and verifies the result against the layer's digest, so a layer
//! directory changed behind the store's back is reported, never exported wrong.
//!
//! Only uncompressed layers are split (the common docker-archive case): a compressed blob could not be
//! reproduced without the identical compressor, and it is small anyway. A file that a later entry of the
//! same layer replaces or removes has its data copied into the split first.
//!
//! Format: `rcompose-split 1\n`, then records `R <u64 len> <bytes>` (raw stream bytes) and
//! `F <u32 path len> <path> <u64 len>` (file data), little-endian, until the end of the file.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Error;
use crate::store::{IoError, atomic, ctx};

const MAGIC: &[u8] = b"rcompose-split 1\n";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Raw(Vec<u8>),
    File { path: Vec<u8>, len: u64 },
}

/// Records a tar stream while it is unpacked; see the module doc.
///
/// Headers and padding take about 1 KiB per entry; past `limit` bytes held in memory (a layer of very
/// many files) recording stops and the layer keeps its tarball instead.
#[derive(Debug)]
pub struct Recorder {
    segments: Vec<Segment>,
    raw: Vec<u8>,
    held: usize,
    limit: usize,
    overflowed: bool,
    position: u64,
    window_end: u64,
}

impl Recorder {
    /// A recorder that gives up past `limit` bytes of recorded (non-file) data.
    pub fn new(limit: usize) -> Self {
        Self {
            segments: Vec::new(),
            raw: Vec::new(),
            held: 0,
            limit,
            overflowed: false,
            position: 0,
            window_end: 0,
        }
    }

    fn hold(&mut self, bytes: usize) {
        self.held += bytes;
        if self.held > self.limit && !self.overflowed {
            self.overflowed = true;
            self.segments = Vec::new();
            self.raw = Vec::new();
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        if self.position < self.window_end {
            let skip = (self.window_end - self.position).min(bytes.len() as u64) as usize;
            bytes = &bytes[skip..];
            self.position += skip as u64;
        }
        self.position += bytes.len() as u64;
        self.hold(bytes.len());
        if !self.overflowed {
            self.raw.extend_from_slice(bytes);
        }
    }

    fn flush_raw(&mut self) {
        if !self.raw.is_empty() {
            self.segments
                .push(Segment::Raw(std::mem::take(&mut self.raw)));
        }
    }

    /// The `len` bytes of stream starting at `start` are about to be written unchanged to `path` (relative
    /// to the layer directory). Returns false (and records nothing) if they are not next in the stream.
    pub fn file(&mut self, start: u64, len: u64, path: &[u8]) -> bool {
        if start != self.position || self.position < self.window_end || self.overflowed {
            return false;
        }
        self.flush_raw();
        self.segments.push(Segment::File {
            path: path.to_vec(),
            len,
        });
        self.window_end = start + len;
        true
    }

    /// `path` (a file, or a directory and everything under it) is about to be removed: copy the data of
    /// every file the split refers to there into the split.
    pub fn inline(
        &mut self,
        path: &[u8],
        read: impl Fn(&[u8]) -> io::Result<Vec<u8>>,
    ) -> io::Result<()> {
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        let mut inlined = 0;
        for segment in &mut self.segments {
            if let Segment::File { path: file, .. } = segment
                && (file.as_slice() == path || file.starts_with(&prefix))
            {
                let data = read(file)?;
                inlined += data.len();
                *segment = Segment::Raw(data);
            }
        }
        self.hold(inlined);
        Ok(())
    }

    /// The finished split, or `None` if recording gave up (see [`Recorder`]).
    pub fn finish(mut self) -> Option<Split> {
        if self.overflowed {
            return None;
        }
        self.flush_raw();
        Some(Split {
            segments: self.segments,
        })
    }
}

/// A reader that shows every byte it passes to a [`Recorder`].
pub struct Recording<'a, R> {
    inner: R,
    recorder: &'a RefCell<Recorder>,
}

impl<'a, R: Read> Recording<'a, R> {
    pub fn new(inner: R, recorder: &'a RefCell<Recorder>) -> Self {
        Self { inner, recorder }
    }
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.recorder.borrow_mut().feed(&buf[..n]);
        Ok(n)
    }
}

/// A recorded tar stream; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    segments: Vec<Segment>,
}

impl Split {
    /// The length of the stream it reproduces.
    pub fn len(&self) -> u64 {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Raw(bytes) => bytes.len() as u64,
                Segment::File { len, .. } => *len,
            })
            .sum()
    }

    /// Whether the stream is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for segment in &self.segments {
            match segment {
                Segment::Raw(bytes) => {
                    out.push(b'R');
                    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                Segment::File { path, len } => {
                    out.push(b'F');
                    out.extend_from_slice(&(path.len() as u32).to_le_bytes());
                    out.extend_from_slice(path);
                    out.extend_from_slice(&len.to_le_bytes());
                }
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes.strip_prefix(MAGIC)?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let mut segments = Vec::new();
        while let Some(tag) = take(1) {
            match tag[0] {
                b'R' => {
                    let len = u64::from_le_bytes(take(8)?.try_into().ok()?);
                    segments.push(Segment::Raw(take(usize::try_from(len).ok()?)?.to_vec()));
                }
                b'F' => {
                    let path_len = u32::from_le_bytes(take(4)?.try_into().ok()?);
                    let path = take(path_len as usize)?.to_vec();
                    let len = u64::from_le_bytes(take(8)?.try_into().ok()?);
                    segments.push(Segment::File { path, len });
                }
                _ => return None,
            }
        }
        Some(Self { segments })
    }

    /// Writes the split atomically.
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        atomic::write(path, &self.encode())
    }

    /// Reads a split file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(ctx("read", path))?;
        Self::decode(&bytes)
            .ok_or_else(|| Error::Archive(format!("corrupt layer split file {}", path.display())))
    }

    /// The reproduced tar stream, reading file data from `layer_dir`.
    pub fn reader(self, layer_dir: &Path) -> SplitReader {
        SplitReader {
            segments: self.segments.into_iter(),
            layer_dir: layer_dir.to_owned(),
            current: None,
        }
    }
}

/// Streams a [`Split`] back into the tar stream it recorded.
pub struct SplitReader {
    segments: std::vec::IntoIter<Segment>,
    layer_dir: PathBuf,
    current: Option<(Box<dyn Read + Send>, u64, PathBuf)>,
}

impl Read for SplitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((reader, remaining, path)) = &mut self.current {
                if *remaining == 0 {
                    self.current = None;
                    continue;
                }
                let n = reader.read(buf)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is shorter than when it was unpacked", path.display()),
                    ));
                }
                *remaining -= n as u64;
                return Ok(n);
            }
            match self.segments.next() {
                None => return Ok(0),
                Some(Segment::Raw(bytes)) => {
                    let len = bytes.len() as u64;
                    self.current = Some((Box::new(io::Cursor::new(bytes)), len, PathBuf::new()));
                }
                Some(Segment::File { path, len }) => {
                    let full = self.layer_dir.join(OsStr::from_bytes(&path));
                    let file: File = OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&full)?;
                    self.current = Some((Box::new(file.take(len)), len, full));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reproduces_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), b"DATA").unwrap();
        std::fs::write(dir.path().join("gone"), b"OLD").unwrap();
        let recorder = RefCell::new(Recorder::new(1 << 20));
        let stream = b"hdr1OLDpadhdr2DATApadtrailer";
        let mut reading = Recording::new(&stream[..], &recorder);
        let mut chunk = [0u8; 4];
        reading.read_exact(&mut chunk).unwrap();
        assert!(recorder.borrow_mut().file(4, 3, b"gone"));
        let mut rest = [0u8; 10];
        reading.read_exact(&mut rest).unwrap();
        assert!(recorder.borrow_mut().file(14, 4, b"d/f"));
        assert!(
            !recorder.borrow_mut().file(99, 1, b"x"),
            "not next in the stream"
        );
        io::copy(&mut reading, &mut io::sink()).unwrap();
        recorder
            .borrow_mut()
            .inline(b"gone", |path| {
                std::fs::read(dir.path().join(OsStr::from_bytes(path)))
            })
            .unwrap();
        let split = recorder.into_inner().finish().unwrap();
        assert_eq!(split.len(), stream.len() as u64);
        let path = dir.path().join("split");
        split.save(&path).unwrap();
        let loaded = Split::load(&path).unwrap();
        assert_eq!(loaded, split);
        let mut out = Vec::new();
        loaded.reader(dir.path()).read_to_end(&mut out).unwrap();
        assert_eq!(out, stream);
        std::fs::write(dir.path().join("d/f"), b"DA").unwrap();
        assert!(
            Split::load(&path)
                .unwrap()
                .reader(dir.path())
                .read_to_end(&mut Vec::new())
                .is_err()
        );
        assert!(Split::decode(b"garbage").is_none());
    }

    #[test]
    fn gives_up_past_its_memory_limit() {
        let recorder = RefCell::new(Recorder::new(100));
        io::copy(
            &mut Recording::new(&[0u8; 1000][..], &recorder),
            &mut io::sink(),
        )
        .unwrap();
        assert!(recorder.into_inner().finish().is_none());
    }
}
