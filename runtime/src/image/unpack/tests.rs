//! Unpacker tests: a well-formed layer keeps its metadata, and a corpus of hostile entries built byte by
//! byte (the tar crate's builder refuses to write most of them) is refused or contained, with the
//! directories around the layer checked afterwards.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
    Xattr(&'a str, &'a str, &'a [u8]),
}

const MTIME: u64 = 1_600_000_000;

/// Appends an entry with the name written straight into the header, bypassing the builder's checks.
fn raw(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
    mode: u32,
) {
    let mut header = tar::Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    if path.len() < 100 {
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_size(data.len() as u64);
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    } else {
        header.set_size(data.len() as u64);
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        builder.append_data(&mut header, path, data).unwrap();
    }
}

fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        match *entry {
            Entry::Dir(path) => raw(
                &mut builder,
                path,
                tar::EntryType::Directory,
                "",
                b"",
                0o755,
            ),
            Entry::File(path, data) => {
                raw(&mut builder, path, tar::EntryType::Regular, "", data, 0o644)
            }
            Entry::Symlink(path, target) => raw(
                &mut builder,
                path,
                tar::EntryType::Symlink,
                target,
                b"",
                0o777,
            ),
            Entry::Hardlink(path, target) => {
                raw(&mut builder, path, tar::EntryType::Link, target, b"", 0o644)
            }
            Entry::Char(path, major, minor) => {
                let mut header = tar::Header::new_gnu();
                header.set_uid(0);
                header.set_gid(0);
                header.set_mtime(MTIME);
                header.set_entry_type(tar::EntryType::Char);
                header.set_device_major(major).unwrap();
                header.set_device_minor(minor).unwrap();
                header.set_mode(0o666);
                header.set_size(0);
                builder.append_data(&mut header, path, &b""[..]).unwrap();
            }
            Entry::Fifo(path) => raw(&mut builder, path, tar::EntryType::Fifo, "", b"", 0o600),
            Entry::Xattr(path, name, value) => {
                let key = format!("SCHILY.xattr.{name}");
                builder
                    .append_pax_extensions([(key.as_str(), value)])
                    .unwrap();
                raw(&mut builder, path, tar::EntryType::Regular, "", b"x", 0o644);
            }
        }
    }
    builder.into_inner().unwrap()
}

/// A sandbox: `dest` is the layer, `outside` a sibling that must stay empty.
struct Sandbox {
    _dir: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layer");
    let outside = dir.path().join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    Sandbox {
        _dir: dir,
        dest,
        outside,
    }
}

impl Sandbox {
    fn unpack(&self, entries: &[Entry<'_>]) -> Result<Stats, Error> {
        unpack(&tar_of(entries)[..], &self.dest, &Options::default())
    }

    /// Nothing was written next to the layer.
    fn assert_contained(&self) {
        assert_eq!(
            fs::read_dir(&self.outside).unwrap().count(),
            0,
            "something escaped into {:?}",
            self.outside
        );
        let parent = self.dest.parent().unwrap();
        assert_eq!(
            fs::read_dir(parent).unwrap().count(),
            2,
            "something escaped next to the layer"
        );
    }
}

fn needs_root() -> bool {
    if crate::sys::is_root() {
        return false;
    }
    assert!(
        std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
        "this test needs root (RCOMPOSE_TEST_ROOT=1)"
    );
    eprintln!("skipped: needs root");
    true
}

#[test]
fn keeps_files_dirs_links_modes_and_times() {
    let sandbox = sandbox();
    let stats = sandbox
        .unpack(&[
            Entry::Dir("./"),
            Entry::Dir("bin/"),
            Entry::File("bin/tool", b"#!/bin/sh\n"),
            Entry::Symlink("bin/sh", "tool"),
            Entry::Hardlink("bin/tool2", "bin/tool"),
            Entry::File("implicit/parent/file", b"data"),
            Entry::Fifo("run/fifo"),
            Entry::Xattr("with-xattr", "user.comment", b"hello"),
        ])
        .unwrap();
    assert_eq!(stats.entries, 8);
    let dest = &sandbox.dest;
    assert_eq!(fs::read(dest.join("bin/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(
        fs::read_link(dest.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
    let tool = fs::metadata(dest.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o644);
    assert_eq!(tool.mtime(), MTIME as i64);
    assert_eq!(
        tool.ino(),
        fs::metadata(dest.join("bin/tool2")).unwrap().ino()
    );
    assert_eq!(
        fs::metadata(dest.join("bin")).unwrap().mtime(),
        MTIME as i64,
        "directory mtime kept after children"
    );
    assert_eq!(
        fs::metadata(dest.join("implicit/parent"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert!(
        fs::symlink_metadata(dest.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let xattr = crate::sys::lgetxattr(&dest.join("with-xattr"), b"user.comment").unwrap();
    assert_eq!(xattr.as_deref(), Some(&b"hello"[..]));
    sandbox.assert_contained();
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sandbox = sandbox();
    sandbox
        .unpack(&[
            Entry::File("x", b"first"),
            Entry::File("x", b"second"),
            Entry::Symlink("d", "/"),
            Entry::Dir("d/"),
            Entry::File("d/f", b"inside"),
        ])
        .unwrap();
    assert_eq!(fs::read(sandbox.dest.join("x")).unwrap(), b"second");
    assert!(
        fs::symlink_metadata(sandbox.dest.join("d"))
            .unwrap()
            .is_dir(),
        "symlink replaced by a real directory"
    );
    assert_eq!(fs::read(sandbox.dest.join("d/f")).unwrap(), b"inside");
    sandbox.assert_contained();
}

#[test]
fn refuses_dotdot_escapes() {
    for path in [
        "../evil",
        "a/../../evil",
        "./../outside/evil",
        "a/b/../../../outside/evil",
    ] {
        let sandbox = sandbox();
        let error = sandbox
            .unpack(&[Entry::Dir("a/"), Entry::File(path, b"pwned")])
            .unwrap_err();
        assert!(matches!(error, Error::Escape { .. }), "{path}: {error}");
        sandbox.assert_contained();
    }
    // `..` that stays inside is just a path.
    let sandbox = sandbox();
    sandbox.unpack(&[Entry::File("a/../b", b"ok")]).unwrap();
    assert_eq!(fs::read(sandbox.dest.join("b")).unwrap(), b"ok");
}

#[test]
fn contains_absolute_paths() {
    let sandbox = sandbox();
    let target = sandbox.outside.join("abs-evil");
    let path = target.to_str().unwrap().to_owned();
    sandbox.unpack(&[Entry::File(&path, b"contained")]).unwrap();
    sandbox.assert_contained();
    assert_eq!(
        fs::read(sandbox.dest.join(path.trim_start_matches('/'))).unwrap(),
        b"contained"
    );
}

#[test]
fn refuses_writing_through_symlinks() {
    let cases: Vec<(String, &str)> = vec![
        ("absolute".into(), "absolute/evil"),
        ("relative".into(), "relative/evil"),
        ("self".into(), "self/self/evil"),
        ("nested/link".into(), "nested/link/evil"),
    ];
    for (link, path) in cases {
        let sandbox = sandbox();
        let outside = sandbox.outside.to_str().unwrap().to_owned();
        let target = match link.as_str() {
            "absolute" => outside.clone(),
            "relative" => "../outside".to_owned(),
            "self" => ".".to_owned(),
            _ => "../../outside".to_owned(),
        };
        let error = sandbox
            .unpack(&[Entry::Symlink(&link, &target), Entry::File(path, b"pwned")])
            .unwrap_err();
        assert!(
            matches!(error, Error::SymlinkParent { .. }),
            "{path}: {error}"
        );
        sandbox.assert_contained();
    }
    // A symlinked directory entry, then a hardlink and a directory through it.
    let sandbox = sandbox();
    let outside = sandbox.outside.to_str().unwrap().to_owned();
    let error = sandbox
        .unpack(&[Entry::Symlink("l", &outside), Entry::Dir("l/sub/")])
        .unwrap_err();
    assert!(matches!(error, Error::SymlinkParent { .. }), "{error}");
    sandbox.assert_contained();
}

#[test]
fn refuses_hardlinks_out_of_the_layer() {
    let host_file = tempfile::NamedTempFile::new().unwrap();
    let host_path = host_file.path().to_str().unwrap().to_owned();
    let links_before = fs::metadata(&host_path).unwrap().nlink();
    let relative_escape = format!("../../../../../../../..{host_path}");
    for (setup, target) in [
        (vec![], host_path.as_str()),
        (vec![], relative_escape.as_str()),
        (vec![], "missing"),
        (vec![Entry::Dir("d/")], "d"),
        (vec![Entry::Symlink("l", "/etc")], "l/passwd"),
    ] {
        let sandbox = sandbox();
        let mut entries = setup;
        entries.push(Entry::Hardlink("h", target));
        let error = sandbox.unpack(&entries).unwrap_err();
        assert!(
            matches!(error, Error::HardlinkTarget { .. }),
            "{target}: {error}"
        );
        sandbox.assert_contained();
    }
    assert_eq!(
        fs::metadata(&host_path).unwrap().nlink(),
        links_before,
        "host file gained a link"
    );
    // A hardlink to a symlink links the symlink itself, never what it points to.
    let sandbox = sandbox();
    sandbox
        .unpack(&[Entry::Symlink("s", &host_path), Entry::Hardlink("h", "s")])
        .unwrap();
    assert!(
        fs::symlink_metadata(sandbox.dest.join("h"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::metadata(&host_path).unwrap().nlink(), links_before);
}

#[test]
fn refuses_entries_under_files() {
    let sandbox = sandbox();
    let error = sandbox
        .unpack(&[Entry::File("f", b"x"), Entry::File("f/g", b"y")])
        .unwrap_err();
    assert!(matches!(error, Error::NotDirectoryParent { .. }), "{error}");
}

#[test]
fn converts_whiteouts_for_overlay() {
    if needs_root() {
        return;
    }
    let sandbox = sandbox();
    sandbox
        .unpack(&[
            Entry::Dir("etc/"),
            Entry::File("etc/.wh.passwd", b""),
            Entry::Dir("var/"),
            Entry::File("var/.wh..wh..opq", b""),
            Entry::File("var/kept", b"k"),
            Entry::File(".wh..wh.plnk", b""),
        ])
        .unwrap();
    let whiteout = fs::symlink_metadata(sandbox.dest.join("etc/passwd")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(crate::sys::major_minor(whiteout.rdev()), (0, 0));
    assert!(!sandbox.dest.join("etc/.wh.passwd").exists());
    let opaque =
        crate::sys::lgetxattr(&sandbox.dest.join("var"), b"trusted.overlay.opaque").unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert!(
        !sandbox.dest.join(".wh..wh.plnk").exists()
            && !sandbox.dest.join("var/.wh..wh..opq").exists()
    );
    for bad in [".wh..", "a/.wh..."] {
        let other = self::sandbox();
        assert!(other.unpack(&[Entry::File(bad, b"")]).is_err(), "{bad}");
        other.assert_contained();
    }
}

#[test]
fn keeps_devices_and_drops_overlay_xattrs() {
    if needs_root() {
        return;
    }
    let sandbox = sandbox();
    sandbox
        .unpack(&[
            Entry::Char("dev/null", 1, 3),
            Entry::Xattr("f", "trusted.overlay.redirect", b"/etc"),
            Entry::Xattr("g", "trusted.keep", b"1"),
        ])
        .unwrap();
    let null = fs::symlink_metadata(sandbox.dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(crate::sys::major_minor(null.rdev()), (1, 3));
    assert_eq!(
        crate::sys::lgetxattr(&sandbox.dest.join("f"), b"trusted.overlay.redirect").unwrap(),
        None
    );
    assert_eq!(
        crate::sys::lgetxattr(&sandbox.dest.join("g"), b"trusted.keep")
            .unwrap()
            .as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn survives_tar_bombs_within_limits() {
    // Many small files.
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..20_000 {
        raw(
            &mut builder,
            &format!("d{}/f{i}", i % 100),
            tar::EntryType::Regular,
            "",
            b"x",
            0o644,
        );
    }
    let bomb = builder.into_inner().unwrap();
    let sandbox = sandbox();
    let stats = unpack(&bomb[..], &sandbox.dest, &Options::default()).unwrap();
    assert_eq!(stats.entries, 20_000);
    sandbox.assert_contained();
    let limited = self::sandbox();
    let options = Options {
        max_entries: 1000,
        ..Options::default()
    };
    assert!(matches!(
        unpack(&bomb[..], &limited.dest, &options),
        Err(Error::TooManyEntries { max: 1000 })
    ));

    // Deep paths: accepted up to the limit, refused beyond it, never a panic.
    let deep_ok = format!("{}file", "d/".repeat(1000));
    let deep_bad = format!("{}file", "d/".repeat(2000));
    let sandbox = self::sandbox();
    sandbox.unpack(&[Entry::File(&deep_ok, b"deep")]).unwrap();
    assert_eq!(fs::read(sandbox.dest.join(&deep_ok)).unwrap(), b"deep");
    let sandbox = self::sandbox();
    assert!(matches!(
        sandbox.unpack(&[Entry::File(&deep_bad, b"deep")]),
        Err(Error::PathTooLong { .. })
    ));
    sandbox.assert_contained();
}

#[test]
fn accepts_missing_padding_and_trailer_like_go() {
    // What umoci writes: the last file's data, then nothing.
    let archive = tar_of(&[Entry::Dir("etc/"), Entry::File("etc/motd", b"hi\n")]);
    let cut = 512 * 2 + 3;
    let sandbox = sandbox();
    unpack(&archive[..cut], &sandbox.dest, &Options::default()).unwrap();
    assert_eq!(fs::read(sandbox.dest.join("etc/motd")).unwrap(), b"hi\n");
    // Cut one byte into the data: an error, not a short file.
    let sandbox = self::sandbox();
    let error = unpack(&archive[..cut - 1], &sandbox.dest, &Options::default()).unwrap_err();
    assert!(matches!(error, Error::Truncated { .. }), "{error}");
}

#[test]
fn reports_truncated_and_garbage_streams() {
    let archive = tar_of(&[Entry::File("big", &[7u8; 10_000])]);
    let sandbox = sandbox();
    let error = unpack(&archive[..3000], &sandbox.dest, &Options::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Truncated {
                expected: 10_000,
                found: 2488,
                ..
            }
        ),
        "{error}"
    );
    let sandbox = self::sandbox();
    let error = unpack(&archive[..300], &sandbox.dest, &Options::default()).unwrap_err();
    assert!(
        matches!(error, Error::Tar(_)),
        "cut inside a header: {error}"
    );
    let sandbox = self::sandbox();
    let garbage = vec![0x5au8; 4096];
    assert!(unpack(&garbage[..], &sandbox.dest, &Options::default()).is_err());
}
