//! The container log: docker's json-file format, one object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-29T05:00:00.123456789Z"}`, so tools that read
//! docker's logs read ours. Lines longer than 16 KiB are split, as docker does; a final line without a
//! newline is written when the stream ends.

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
}

impl Writer {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: OpenOptions::new().create(true).append(true).open(path)?,
            partial: [Vec::new(), Vec::new()],
        })
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
            encode(&mut out, &line, stream, &time);
        }
        if !out.is_empty() {
            self.file.write_all(&out)?;
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
        self.file.write_all(&out)
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

/// Reads every entry of a log file (a missing file is an empty log; a torn last line is skipped).
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut entries = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Ok(entry) = serde_json::from_str(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
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
}
