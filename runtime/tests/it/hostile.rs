//! A corpus of hostile layers, generated here, loaded through the whole pipeline (docker-archive with
//! correct digests, so only the unpacker stands in the way). After each: the load failed with the
//! escape named, no image exists, nothing is left in the store, and the victim directory outside the
//! store is exactly as before.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::lifecycle::assert_consistent;
use crate::support::{append_raw, docker_archive, listing, raw_header, store};

enum Step<'a> {
    Dir(&'a str),
    File(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn layer(steps: &[Step<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for step in steps {
        match *step {
            Step::Dir(path) => append_raw(&mut builder, path, tar::EntryType::Directory, "", b""),
            Step::File(path) => {
                append_raw(&mut builder, path, tar::EntryType::Regular, "", b"pwned\n")
            }
            Step::Symlink(path, target) => {
                append_raw(&mut builder, path, tar::EntryType::Symlink, target, b"")
            }
            Step::Hardlink(path, target) => {
                append_raw(&mut builder, path, tar::EntryType::Link, target, b"")
            }
        }
    }
    builder.into_inner().unwrap()
}

#[test]
fn escapes_are_refused_and_the_host_is_untouched() {
    let (dir, store) = store();
    let victim = dir.path().join("victim");
    fs::create_dir_all(victim.join("sub")).unwrap();
    fs::write(victim.join("secret"), "do not touch\n").unwrap();
    let victim_path = victim.to_str().unwrap().to_owned();
    let secret = format!("{victim_path}/secret");
    let up = "../".repeat(40);
    let relative_victim = format!("{up}{}", victim_path.trim_start_matches('/'));
    let relative_secret = format!("{up}{}", secret.trim_start_matches('/'));
    let cases: Vec<(&str, Vec<Step<'_>>, &str)> = vec![
        (
            "dotdot",
            vec![Step::File("../../../../../../../../tmp/rcompose-escape")],
            "climbs out",
        ),
        (
            "dotdot inside dir",
            vec![Step::Dir("a/"), Step::File("a/../../victim-file")],
            "climbs out",
        ),
        (
            "absolute symlink parent",
            vec![
                Step::Symlink("evil", &victim_path),
                Step::File("evil/planted"),
            ],
            "symlink",
        ),
        (
            "relative symlink parent",
            vec![
                Step::Symlink("evil", &relative_victim),
                Step::File("evil/planted"),
            ],
            "symlink",
        ),
        (
            "nested symlink parent",
            vec![
                Step::Dir("a/"),
                Step::Symlink("a/b", "../.."),
                Step::File("a/b/planted"),
            ],
            "symlink",
        ),
        (
            "symlink then dir",
            vec![Step::Symlink("evil", &victim_path), Step::Dir("evil/sub/")],
            "symlink",
        ),
        (
            "hardlink absolute",
            vec![Step::Hardlink("h", &secret)],
            "hardlink",
        ),
        (
            "hardlink dotdot",
            vec![Step::Hardlink("h", &relative_secret)],
            "hardlink",
        ),
        (
            "hardlink through symlink",
            vec![
                Step::Symlink("s", &victim_path),
                Step::Hardlink("h", "s/secret"),
            ],
            "hardlink",
        ),
        (
            "hardlink to /etc/passwd",
            vec![Step::Hardlink("h", "/etc/passwd")],
            "hardlink",
        ),
    ];
    let victim_before = listing(&victim);
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();
    for (label, steps, expected) in cases {
        let archive = docker_archive(&[layer(&steps)], "hostile:test", None);
        let error = store.load(&archive[..]).expect_err(label);
        let chain = format!("{:?}", anyhow_chain(&error));
        assert!(chain.contains(expected), "{label}: {chain}");
        assert!(
            store.images().unwrap().is_empty(),
            "{label}: an image was created"
        );
        assert_eq!(
            store.blobs().list().unwrap().0.len(),
            0,
            "{label}: blobs left"
        );
        assert_consistent(&store);
        assert_eq!(
            listing(&victim),
            victim_before,
            "{label}: the victim directory changed"
        );
        assert_eq!(
            fs::read_to_string(victim.join("secret")).unwrap(),
            "do not touch\n"
        );
    }
    assert!(!std::path::Path::new("/tmp/rcompose-escape").exists());
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

/// The error and its sources as one string.
fn anyhow_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn absolute_paths_are_contained_in_the_layer() {
    let (dir, store) = store();
    let target = dir.path().join("abs-target");
    let path = target.to_str().unwrap().to_owned();
    let archive = docker_archive(&[layer(&[Step::File(&path)])], "abs:test", None);
    store.load(&archive[..]).unwrap();
    assert!(!target.exists(), "written outside the layer");
    let image = store.image("abs:test").unwrap();
    let layer_dir = &image.layer_dirs().unwrap()[0];
    assert_eq!(
        fs::read_to_string(layer_dir.join(path.trim_start_matches('/'))).unwrap(),
        "pwned\n"
    );
}

#[test]
fn tar_bombs_of_many_files_and_deep_paths() {
    let (_dir, store) = store();
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..30_000 {
        let header = raw_header(
            &format!("bomb/{}/{i}", i % 300),
            tar::EntryType::Regular,
            "",
            1,
        );
        builder.append(&header, &b"x"[..]).unwrap();
    }
    let many = builder.into_inner().unwrap();
    let archive = docker_archive(&[many], "bomb:many", None);
    store.load(&archive[..]).unwrap();
    let dir = &store.image("bomb:many").unwrap().layer_dirs().unwrap()[0];
    assert_eq!(fs::read_dir(dir.join("bomb/0")).unwrap().count(), 100);

    let mut builder = tar::Builder::new(Vec::new());
    let deep = format!("{}leaf", "d/".repeat(2500));
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, &deep, &b"x"[..]).unwrap();
    let archive = docker_archive(&[builder.into_inner().unwrap()], "bomb:deep", None);
    let error = store.load(&archive[..]).unwrap_err();
    assert!(
        anyhow_chain(&error).contains("longer than"),
        "{}",
        anyhow_chain(&error)
    );
    assert!(store.image("bomb:deep").is_err());
    assert_consistent(&store);
}
