//! One layer blob's bytes as one stream, which the unpacker reads while they arrive.
//!
//! The stream starts with what an earlier pull of the blob received (its partial download, see
//! `image::pulled`): those bytes are read back from disk and hashed again, which costs no transfer.
//! The rest comes from the registry with a range request (`Range: bytes=<received>-`), and every
//! chunk is appended to the partial file as it passes, before the unpacker sees it, so a pull
//! killed at any moment loses at most the chunk in flight. A connection that breaks mid-blob is
//! resumed the same way (with backoff, the attempts counted afresh once bytes flow again); a
//! registry that ignores the range sends the whole blob, and the bytes already held are skipped.
//!
//! The stream hashes everything it yields, so at its end it knows the blob's digest and length;
//! [`BlobStream::verify`] compares them with the descriptor's before anything is committed. A
//! failure of the transfer itself is kept as the registry error it is ([`Error::Connection`],
//! [`Error::NotFound`]...) while the unpacker sees only an I/O error; `verify` returns it.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::transport::{self, Payload, Session, status_error};
use super::{Error, Progress, Report};
use crate::image::Digest;
use crate::image::pulled::Partial;

/// Attempts to resume a broken transfer, counted since bytes last arrived.
const ATTEMPTS: u32 = 5;
/// How often a download reports its bytes.
const REPORT_EVERY: u64 = 1 << 20;

/// The bytes of blob `digest` (`size` bytes): the partial download's, then the registry's.
pub struct BlobStream<'a> {
    session: &'a Session,
    url: String,
    digest: &'a Digest,
    size: u64,
    shown: &'a str,
    /// The partial download: `kept` bytes to read back first, then appended to.
    partial: &'a Partial,
    kept: u64,
    /// Bytes yielded so far (all hashed).
    position: u64,
    hasher: Sha256,
    body: Option<ureq::BodyReader<'static>>,
    /// Bytes at the start of the open response to drop (a registry that ignored the range).
    skip: u64,
    attempt: u32,
    /// Why the stream failed, as the registry error behind the I/O error the reader got.
    failure: Option<Error>,
    /// The registry sent more than `size` bytes.
    overlong: bool,
    reported: u64,
    report: Report<'a>,
}

impl<'a> BlobStream<'a> {
    /// A stream of blob `digest` from `session`, after the bytes already in `partial`.
    pub fn new(
        session: &'a Session,
        digest: &'a Digest,
        size: u64,
        partial: &'a Partial,
        shown: &'a str,
        report: Report<'a>,
    ) -> Self {
        let kept = partial.received();
        if kept > 0 {
            report(Progress::Bytes {
                digest: digest.clone(),
                done: kept,
                total: size,
            });
        }
        BlobStream {
            session,
            url: session.url(&format!("blobs/{digest}")),
            digest,
            size,
            shown,
            partial,
            kept,
            position: 0,
            hasher: Sha256::new(),
            body: None,
            skip: 0,
            attempt: 0,
            failure: None,
            overlong: false,
            reported: kept,
            report,
        }
    }

    /// Whether every byte of the blob arrived (or more): then the partial download is either the
    /// blob or known to be wrong, and has nothing left to resume.
    pub fn received_all(&self) -> bool {
        self.position >= self.size || self.overlong
    }

    /// Reads the stream to its end, then checks the blob's digest and size: the transfer's own
    /// failure if it had one, else [`Error::DigestMismatch`] when the bytes are not the blob.
    pub fn verify(&mut self) -> Result<(), Error> {
        let drained = io::copy(self, &mut io::sink());
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        drained.map_err(|error| self.broken(&error))?;
        let actual = Digest::from_hex(&hex::encode(self.hasher.clone().finalize()))
            .expect("sha256 output is 64 hex digits");
        if &actual != self.digest || self.position != self.size {
            return Err(Error::DigestMismatch {
                what: "blob",
                expected: self.digest.clone(),
                actual,
                registry: self.session.endpoint.registry.clone(),
            });
        }
        Ok(())
    }

    fn broken(&self, error: &dyn std::fmt::Display) -> Error {
        Error::Connection {
            url: self.url.clone(),
            message: format!(
                "the download broke after {} of {} bytes: {error}",
                self.position, self.size
            ),
        }
    }

    /// Fails the stream with `error`, kept for [`Self::verify`]; the reader gets an I/O error.
    fn fail(&mut self, error: Error) -> io::Error {
        let io_error = io::Error::other(error.to_string());
        self.failure = Some(error);
        io_error
    }

    /// A broken or short transfer: waits and lets the next read resume, or fails after
    /// [`ATTEMPTS`] tries without progress.
    fn resume_after(&mut self, error: &dyn std::fmt::Display) -> io::Result<()> {
        self.body = None;
        self.attempt += 1;
        if self.attempt >= ATTEMPTS {
            let error = self.broken(error);
            return Err(self.fail(error));
        }
        transport::backoff(self.attempt, None);
        Ok(())
    }

    /// Asks the registry for the blob from the current position on.
    fn open(&mut self) -> io::Result<()> {
        let headers = if self.position > 0 {
            vec![("Range", format!("bytes={}-", self.position))]
        } else {
            Vec::new()
        };
        let response = match self
            .session
            .send("GET", &self.url, &headers, &Payload::Empty)
        {
            Ok(response) => response,
            Err(error) => return Err(self.fail(error)),
        };
        let status = response.status().as_u16();
        self.skip = match status {
            206 if self.position > 0 => {
                let start = response
                    .headers()
                    .get("content-range")
                    .and_then(|value| value.to_str().ok())
                    .and_then(range_start);
                if start != Some(self.position) {
                    let error = Error::Invalid(format!(
                        "{}: the registry {} answered a range request for blob {} from byte {} with {:?}",
                        self.shown,
                        self.session.endpoint.registry,
                        self.digest,
                        self.position,
                        response.headers().get("content-range"),
                    ));
                    return Err(self.fail(error));
                }
                0
            }
            // The registry ignored the range (or none was asked): what it sends first we have.
            200 => self.position,
            404 => {
                let error = Error::NotFound {
                    reference: format!("{}: blob {}", self.shown, self.digest),
                    registry: self.session.endpoint.registry.clone(),
                    message: String::new(),
                };
                return Err(self.fail(error));
            }
            _ => {
                let error = status_error(&self.url, response);
                return Err(self.fail(error));
            }
        };
        self.body = Some(response.into_body().into_reader());
        Ok(())
    }

    /// Hashes and counts bytes the reader gets; reports progress every [`REPORT_EVERY`].
    fn yielded(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.position += bytes.len() as u64;
        if self.position.saturating_sub(self.reported) >= REPORT_EVERY || self.position == self.size
        {
            self.reported = self.position;
            (self.report)(Progress::Bytes {
                digest: self.digest.clone(),
                done: self.position,
                total: self.size,
            });
        }
    }
}

/// The first byte of a `Content-Range: bytes <start>-<end>/<total>` header.
fn range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.failure.is_some() {
            return if self.failure.is_some() {
                Err(io::Error::other("the download failed"))
            } else {
                Ok(0)
            };
        }
        if self.position < self.kept {
            let want = buf.len().min((self.kept - self.position) as usize);
            let n = self.partial.file().read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the partial download is shorter than it was",
                ));
            }
            self.yielded(&buf[..n]);
            return Ok(n);
        }
        loop {
            if self.body.is_none() {
                if self.position >= self.size {
                    return Ok(0);
                }
                self.open()?;
            }
            let body = self.body.as_mut().expect("opened above");
            let n = match body.read(buf) {
                Ok(0) if self.position >= self.size => {
                    self.body = None;
                    return Ok(0);
                }
                Ok(0) => {
                    self.resume_after(&"the registry closed the connection early")?;
                    continue;
                }
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.resume_after(&error)?;
                    continue;
                }
            };
            let skipped = (self.skip.min(n as u64)) as usize;
            self.skip -= skipped as u64;
            if skipped == n {
                continue;
            }
            buf.copy_within(skipped..n, 0);
            let n = n - skipped;
            if self.position + n as u64 > self.size {
                self.overlong = true;
                let error = Error::Invalid(format!(
                    "{}: blob {} from {} is longer than its {} bytes",
                    self.shown, self.digest, self.session.endpoint.registry, self.size
                ));
                return Err(self.fail(error));
            }
            // On disk before the unpacker sees it: what was yielded can always be resumed from.
            if let Err(error) = self.partial.file().write_all(&buf[..n]) {
                let error = crate::store::IoError::new("write", self.partial.path(), error);
                return Err(self.fail(Error::Io(error)));
            }
            self.attempt = 0;
            self.yielded(&buf[..n]);
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("items 1-2/3"), None);
        assert_eq!(range_start("bytes */200"), None);
    }
}
