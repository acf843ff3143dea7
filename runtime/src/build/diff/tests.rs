use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

/// (path, type, size, mode, mtime, link target) of each entry.
fn entries(tar_bytes: &[u8]) -> Vec<(String, char, u64, u32, u64, String)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let kind = match header.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                tar::EntryType::Regular => 'f',
                _ => '?',
            };
            let link = entry
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (
                entry.path().unwrap().display().to_string(),
                kind,
                header.size().unwrap(),
                header.mode().unwrap(),
                header.mtime().unwrap(),
                link,
            )
        })
        .collect()
}

fn sample(dir: &Path) {
    fs::create_dir_all(dir.join("b/c")).unwrap();
    fs::write(dir.join("b/c/file"), "content").unwrap();
    fs::write(dir.join("a"), "x").unwrap();
    fs::set_permissions(dir.join("a"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::hard_link(dir.join("a"), dir.join("b/a-link")).unwrap();
    symlink("../a", dir.join("b/sym")).unwrap();
}

#[test]
fn a_directory_becomes_a_sorted_deterministic_layer() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let mut first = Vec::new();
    let stats = write_layer(dir.path(), &mut first, Some(1_000)).unwrap();
    let mut second = Vec::new();
    write_layer(dir.path(), &mut second, Some(1_000)).unwrap();
    assert_eq!(first, second, "the same tree gives the same bytes");
    let listed = entries(&first);
    let paths: Vec<(&str, char)> = listed.iter().map(|e| (e.0.as_str(), e.1)).collect();
    assert_eq!(
        paths,
        [
            ("a", 'f'),
            ("b", 'd'),
            ("b/a-link", 'h'),
            ("b/c", 'd'),
            ("b/c/file", 'f'),
            ("b/sym", 'l'),
        ]
    );
    assert_eq!(listed[0].3, 0o751);
    assert_eq!(listed[2].5, "a");
    assert_eq!(listed[5].5, "../a");
    // Every timestamp is clamped to the epoch.
    assert!(listed.iter().all(|e| e.4 == 1_000));
    assert_eq!(stats.bytes, 8);
    assert_eq!(stats.entries, 6);
    // Without an epoch the files keep their times.
    let mut plain = Vec::new();
    write_layer(dir.path(), &mut plain, None).unwrap();
    assert!(entries(&plain).iter().all(|e| e.4 > 1_000));
}

/// Needs root: an overlay mount makes the whiteouts and the opaque directory, as a RUN step would.
#[test]
fn overlay_changes_become_whiteouts_and_opaque_directories() {
    if !sys::is_root() {
        assert!(
            std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
            "needs root (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper, work, merged) = (
        dir.path().join("lower"),
        dir.path().join("upper"),
        dir.path().join("work"),
        dir.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir_all(d).unwrap();
    }
    fs::create_dir_all(lower.join("replaced")).unwrap();
    fs::write(lower.join("replaced/old"), "old").unwrap();
    fs::write(lower.join("deleted"), "gone").unwrap();
    fs::write(lower.join("kept"), "kept").unwrap();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    sys::mount::mount(
        Some(Path::new("overlay")),
        &merged,
        Some("overlay"),
        0,
        Some(&options),
    )
    .unwrap();
    let changed = (|| -> io::Result<()> {
        fs::remove_file(merged.join("deleted"))?;
        fs::remove_dir_all(merged.join("replaced"))?;
        fs::create_dir(merged.join("replaced"))?;
        fs::write(merged.join("replaced/new"), "new")?;
        fs::write(merged.join("added"), "added")
    })();
    sys::mount::umount(&merged, 0).unwrap();
    changed.unwrap();
    let mut layer = Vec::new();
    let stats = write_layer(&upper, &mut layer, Some(0)).unwrap();
    let paths: Vec<(String, char)> = entries(&layer).into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(
        paths,
        [
            ("added".to_string(), 'f'),
            (".wh.deleted".to_string(), 'f'),
            ("replaced".to_string(), 'd'),
            ("replaced/.wh..wh..opq".to_string(), 'f'),
            ("replaced/new".to_string(), 'f'),
        ]
    );
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1));
    // The store's unpacker reads it back into the same overlay marks.
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    crate::image::unpack::unpack(&layer[..], &unpacked, &Default::default()).unwrap();
    let whiteout = fs::symlink_metadata(unpacked.join("deleted")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert_eq!(
        sys::lgetxattr(&unpacked.join("replaced"), OPAQUE_XATTR)
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        fs::read_to_string(unpacked.join("replaced/new")).unwrap(),
        "new"
    );
}
