//! Import, load, tag, rm, prune and save through the public API; corrupt input and crashes leave
//! nothing behind.

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use runtime::image::{ArchiveFormat, Change, Digest, Error, ImageRef, ImageStore};

use crate::support::{count, docker_archive, rootfs, store, tar_dir};

/// Everything in the store is referenced and complete, and no work area is left.
pub fn assert_consistent(store: &ImageStore) {
    assert_eq!(count(store, "tmp"), 0, "work areas left in tmp/");
    let images = store.images().unwrap();
    let mut referenced = std::collections::BTreeSet::new();
    let mut layers = std::collections::BTreeSet::new();
    for image in &images {
        referenced.insert(image.manifest_digest.clone());
        referenced.insert(image.id.clone());
        for layer in &image.layers {
            let unpacked = layer
                .unpacked
                .as_ref()
                .unwrap_or_else(|| panic!("layer {} of {} not unpacked", layer.diff_id, image.id));
            assert!(unpacked.dir.is_dir());
            if unpacked.split {
                assert!(
                    !store.blobs().contains(&layer.blob),
                    "layer {} is stored twice",
                    layer.diff_id
                );
            } else {
                referenced.insert(layer.blob.clone());
            }
            layers.insert(unpacked.id.to_string());
        }
    }
    let (blobs, strays) = store.blobs().list().unwrap();
    assert!(strays.is_empty(), "stray files in blobs/: {strays:?}");
    assert_eq!(
        blobs.into_iter().collect::<std::collections::BTreeSet<_>>(),
        referenced,
        "unreferenced or missing blobs"
    );
    let dirs: std::collections::BTreeSet<String> = fs::read_dir(store.root().join("l"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, layers, "layer directories and layer records disagree");
}

fn name(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap()
}

#[test]
fn import_applies_changes_and_dedupes_layers_across_compressions() {
    let (dir, store) = store();
    let plain = tar_dir(&rootfs(dir.path()));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&plain).unwrap();
    let gzip = gzip.finish().unwrap();
    let zstd = zstd::encode_all(&plain[..], 3).unwrap();
    let changes: Vec<Change> = [
        "CMD [\"/bin/sh\",\"-c\",\"echo hi\"]",
        "ENTRYPOINT [\"/bin/busybox\"]",
        "ENV A=1 B=\"two words\"",
        "WORKDIR /tmp",
        "USER 1000:1000",
    ]
    .iter()
    .map(|text| Change::parse(text).unwrap())
    .collect();
    let first = store
        .import(
            &plain[..],
            Some(&name("rootfs:plain")),
            &changes,
            "plain.tar",
        )
        .unwrap();
    store
        .import(&gzip[..], Some(&name("rootfs:gzip")), &[], "gzip.tar.gz")
        .unwrap();
    store
        .import(&zstd[..], Some(&name("rootfs:zstd")), &[], "zstd.tar.zst")
        .unwrap();

    let image = store.image("rootfs:plain").unwrap();
    assert_eq!(image.id, first.id);
    let config = image.config.config().clone().unwrap();
    assert_eq!(config.cmd().clone().unwrap(), ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(config.entrypoint().clone().unwrap(), ["/bin/busybox"]);
    assert_eq!(config.env().clone().unwrap(), ["A=1", "B=two words"]);
    assert_eq!(config.working_dir().as_deref(), Some("/tmp"));
    assert_eq!(config.user().as_deref(), Some("1000:1000"));
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].diff_id, Digest::of(&plain));
    let layer_dir = &image.layer_dirs().unwrap()[0];
    assert_eq!(
        fs::read_to_string(layer_dir.join("etc/hostname")).unwrap(),
        "rootfs\n"
    );
    assert_eq!(
        fs::read_link(layer_dir.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );

    // Three compressions of one tarball: three images, one layer on disk.
    for tag in ["rootfs:gzip", "rootfs:zstd"] {
        assert_eq!(
            store.image(tag).unwrap().layers[0].diff_id,
            image.layers[0].diff_id,
            "{tag}"
        );
    }
    assert_eq!(store.images().unwrap().len(), 3);
    assert_eq!(count(&store, "l"), 1);
    assert_consistent(&store);
}

#[test]
fn load_is_idempotent_and_images_share_their_base() {
    let (_dir, store) = store();
    let base = {
        let mut builder = tar::Builder::new(Vec::new());
        crate::support::append(&mut builder, "etc/base", &vec![b'b'; 300_000]);
        builder.into_inner().unwrap()
    };
    let app = |n: u8| {
        let mut builder = tar::Builder::new(Vec::new());
        crate::support::append(&mut builder, "app/file", &[n; 1000]);
        builder.into_inner().unwrap()
    };
    let one = docker_archive(&[base.clone(), app(1)], "app:one", None);
    let two = docker_archive(&[base, app(2)], "app:two", None);
    let loaded = store.load(&one[..]).unwrap();
    assert_eq!(loaded[0].names, [name("app:one")]);
    store.load(&two[..]).unwrap();
    assert_eq!(count(&store, "l"), 3, "base layer unpacked once");
    let blobs_before = store.blobs().list().unwrap().0.len();
    let again = store.load(&one[..]).unwrap();
    assert_eq!(again[0].id, loaded[0].id);
    assert_eq!(
        again[0].manifest, loaded[0].manifest,
        "the generated manifest is deterministic"
    );
    assert!(again[0].replaced.is_empty());
    assert_eq!(store.blobs().list().unwrap().0.len(), blobs_before);
    let one = store.image("app:one").unwrap();
    let two = store.image("app:two").unwrap();
    assert_eq!(one.layers[0].unpacked, two.layers[0].unpacked);
    assert_ne!(one.layers[1].unpacked, two.layers[1].unpacked);
    assert_consistent(&store);
}

#[test]
fn tag_rm_and_prune_follow_docker() {
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));
    let image = store
        .import(&layer[..], Some(&name("first")), &[], "-")
        .unwrap();
    store.tag("first", &name("second:v2")).unwrap();
    store
        .tag(image.id.short(), &name("localhost:5000/third"))
        .unwrap();
    assert_eq!(store.image("second:v2").unwrap().names.len(), 3);
    assert!(matches!(store.image(&image.id.hex()[..4]), Ok(found) if found.id == image.id));
    assert!(matches!(store.image("nope"), Err(Error::NotFound(_))));

    // By name: only the name goes.
    let removal = store.remove("second:v2", false).unwrap();
    assert_eq!((removal.untagged.len(), removal.deleted.clone()), (1, None));
    // By id with several names: needs force.
    let error = store.remove(&image.id.to_string(), false).unwrap_err();
    assert!(matches!(error, Error::MultipleNames { .. }), "{error}");
    let removal = store.remove(&image.id.to_string(), true).unwrap();
    assert_eq!(removal.deleted, Some(image.id.clone()));
    assert_eq!(removal.untagged.len(), 2);
    assert!(store.images().unwrap().is_empty());
    assert_eq!(
        (store.blobs().list().unwrap().0.len(), count(&store, "l")),
        (0, 0),
        "rm deletes unreferenced content"
    );

    // Moving a name leaves the old image dangling; prune removes it and only its own content.
    let old = store
        .import(&layer[..], Some(&name("app")), &[], "old")
        .unwrap();
    let newer = store
        .import(
            &layer[..],
            Some(&name("app")),
            &[Change::parse("USER nobody").unwrap()],
            "new",
        )
        .unwrap();
    assert_ne!(old.id, newer.id);
    assert_eq!(newer.replaced.len(), 1);
    let dangling = store.image(&old.id.to_string()).unwrap();
    assert!(dangling.names.is_empty());
    let report = store.prune().unwrap();
    assert_eq!(report.deleted_images, std::slice::from_ref(&old.id));
    assert_eq!(
        report.removed_layers, 0,
        "the layer is shared with the named image"
    );
    assert_eq!(
        report.removed_blobs, 2,
        "manifest and config of the dangling image"
    );
    assert!(store.image(&old.id.to_string()).is_err());
    assert_eq!(store.images().unwrap().len(), 1);
    assert_consistent(&store);
}

#[test]
fn save_and_load_round_trip_between_stores() {
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));
    let image = store
        .import(&layer[..], Some(&name("round:trip")), &[], "-")
        .unwrap();
    for format in [ArchiveFormat::Docker, ArchiveFormat::Oci] {
        let archive = dir.path().join(format!("{format:?}.tar"));
        store
            .save_to_file(&["round:trip".to_owned()], format, &archive)
            .unwrap();
        let (_other_dir, other) = crate::support::store();
        let loaded = other.load(fs::File::open(&archive).unwrap()).unwrap();
        assert_eq!(loaded[0].id, image.id, "{format:?}");
        assert_eq!(
            loaded[0].manifest, image.manifest,
            "{format:?} keeps the manifest"
        );
        assert_eq!(loaded[0].names, [name("round:trip")], "{format:?}");
        assert_consistent(&other);
    }
    let missing = dir.path().join("missing.tar");
    let error = store
        .save_to_file(&["nope".to_owned()], ArchiveFormat::Docker, &missing)
        .unwrap_err();
    assert!(matches!(error, Error::NotFound(_)));
    assert!(!missing.exists(), "a failed save leaves no file");
}

fn assert_nothing_loaded(store: &ImageStore) {
    assert!(store.images().unwrap().is_empty());
    assert_eq!(
        store.blobs().list().unwrap().0.len(),
        0,
        "blobs left behind"
    );
    assert_eq!(count(store, "l"), 0, "layers left behind");
    assert_consistent(store);
}

#[test]
fn corrupt_archives_fail_clearly_and_leave_nothing() {
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));

    let wrong_diff = docker_archive(
        std::slice::from_ref(&layer),
        "bad:diff",
        Some(vec![Digest::of(b"something else")]),
    );
    let error = store.load(&wrong_diff[..]).unwrap_err();
    assert!(matches!(error, Error::DiffIdMismatch { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("does not match the image config"),
        "{error}"
    );
    assert_nothing_loaded(&store);

    let good = docker_archive(std::slice::from_ref(&layer), "good:one", None);
    let truncated = &good[..good.len() / 2];
    let error = store.load(truncated).unwrap_err();
    assert!(
        matches!(error, Error::Input(_) | Error::Archive(_)),
        "{error}"
    );
    assert_nothing_loaded(&store);

    let error = store.load(&layer[..]).unwrap_err();
    assert!(error.to_string().contains("use `image import`"), "{error}");
    assert_nothing_loaded(&store);

    let error = store
        .load(&b"definitely not a tar archive, just text"[..])
        .unwrap_err();
    assert!(
        matches!(error, Error::Input(_) | Error::Archive(_)),
        "{error}"
    );
    assert_nothing_loaded(&store);

    // An OCI archive whose layer blob does not match its name.
    store
        .import(&layer[..], Some(&name("x")), &[], "-")
        .unwrap();
    let image = store.image("x").unwrap();
    let mut oci = Vec::new();
    store
        .save(&["x".to_owned()], ArchiveFormat::Oci, &mut oci)
        .unwrap();
    store.remove("x", false).unwrap();
    let needle = b"root:x:0:0:root:/root:/bin/sh";
    let at = oci.windows(needle.len()).position(|w| w == needle).unwrap();
    oci[at] = b'R';
    let error = store.load(&oci[..]).unwrap_err();
    assert!(error.to_string().contains("corrupt"), "{error}");
    assert!(
        error
            .to_string()
            .contains(&image.layers[0].blob.to_string()),
        "names the blob: {error}"
    );
    assert_nothing_loaded(&store);
}

#[test]
fn a_corrupted_store_blob_is_detected_on_read() {
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));
    let image = store
        .import(&layer[..], Some(&name("x")), &[], "-")
        .unwrap();
    let path = store.blobs().path(&image.manifest);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 1;
    fs::write(&path, bytes).unwrap();
    let error = store.image("x").unwrap_err();
    assert!(matches!(error, Error::CorruptBlob { .. }), "{error}");
    assert!(error.to_string().contains(&image.manifest.to_string()));
}

#[test]
fn open_cleans_leftovers_of_killed_commands() {
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));
    let kept = store
        .import(&layer[..], Some(&name("kept")), &[], "-")
        .unwrap();
    // What a command killed at various points leaves: a work area with a spooled file and a half
    // unpacked layer, a blob moved in but never committed, a layer directory without its record, a
    // temporary index file.
    let work = store.root().join("tmp/load-1-2-3");
    fs::create_dir_all(work.join("layer-x/usr/bin")).unwrap();
    fs::write(work.join("spool-0"), b"partial").unwrap();
    let orphan_blob = store.blobs().write(b"uncommitted blob").unwrap();
    fs::create_dir_all(store.root().join("l/77/etc")).unwrap();
    fs::write(store.root().join(".index.json.tmp-1-2"), b"{").unwrap();
    drop(store);
    let store = ImageStore::open(dir.path()).unwrap();
    assert!(!store.blobs().contains(&orphan_blob));
    assert!(!store.root().join("l/77").exists());
    assert!(!store.root().join(".index.json.tmp-1-2").exists());
    assert_eq!(store.image("kept").unwrap().id, kept.id);
    assert_consistent(&store);
}

/// The body of `a_load_killed_at_any_moment_leaves_no_half_image` when run as its child process.
fn crash_child() -> bool {
    let Ok(root) = std::env::var("RCOMPOSE_IT_CRASH_ROOT") else {
        return false;
    };
    let store = ImageStore::open(std::path::Path::new(&root)).unwrap();
    store.load(std::io::stdin().lock()).unwrap();
    true
}

#[test]
fn a_load_killed_at_any_moment_leaves_no_half_image() {
    if crash_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers: Vec<Vec<u8>> = (0..4u8)
        .map(|n| {
            let mut builder = tar::Builder::new(Vec::new());
            for i in 0..400 {
                crate::support::append(&mut builder, &format!("d{n}/f{i}"), &vec![n; 8000]);
            }
            builder.into_inner().unwrap()
        })
        .collect();
    let archive = docker_archive(&layers, "crash:test", None);
    let root = dir.path().join("root");
    let mut completed = 0;
    let delays = [
        0u64, 2, 5, 10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 1000,
    ];
    // The last run is not killed: the store must also be right after a load that finished.
    for delay_ms in delays.iter().copied().map(Some).chain([None]) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lifecycle::a_load_killed_at_any_moment_leaves_no_half_image",
                "--nocapture",
            ])
            .env("RCOMPOSE_IT_CRASH_ROOT", &root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Feed half at once, the rest after the delay, then kill: the kill lands while spooling, while
        // unpacking or after the commit, depending on the delay.
        let _ = stdin.write_all(&archive[..archive.len() / 2]);
        std::thread::sleep(Duration::from_millis(delay_ms.unwrap_or(0)));
        let _ = stdin.write_all(&archive[archive.len() / 2..]);
        drop(stdin);
        if let Some(delay_ms) = delay_ms {
            std::thread::sleep(Duration::from_millis(delay_ms));
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        completed += usize::from(status.success());
        let store = ImageStore::open(&root).unwrap();
        match store.images().unwrap().as_slice() {
            [] => {}
            [image] => assert_eq!(
                image.names,
                [name("crash:test")],
                "a visible image is a whole image"
            ),
            more => panic!("unexpected images {more:?}"),
        }
        assert_consistent(&store);
        let _ = store.remove("crash:test", true);
    }
    eprintln!(
        "{completed} of {} child loads finished before the kill",
        delays.len() + 1
    );
    assert!(completed >= 1, "the load that was not killed must finish");
}

#[test]
fn layers_are_stored_once_and_saved_byte_for_byte() {
    if crate::support::skip_unless_root() {
        return;
    }
    let (dir, store) = store();
    let mut builder = tar::Builder::new(Vec::new());
    use crate::support::append_raw;
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    append_raw(&mut builder, "a", Regular, "", b"first version");
    append_raw(
        &mut builder,
        "a",
        Regular,
        "",
        b"second version, replacing the first",
    );
    append_raw(&mut builder, "d/", Directory, "", b"");
    append_raw(
        &mut builder,
        "d/x",
        Regular,
        "",
        b"under a directory that a symlink replaces",
    );
    append_raw(&mut builder, "d", Symlink, "a", b"");
    append_raw(&mut builder, "h", Link, "a", b"");
    append_raw(&mut builder, "big", Regular, "", &vec![0xabu8; 3 << 20]);
    append_raw(&mut builder, "empty", Regular, "", b"");
    let mut layer = builder.into_inner().unwrap();
    layer.extend_from_slice(&[0u8; 4096]); // trailing zeros beyond the end marker are part of the digest
    let archive = docker_archive(std::slice::from_ref(&layer), "split:test", None);
    store.load(&archive[..]).unwrap();
    let image = store.image("split:test").unwrap();
    let unpacked = image.layers[0].unpacked.clone().unwrap();
    assert!(unpacked.split, "an uncompressed layer is stored as a split");
    assert!(!store.blobs().contains(&image.layers[0].blob));
    let split_size = fs::metadata(
        store
            .root()
            .join("layers/split")
            .join(unpacked.diff_id.hex()),
    )
    .unwrap()
    .len();
    assert!(
        split_size < 200_000,
        "the split holds headers and replaced data only: {split_size} bytes"
    );

    let (size, mut reader) = store.blob_reader(&image.layers[0].blob).unwrap();
    let mut reproduced = Vec::new();
    reader.read_to_end(&mut reproduced).unwrap();
    assert_eq!(size, layer.len() as u64);
    assert!(
        reproduced == layer,
        "the tarball is reproduced byte for byte"
    );

    // Loading the same archive again does not bring the tarball back.
    store.load(&archive[..]).unwrap();
    assert!(!store.blobs().contains(&image.layers[0].blob));
    assert_consistent(&store);

    // A layer directory changed behind the store's back is reported, not exported.
    fs::write(unpacked.dir.join("big"), b"changed").unwrap();
    let out = dir.path().join("out.tar");
    let error = store
        .save_to_file(&["split:test".to_owned()], ArchiveFormat::Docker, &out)
        .unwrap_err();
    assert!(matches!(error, Error::BlobRead { .. }), "{error}");
    assert!(!out.exists());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn compressed_layers_are_checked_against_their_diff_ids() {
    let (dir, store) = store();
    let plain = tar_dir(&rootfs(dir.path()));
    let gz = gzip(&plain);
    let zst = zstd::encode_all(&plain[..], 1).unwrap();
    let good = docker_archive(
        &[gz.clone(), zst],
        "compressed:ok",
        Some(vec![Digest::of(&plain), Digest::of(&plain)]),
    );
    let loaded = store.load(&good[..]).unwrap();
    let image = store.image("compressed:ok").unwrap();
    assert_eq!(image.id, loaded[0].id);
    assert_eq!(
        image.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        image.layers[1].media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        image.layers[0].unpacked, image.layers[1].unpacked,
        "same content, one directory"
    );
    assert!(
        store.blobs().contains(&Digest::of(&gz)),
        "compressed blobs are kept as received"
    );
    let bad = docker_archive(&[gz], "compressed:bad", Some(vec![Digest::of(b"not it")]));
    let error = store.load(&bad[..]).unwrap_err();
    assert!(matches!(error, Error::DiffIdMismatch { .. }), "{error}");
    assert!(store.image("compressed:bad").is_err());
    assert_consistent(&store);
}

/// The platform docker calls this host.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn a_multi_platform_oci_archive_loads_this_hosts_image() {
    let (dir, store) = store();
    let layer = gzip(&tar_dir(&rootfs(dir.path())));
    let diff_id = Digest::of(&tar_dir(&dir.path().join("rootfs")));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let descriptor = |media: &str, bytes: &[u8]| serde_json::json!({"mediaType": media, "digest": Digest::of(bytes).to_string(), "size": bytes.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
    }))
    .unwrap();
    // The other platform's manifest is named but absent, as in a single-platform export of a list.
    let mut this = descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
    this["platform"] = serde_json::json!({"architecture": host_arch(), "os": "linux"});
    let mut other = descriptor("application/vnd.oci.image.manifest.v1+json", b"absent");
    other["platform"] = serde_json::json!({"architecture": "s390x", "os": "linux"});
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [other, this],
    }))
    .unwrap();
    let mut top = descriptor("application/vnd.oci.image.index.v1+json", &list);
    top["annotations"] = serde_json::json!({"io.containerd.image.name": "docker.io/multi/arch:1", "org.opencontainers.image.ref.name": "1"});
    let index =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    crate::support::append(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    for blob in [&config, &manifest, &list, &layer] {
        crate::support::append(
            &mut builder,
            &format!("blobs/sha256/{}", Digest::of(blob).hex()),
            blob,
        );
    }
    crate::support::append(&mut builder, "index.json", &index);
    let loaded = store.load(&builder.into_inner().unwrap()[..]).unwrap();
    assert_eq!(loaded[0].names, [name("multi/arch:1")]);
    assert_eq!(
        loaded[0].manifest,
        Digest::of(&manifest),
        "the platform's own manifest is kept"
    );
    assert_eq!(
        store
            .image("multi/arch:1")
            .unwrap()
            .config
            .architecture()
            .to_string(),
        host_arch()
    );
    assert_consistent(&store);
}
