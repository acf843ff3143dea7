//! The local archives `ADD` extracts: a tar, plain or compressed with gzip, bzip2, xz or zstd,
//! recognized by its content as BuildKit does (a name ending in `.tar.gz` means nothing; a gzip
//! file that holds no tar is copied as it is).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// How a file is compressed, by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The file's content, decompressed.
fn decompressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 6];
    let mut filled = 0;
    while filled < head.len() {
        let read = file.read(&mut head[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let input = BufReader::new(io::Cursor::new(head[..filled].to_vec()).chain(file));
    Ok(match sniff(&head[..filled]) {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
    })
}

/// Whether the file at `path` is a tar archive (possibly compressed): its first header block has a
/// valid checksum.
pub fn is_archive(path: &Path) -> bool {
    let Ok(mut reader) = decompressed(path) else {
        return false;
    };
    let mut block = [0u8; 512];
    if reader.read_exact(&mut block).is_err() {
        return false;
    }
    let header = tar::Header::from_byte_slice(&block);
    match (
        header.cksum(),
        header.as_old().cksum.iter().any(|b| *b != 0),
    ) {
        (Ok(recorded), true) => {
            // The checksum counts the checksum field as spaces.
            let computed: u32 = block
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        *b as u32
                    }
                })
                .sum();
            recorded == computed
        }
        _ => false,
    }
}

/// The archive at `path` to read entry by entry.
pub fn open(path: &Path) -> io::Result<tar::Archive<Box<dyn Read>>> {
    Ok(tar::Archive::new(decompressed(path)?))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tar_bytes() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "dir/hello.txt", &b"hello"[..])
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn archives_are_recognized_in_every_compression_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let plain = tar_bytes();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&plain).unwrap();
        let mut bzip = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bzip.write_all(&plain).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        let zstd = zstd::encode_all(&plain[..], 1).unwrap();
        let mut text_gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        text_gz.write_all(&[b'x'; 2000]).unwrap();
        let cases: [(&str, Vec<u8>, bool); 7] = [
            ("plain.tar", plain.clone(), true),
            ("a.tgz", gzip.finish().unwrap(), true),
            ("a.tbz", bzip.finish().unwrap(), true),
            ("a.txz", xz.finish().unwrap(), true),
            ("a.tzst", zstd, true),
            ("text.gz", text_gz.finish().unwrap(), false),
            ("short", b"hi".to_vec(), false),
        ];
        for (name, bytes, archive) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(is_archive(&path), archive, "{name}");
            if archive {
                let mut entries = open(&path).unwrap();
                let names: Vec<String> = entries
                    .entries()
                    .unwrap()
                    .map(|e| e.unwrap().path().unwrap().display().to_string())
                    .collect();
                assert_eq!(names, ["dir/hello.txt"], "{name}");
            }
        }
    }
}
