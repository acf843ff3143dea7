//! Fingerprints the runtime crate's sources as `RCOMPOSE_RUNTIME_BUILD` (see
//! `runtime::monitor::BUILD`): the CLI spawns a separate helper executable for container monitors and
//! exec, and a helper left over from another build (`cargo run` relinks only the binary it runs) must
//! notice that it does not speak the CLI's version of the protocol.
//!
//! The fingerprint is a hash of the sources and the manifest, so it is the same for the same code
//! (reproducible builds) and changes whenever the runtime does.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let mut files = vec![PathBuf::from("Cargo.toml")];
    collect(Path::new("src"), &mut files);
    files.sort();
    // SipHash with fixed keys: the same input gives the same fingerprint on every build.
    let mut hasher = std::hash::DefaultHasher::new();
    for file in &files {
        file.hash(&mut hasher);
        std::fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=RCOMPOSE_RUNTIME_BUILD={:016x}",
        hasher.finish()
    );
}
