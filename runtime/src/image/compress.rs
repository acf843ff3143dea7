//! Recognizing and undoing the compressions layers and archives come in (gzip, zstd, none), by their
//! magic bytes rather than by media type or file name: docker-archives say nothing, and OCI media types
//! from some writers are wrong.

use std::io::{self, BufRead, Read};

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Identifies the format from the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI layer media type for a tar layer in this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Peeks at a buffered stream's first bytes and wraps it in the matching decoder.
pub fn decompress<'a>(
    mut input: impl BufRead + 'a,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let compression = Compression::sniff(input.fill_buf()?);
    let reader: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
    };
    Ok((compression, reader))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn round_trips_each_format() {
        let data = b"layer bytes ".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 1).unwrap();
        for (input, expected) in [
            (&data[..], Compression::None),
            (&gz[..], Compression::Gzip),
            (&zst[..], Compression::Zstd),
        ] {
            let (found, mut reader) = decompress(input).unwrap();
            assert_eq!(found, expected);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
