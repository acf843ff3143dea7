//! A deterministic mutation fuzzer for the unpacker (the `fuzz/` cargo-fuzz target explores further):
//! random byte flips, truncations and splices of a valid layer must give `Ok` or an error, never a
//! panic, and never a write outside the layer directory.

use std::fs;

use runtime::image::unpack::{Options, unpack};

use crate::support::{append, raw_header};

fn seed_layer() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append(
            &raw_header("dir/", tar::EntryType::Directory, "", 0),
            &b""[..],
        )
        .unwrap();
    append(&mut builder, "dir/file", b"hello world");
    builder
        .append(
            &raw_header("dir/link", tar::EntryType::Symlink, "../outside", 0),
            &b""[..],
        )
        .unwrap();
    builder
        .append(
            &raw_header("dir/hard", tar::EntryType::Link, "dir/file", 0),
            &b""[..],
        )
        .unwrap();
    builder
        .append(
            &raw_header("dir/.wh.gone", tar::EntryType::Regular, "", 0),
            &b""[..],
        )
        .unwrap();
    append(&mut builder, "other/data", &[7u8; 3000]);
    builder.into_inner().unwrap()
}

#[test]
fn mutated_layers_never_panic_or_escape() {
    let seed = seed_layer();
    let mut rng = fastrand::Rng::with_seed(0x5eed_1234_abcd_0001);
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let options = Options {
        max_entries: 1000,
        ..Options::default()
    };
    for round in 0..600 {
        let mut input = seed.clone();
        for _ in 0..=rng.usize(..8) {
            match rng.usize(..4) {
                0 => {
                    let at = rng.usize(..input.len());
                    input[at] = rng.u8(..);
                }
                1 if input.len() >= 512 => {
                    // Header bytes matter most: hit the name, size, type and link fields.
                    let block = rng.usize(..input.len() / 512) * 512;
                    let field = [0, 124, 156, 157][rng.usize(..4)];
                    let at = (block + field + rng.usize(..12)).min(input.len() - 1);
                    input[at] = [b'.', b'/', b'0', b'7', b'1', b'2', 0, b'5'][rng.usize(..8)];
                }
                1 | 2 => input.truncate(rng.usize(..input.len()) + 1),
                _ => {
                    let from = rng.usize(..input.len());
                    let to = rng.usize(..input.len());
                    let len = rng.usize(..512).min(input.len() - from.max(to));
                    input.copy_within(from..from + len, to);
                }
            }
        }
        let dest = root.path().join(format!("layer-{round}"));
        fs::create_dir(&dest).unwrap();
        let _ = unpack(&input[..], &dest, &options);
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "round {round} wrote outside the layer"
        );
        runtime::store::remove_tree(&dest).unwrap();
    }
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
}
