//! The container log: docker's json-file format, one object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T05:00:00.123456789Z"}`, so tools that read
//! docker's logs read ours. Lines longer than 16 KiB are split, as docker does; a final line without a
//! newline is written when the stream ends. With a size limit (`max-size`), the file is rotated to
//! `container.log.1`, `.2`, ... keeping `max-file` files in all, as docker's json-file driver does
//! (`container.log.1.gz`, ... with `compress`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::state::now_rfc3339_nanos;

const MAX_LINE: usize = 16 * 1024;

/// Which output stream a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline if it had one.
    pub log: String,
    pub stream: Stream,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// Appends entries to a log file, buffering partial lines per stream.
#[derive(Debug)]
pub struct Writer {
    file: File,
    partial: [Vec<u8>; 2],
    path: std::path::PathBuf,
    size: u64,
    /// Rotate when the file would grow past this many bytes (0: never).
    max_size: u64,
    /// Files kept in all, the current one included (at least 1).
    max_files: u32,
    /// Gzip the rotated files (`container.log.1.gz`, ...), as docker's `compress` option does.
    compress: bool,
}

/// The name of rotated file `n` (1 is the newest).
pub fn rotated(path: &Path, n: u32) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    name.into()
}

/// The name of compressed rotated file `n`.
pub fn rotated_gz(path: &Path, n: u32) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}.gz"));
    name.into()
}

impl Writer {
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_rotating(path, 0, 1)
    }

    /// A writer that rotates the file at `max_size` bytes, keeping `max_files` files.
    pub fn open_rotating(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            size: file.metadata()?.len(),
            file,
            partial: [Vec::new(), Vec::new()],
            path: path.to_owned(),
            max_size,
            max_files: max_files.max(1),
            compress: false,
        })
    }

    /// Gzips the files it rotates (from then on).
    pub fn compressed(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.max_size > 0 && self.size > 0 && self.size + bytes.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.max_files - 1;
        if keep == 0 {
            self.file.set_len(0)?;
        } else if self.compress {
            // The newest rotated file is the current one gzipped, written beside and renamed in,
            // then the current file starts over (readers that follow it see it shrink).
            for n in (1..keep).rev() {
                let _ = std::fs::rename(rotated_gz(&self.path, n), rotated_gz(&self.path, n + 1));
            }
            let partial = rotated(&self.path, 1);
            let mut encoder = flate2::write::GzEncoder::new(
                File::create(&partial)?,
                flate2::Compression::default(),
            );
            io::copy(&mut File::open(&self.path)?, &mut encoder)?;
            encoder.finish()?.sync_all()?;
            std::fs::rename(&partial, rotated_gz(&self.path, 1))?;
            self.file.set_len(0)?;
        } else {
            for n in (1..keep).rev() {
                let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    /// Adds output; complete lines are written at once.
    pub fn push(&mut self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let index = stream as usize;
        self.partial[index].extend_from_slice(bytes);
        let mut out = Vec::new();
        let time = now_rfc3339_nanos();
        loop {
            let buffer = &mut self.partial[index];
            let cut = match buffer.iter().position(|&b| b == b'\n') {
                Some(newline) if newline < MAX_LINE => newline + 1,
                _ if buffer.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = buffer.drain(..cut).collect();
            // With rotation, each entry is checked against the size limit on its own (a read can
            // bring many lines at once), as docker's driver writes message by message.
            if self.max_size > 0 && !out.is_empty() {
                self.write(&out)?;
                out.clear();
            }
            encode(&mut out, &line, stream, &time);
        }
        if !out.is_empty() {
            self.write(&out)?;
        }
        Ok(())
    }

    /// Writes what is left of a stream (its last line had no newline).
    pub fn finish(&mut self, stream: Stream) -> io::Result<()> {
        let line = std::mem::take(&mut self.partial[stream as usize]);
        if line.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        encode(&mut out, &line, stream, &now_rfc3339_nanos());
        self.write(&out)
    }
}

fn encode(out: &mut Vec<u8>, line: &[u8], stream: Stream, time: &str) {
    let entry = Entry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream,
        time: time.to_owned(),
    };
    serde_json::to_writer(&mut *out, &entry).expect("log entry serialises");
    out.push(b'\n');
}

/// Reads every entry of a log, rotated files first (a missing file is an empty log; a torn last line
/// is skipped).
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = read_rotated(path)?;
    entries.extend(read_files(vec![(path.to_owned(), false)])?);
    Ok(entries)
}

/// Reads the entries of a log's rotated files only (plain or gzipped), oldest first.
pub fn read_rotated(path: &Path) -> io::Result<Vec<Entry>> {
    let mut files = Vec::new();
    let mut n = 1;
    loop {
        if rotated(path, n).exists() {
            files.push((rotated(path, n), false));
        } else if rotated_gz(path, n).exists() {
            files.push((rotated_gz(path, n), true));
        } else {
            break;
        }
        n += 1;
    }
    files.reverse();
    read_files(files)
}

fn read_files(files: Vec<(std::path::PathBuf, bool)>) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (file, gzipped) in files {
        let file = match File::open(&file) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        let reader: Box<dyn io::Read> = if gzipped {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        for line in BufReader::new(reader).lines() {
            if let Ok(entry) = serde_json::from_str(&line?) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

/// A log read as it grows: each call gives the complete entries appended since the last one (a
/// line still being written waits for its end). A log that shrank was replaced (the container was
/// recreated): reading starts over.
#[derive(Debug)]
pub struct Tail {
    path: std::path::PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: std::path::PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The entries of the rotated files before the one it follows (none when unreadable).
    pub fn read_rotated(&self) -> Vec<Entry> {
        read_rotated(&self.path).unwrap_or_default()
    }

    /// The entries appended since the last call (none when the file is missing or unreadable).
    pub fn read_new(&mut self) -> Vec<Entry> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = File::open(&self.path) else {
            return Vec::new();
        };
        let length = file.metadata().map_or(0, |m| m.len());
        if length < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let Ok(read) = file.read_to_end(&mut self.partial) else {
            return Vec::new();
        };
        self.offset += read as u64;
        let mut entries = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if let Ok(entry) = serde_json::from_slice::<Entry>(&line) {
                entries.push(entry);
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_streams_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = Writer::open(&path).unwrap();
        writer.push(Stream::Stdout, b"hel").unwrap();
        writer.push(Stream::Stderr, b"oops\n").unwrap();
        writer.push(Stream::Stdout, b"lo\nwor").unwrap();
        writer
            .push(Stream::Stdout, &vec![b'x'; MAX_LINE + 10])
            .unwrap();
        writer.finish(Stream::Stdout).unwrap();
        let entries = read(&path).unwrap();
        let texts: Vec<(Stream, usize)> = entries.iter().map(|e| (e.stream, e.log.len())).collect();
        assert_eq!(entries[0].log, "oops\n");
        assert_eq!(entries[1].log, "hello\n");
        assert_eq!(texts[2], (Stream::Stdout, MAX_LINE));
        assert_eq!(texts[3], (Stream::Stdout, 13));
        assert!(entries[0].time.ends_with('Z') && entries[0].time.contains('.'));
    }

    #[test]
    fn rotation_keeps_max_files_and_reads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = Writer::open_rotating(&path, 300, 3).unwrap();
        for n in 0..40 {
            writer
                .push(Stream::Stdout, format!("line {n}\n").as_bytes())
                .unwrap();
        }
        assert!(rotated(&path, 2).exists() && !rotated(&path, 3).exists());
        for file in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
            assert!(std::fs::metadata(&file).unwrap().len() <= 300);
        }
        let entries = read(&path).unwrap();
        let numbers: Vec<usize> = entries
            .iter()
            .map(|e| e.log.trim().trim_start_matches("line ").parse().unwrap())
            .collect();
        assert_eq!(*numbers.last().unwrap(), 39);
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert!(numbers.len() < 40);
        let mut single = Writer::open_rotating(&dir.path().join("one"), 200, 1).unwrap();
        for n in 0..20 {
            single
                .push(Stream::Stderr, format!("x{n}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(dir.path().join("one")).unwrap().len() <= 200);
        assert!(!rotated(&dir.path().join("one"), 1).exists());
    }

    #[test]
    fn compressed_rotation_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = Writer::open_rotating(&path, 300, 3)
            .unwrap()
            .compressed(true);
        // One read may bring many lines: each is checked against the limit.
        let text: String = (0..40).map(|n| format!("line {n}\n")).collect();
        writer.push(Stream::Stdout, text.as_bytes()).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 300);
        assert!(rotated_gz(&path, 1).exists() && rotated_gz(&path, 2).exists());
        assert!(!rotated_gz(&path, 3).exists() && !rotated(&path, 1).exists());
        let numbers: Vec<usize> = read(&path)
            .unwrap()
            .iter()
            .map(|e| e.log.trim().trim_start_matches("line ").parse().unwrap())
            .collect();
        assert_eq!(*numbers.last().unwrap(), 39);
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    }
}
