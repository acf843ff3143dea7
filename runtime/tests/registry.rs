//! The registry client against a real registry (Debian's `docker-registry` on 127.0.0.1, started per
//! test): push and pull round trips with the same digests, HEAD skips, cross-repository mounts, a
//! missing tag, a corrupted blob (refused, the store unchanged), and a mirror serving docker.io names.

#[path = "../../tests/common/registry.rs"]
mod registry_fixture;

use std::sync::Mutex;

use registry_fixture::{Proxy, Registry, can_run_registry, multi_layer_archive};
use runtime::image::{ImageRef, ImageStore};
use runtime::registry::{self, Progress, Settings};

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&dir.path().join("state")).unwrap();
    (dir, store)
}

fn quiet(_: Progress) {}

fn name(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap()
}

/// A store with the three-layer test image loaded as `app:1`.
fn store_with_app() -> (tempfile::TempDir, ImageStore) {
    let (dir, store) = store();
    store
        .load(&multi_layer_archive("app:1", "hello from the registry")[..])
        .unwrap();
    (dir, store)
}

#[test]
fn push_then_pull_gives_the_same_image() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let settings = Settings::default();
    let (_dir, source) = store_with_app();
    let original = source.image("app:1").unwrap();
    let target = name(&format!("{}/team/app:1", registry.host()));

    let pushed = registry::push(&source, &settings, "app:1", &target, &quiet).unwrap();
    assert_eq!(pushed.digest, original.manifest_digest);
    assert_eq!(
        (pushed.uploaded, pushed.existing),
        (4, 0),
        "3 layers and the config"
    );
    let again = registry::push(&source, &settings, "app:1", &target, &quiet).unwrap();
    assert_eq!(
        (again.uploaded, again.existing),
        (0, 4),
        "HEAD finds every blob"
    );

    let (_dir2, store2) = store();
    let seen = Mutex::new(Vec::new());
    let record = |progress: Progress| seen.lock().unwrap().push(progress);
    let pulled = registry::pull(&store2, &settings, &target, &record).unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.id, original.id);
    assert_eq!((pulled.downloaded, pulled.existing), (3, 0));
    assert!(!pulled.up_to_date);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|p| matches!(p, Progress::Bytes { total, .. } if *total > 1 << 20)),
        "the big layer reports its bytes"
    );
    let image = store2.image(&target.to_string()).unwrap();
    assert_eq!(image.manifest_digest, original.manifest_digest);
    let diff_ids: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    let original_diff_ids: Vec<_> = original.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, original_diff_ids);
    let dirs = image.layer_dirs().expect("every layer unpacked");
    assert_eq!(
        std::fs::read_to_string(dirs[1].join("srv/greeting")).unwrap(),
        "hello from the registry\n"
    );
    // The repo digest names the image too.
    let by_digest = format!("{}/team/app@{}", registry.host(), pulled.digest);
    assert_eq!(store2.image(&by_digest).unwrap().id, original.id);

    let again = registry::pull(&store2, &settings, &target, &quiet).unwrap();
    assert!(again.up_to_date);
    assert_eq!((again.downloaded, again.existing), (0, 3));

    // Pulled by digest alone: the image is named by its repo digest.
    let (_dir3, store3) = store();
    let pinned = registry::pull(&store3, &settings, &name(&by_digest), &quiet).unwrap();
    assert_eq!(pinned.id, original.id);
    assert_eq!(pinned.names, vec![name(&by_digest)]);

    // The pulled image pushes elsewhere on the registry by mounting its blobs.
    let other = name(&format!("{}/other/app:2", registry.host()));
    let mounted = registry::push(&store2, &settings, &target.to_string(), &other, &quiet).unwrap();
    assert_eq!(mounted.digest, pushed.digest);
    assert_eq!((mounted.mounted, mounted.uploaded), (4, 0), "{mounted:?}");
}

#[test]
fn a_missing_tag_is_a_clear_error() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let (_dir, store) = store();
    let missing = name(&format!("{}/team/app:nope", registry.host()));
    let error = registry::pull(&store, &Settings::default(), &missing, &quiet).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("team/app:nope") && text.contains("not found"),
        "{text}"
    );
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn a_corrupted_blob_is_refused_and_the_store_stays_unchanged() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let settings = Settings::default();
    let (_dir, source) = store_with_app();
    let target = name(&format!("{}/team/app:1", registry.host()));
    registry::push(&source, &settings, "app:1", &target, &quiet).unwrap();
    let image = source.image("app:1").unwrap();
    let big = &image.layers[2].blob;
    let on_disk = registry.blob_path(&big.to_string());
    let mut bytes = std::fs::read(&on_disk).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&on_disk, bytes).unwrap();

    let (dir2, store2) = store();
    let error = registry::pull(&store2, &settings, &target, &quiet).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&big.to_string()) && text.contains("does not match its digest"),
        "{text}"
    );
    assert!(store2.images().unwrap().is_empty(), "no image");
    assert!(store2.layers().list().unwrap().is_empty(), "no layer left");
    let blobs: Vec<_> = std::fs::read_dir(dir2.path().join("state/image/blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "no blob left: {blobs:?}");
    let work: Vec<_> = std::fs::read_dir(dir2.path().join("state/image/tmp"))
        .unwrap()
        .collect();
    assert!(work.is_empty(), "no work area left: {work:?}");
    // The good layers' bytes stay for the next pull; the corrupted one's do not.
    assert!(
        !partials(dir2.path())
            .iter()
            .any(|(name, _)| name.starts_with(big.hex())),
        "bytes that are not the blob are not kept: {:?}",
        partials(dir2.path())
    );
}

#[test]
fn a_mirror_serves_docker_io_names_unchanged() {
    if !can_run_registry() {
        return;
    }
    let mirror = Registry::start();
    let (_dir, source) = store_with_app();
    let seeded = name(&format!("{}/library/redis:7", mirror.host()));
    registry::push(&source, &Settings::default(), "app:1", &seeded, &quiet).unwrap();

    // Offline: if the mirror failed, docker.io itself is never tried.
    let settings = Settings {
        mirrors: vec![format!("http://{}", mirror.host())],
        offline: true,
        ..Settings::default()
    };
    let (_dir2, store2) = store();
    let pulled = registry::pull(&store2, &settings, &name("redis:7"), &quiet).unwrap();
    assert_eq!(pulled.endpoint, format!("http://{}", mirror.host()));
    let image = store2.image("redis:7").unwrap();
    assert!(image.names.contains(&name("docker.io/library/redis:7")));
    assert_eq!(image.id, source.image("app:1").unwrap().id);
}

#[test]
fn an_index_with_two_platforms_gives_this_machines_image() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let settings = Settings::default();
    let (_dir, source) = store_with_app();
    source
        .load(&multi_layer_archive("other:1", "the other platform")[..])
        .unwrap();
    let ours = name(&format!("{}/team/app:ours", registry.host()));
    let theirs = name(&format!("{}/team/app:theirs", registry.host()));
    let ours_pushed = registry::push(&source, &settings, "app:1", &ours, &quiet).unwrap();
    let theirs_pushed = registry::push(&source, &settings, "other:1", &theirs, &quiet).unwrap();
    let entry = |digest: &runtime::image::Digest, size: u64, arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.to_string(),
            "size": size,
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let foreign = if registry_fixture::host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            entry(&theirs_pushed.digest, theirs_pushed.size, foreign),
            entry(&ours_pushed.digest, ours_pushed.size, registry_fixture::host_arch()),
        ],
    });
    let index = serde_json::to_vec(&index).unwrap();
    let response = ureq::put(format!(
        "http://{}/v2/team/app/manifests/multi",
        registry.host()
    ))
    .header("Content-Type", "application/vnd.oci.image.index.v1+json")
    .send(&index[..])
    .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", registry.log());

    let (_dir2, store2) = store();
    let multi = name(&format!("{}/team/app:multi", registry.host()));
    let pulled = registry::pull(&store2, &settings, &multi, &quiet).unwrap();
    assert_eq!(
        pulled.id,
        source.image("app:1").unwrap().id,
        "ours, not theirs"
    );
    let index_digest = runtime::image::Digest::of(&index);
    assert_eq!(
        pulled.digest, index_digest,
        "the repo digest is the index's"
    );
    let image = store2.image(&multi.to_string()).unwrap();
    assert_eq!(image.manifest_digest, ours_pushed.digest);
    let by_index = format!("{}/team/app@{index_digest}", registry.host());
    assert_eq!(store2.image(&by_index).unwrap().id, pulled.id);
}

/// The partial downloads a store keeps (`<store>/partial/<hex>.partial`), with their sizes.
fn partials(dir: &std::path::Path) -> Vec<(String, u64)> {
    let partial = dir.join("state/image/partial");
    let Ok(entries) = std::fs::read_dir(&partial) else {
        return Vec::new();
    };
    let mut found: Vec<(String, u64)> = entries
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_registry_dying_mid_layer_leaves_the_store_unchanged_and_the_next_pull_fetches_only_the_rest() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let settings = Settings::default();
    let (_dir, source) = store();
    source
        .load(&registry_fixture::archive_with_blob("big:1", "resumed", 6 << 20)[..])
        .unwrap();
    let pushed_name = name(&format!("{}/team/big:1", registry.host()));
    registry::push(&source, &settings, "big:1", &pushed_name, &quiet).unwrap();
    let original = source.image("big:1").unwrap();
    let blob_bytes: u64 = original.layers.iter().map(|layer| layer.blob_size).sum();

    // The registry dies after 4 MiB: in the middle of the 6 MiB layer.
    let dying = Proxy::start(registry.port, None, Some(4 << 20));
    let through = name(&format!("{}/team/big:1", dying.host()));
    let (dir2, store2) = store();
    let error = registry::pull(&store2, &settings, &through, &quiet).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&dying.host()) && text.contains("cannot reach"),
        "{text}"
    );
    assert!(store2.images().unwrap().is_empty(), "no image");
    assert!(store2.layers().list().unwrap().is_empty(), "no layer");
    let blobs: Vec<_> = std::fs::read_dir(dir2.path().join("state/image/blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "no blob: {blobs:?}");
    let kept: u64 = partials(dir2.path()).iter().map(|(_, size)| size).sum();
    assert!(
        kept > 2 << 20,
        "the bytes received are kept: {:?}",
        partials(dir2.path())
    );

    // Through a registry that ignores ranges, the pull still completes: the bytes it had are
    // skipped in the whole blob it gets (checked in a copy of the store, to resume below).
    let copy = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(dir2.path().join("state"))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(copied.success());
    let store3 = ImageStore::open(&copy.path().join("state")).unwrap();
    let ignoring = Proxy::ignoring_ranges(registry.port);
    let through = name(&format!("{}/team/big:1", ignoring.host()));
    let pulled = registry::pull(&store3, &settings, &through, &quiet).unwrap();
    assert_eq!(pulled.id, original.id);
    assert!(partials(copy.path()).is_empty());
    let big = original.layers[2].blob_size;
    assert!(
        ignoring.served() > big,
        "the 6 MiB layer came whole although part of it was kept: {} bytes",
        ignoring.served()
    );
    drop(store3);

    // Kept bytes that went bad on disk make the blob's digest wrong: that layer is fetched again
    // from its start, once, and the pull completes.
    let copy = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(dir2.path().join("state"))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(copied.success());
    let (largest, _) = partials(copy.path())
        .into_iter()
        .max_by_key(|(_, size)| *size)
        .unwrap();
    let bad = copy.path().join("state/image/partial").join(largest);
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&bad, bytes).unwrap();
    let store4 = ImageStore::open(&copy.path().join("state")).unwrap();
    let pulled = registry::pull(&store4, &settings, &pushed_name, &quiet).unwrap();
    assert_eq!(pulled.id, original.id);
    drop(store4);

    // Pulled again through a proxy that counts: only the rest crosses the wire (plus the
    // manifest, the config and HTTP headers, well under 64 KiB).
    let counting = Proxy::start(registry.port, None, None);
    let through = name(&format!("{}/team/big:1", counting.host()));
    let pulled = registry::pull(&store2, &settings, &through, &quiet).unwrap();
    assert_eq!(pulled.id, original.id);
    let served = counting.served();
    assert!(
        served < blob_bytes - kept + (64 << 10),
        "served {served} bytes for {blob_bytes} with {kept} kept"
    );
    assert!(
        partials(dir2.path()).is_empty(),
        "the partial downloads became the blobs: {:?}",
        partials(dir2.path())
    );
    let image = store2.image(&through.to_string()).unwrap();
    let dirs = image.layer_dirs().expect("every layer unpacked");
    assert_eq!(
        std::fs::read_to_string(dirs[1].join("srv/greeting")).unwrap(),
        "resumed\n"
    );
    for layer in &image.layers {
        assert!(
            store2.blobs().contains(&layer.blob) || layer.blob == layer.diff_id,
            "blob {} kept for push and save",
            layer.blob
        );
    }
}

#[test]
fn a_large_layer_goes_up_in_chunks_and_comes_back_the_same() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::with_access_log();
    let settings = Settings::default();
    let (_dir, source) = store();
    source
        .load(&registry_fixture::archive_with_blob("big:1", "chunked", 20 << 20)[..])
        .unwrap();
    let target = name(&format!("{}/team/chunked:1", registry.host()));
    let pushed = registry::push(&source, &settings, "big:1", &target, &quiet).unwrap();
    let original = source.image("big:1").unwrap();
    assert_eq!(pushed.digest, original.manifest_digest);
    let requests = registry.requests();
    let patches = requests
        .iter()
        .filter(|request| request.starts_with("PATCH "))
        .count();
    assert_eq!(
        patches, 3,
        "a 20 MiB layer in chunks of 8 MiB; small blobs in one PUT: {requests:#?}"
    );

    // A chunk whose connection breaks midway (the second, 12 MiB in): the push still
    // completes, with the same digest. distribution 2 refuses the chunk sent again and cannot say
    // where the upload stands, so the upload starts over (a third POST, after the config's and
    // the first). The repository has the small layers already (an image sharing them went there
    // first), so the big layer is all that goes through the proxy (with the config).
    source
        .load(&registry_fixture::archive_with_blob("small:1", "chunked", 1 << 10)[..])
        .unwrap();
    let first = name(&format!("{}/team/cut:0", registry.host()));
    registry::push(&source, &settings, "small:1", &first, &quiet).unwrap();
    let cutting = Proxy::cutting_upload(registry.port, 12 << 20);
    let again = name(&format!("{}/team/cut:1", cutting.host()));
    let before = registry.requests().len();
    let pushed_again = registry::push(&source, &settings, "big:1", &again, &quiet).unwrap();
    assert_eq!(pushed_again.digest, original.manifest_digest);
    let requests = registry.requests()[before..].to_vec();
    let count = |method: &str| {
        requests
            .iter()
            .filter(|request| request.starts_with(method))
            .count()
    };
    assert!(
        count("PATCH ") > 3 && count("POST ") >= 3,
        "the broken chunk was sent again: {requests:#?}"
    );

    let (_dir2, store2) = store();
    let pulled = registry::pull(&store2, &settings, &target, &quiet).unwrap();
    assert_eq!(pulled.id, original.id);
    assert_eq!(pulled.digest, original.manifest_digest);
    let again_pulled = registry::pull(&store2, &settings, &again, &quiet).unwrap();
    assert_eq!(again_pulled.id, original.id);
    let big = &original.layers[2];
    assert_eq!(
        store2.blobs().read(&big.blob).unwrap().len() as u64,
        big.blob_size
    );
}

#[test]
fn two_pulls_of_one_image_at_once_share_the_downloads() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let settings = Settings::default();
    let (_dir, source) = store_with_app();
    let target = name(&format!("{}/team/app:1", registry.host()));
    registry::push(&source, &settings, "app:1", &target, &quiet).unwrap();

    let (dir2, store2) = store();
    let pulled: Vec<_> = std::thread::scope(|scope| {
        let pulls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| registry::pull(&store2, &settings, &target, &quiet)))
            .collect();
        pulls
            .into_iter()
            .map(|pull| pull.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(pulled[0].id, pulled[1].id);
    assert_eq!(store2.images().unwrap().len(), 1);
    let image = store2.image(&target.to_string()).unwrap();
    assert_eq!(
        std::fs::read_to_string(image.layer_dirs().unwrap()[1].join("srv/greeting")).unwrap(),
        "hello from the registry\n"
    );
    assert_eq!(store2.layers().list().unwrap().len(), 3);
    assert!(
        partials(dir2.path()).is_empty(),
        "{:?}",
        partials(dir2.path())
    );
}

#[test]
fn a_push_whose_connection_breaks_mid_blob_starts_that_upload_over() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::with_access_log();
    let settings = Settings::default();
    let (_dir, source) = store_with_app();
    let original = source.image("app:1").unwrap();
    // 1 MiB into the uploads: inside the busybox layer or the 3 MiB one, each sent in one PUT.
    let cutting = Proxy::cutting_upload(registry.port, 1 << 20);
    let target = name(&format!("{}/team/app:1", cutting.host()));
    let pushed = registry::push(&source, &settings, "app:1", &target, &quiet).unwrap();
    assert_eq!(pushed.digest, original.manifest_digest);
    let posts = registry
        .requests()
        .iter()
        .filter(|request| request.starts_with("POST "))
        .count();
    assert!(
        posts > 4,
        "3 layers and the config, and one again: {:#?}",
        registry.requests()
    );

    let (_dir2, store2) = store();
    let direct = name(&format!("{}/team/app:1", registry.host()));
    let pulled = registry::pull(&store2, &settings, &direct, &quiet).unwrap();
    assert_eq!(pulled.id, original.id);
}
