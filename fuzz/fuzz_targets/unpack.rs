//! Fuzz target: any byte string as a layer tar. The unpacker must return (Ok or an error), never panic,
//! and never create anything outside the layer directory.

#![no_main]

use std::fs;

use libfuzzer_sys::fuzz_target;
use runtime::image::unpack::{Options, unpack};

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().expect("tempdir");
    let dest = root.path().join("layer");
    let outside = root.path().join("outside");
    fs::create_dir(&dest).expect("mkdir layer");
    fs::create_dir(&outside).expect("mkdir outside");
    let options = Options {
        max_entries: 10_000,
        ..Options::default()
    };
    let _ = unpack(data, &dest, &options);
    assert_eq!(
        fs::read_dir(&outside).expect("list outside").count(),
        0,
        "wrote outside the layer"
    );
    assert_eq!(
        fs::read_dir(root.path()).expect("list root").count(),
        2,
        "wrote next to the layer"
    );
    runtime::store::remove_tree(&dest).expect("clean up");
});
