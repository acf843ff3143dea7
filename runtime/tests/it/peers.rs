//! Round trips with the real peer tools: an OCI layout made by `umoci` and a docker-archive made by
//! `skopeo copy` load correctly, and what rcompose saves `skopeo inspect` reads with the same layer
//! digests. Skipped with a message when a tool is missing, failed under `RCOMPOSE_TEST_ROOT=1`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use runtime::image::{ArchiveFormat, ImageRef};

use crate::lifecycle::assert_consistent;
use crate::support::{rootfs, run, skip_unless_root, skip_without, store, tar_dir};

/// An OCI layout made by umoci: the rootfs, a second layer, a whiteout of /etc/passwd, a config.
fn umoci_layout(dir: &Path) -> std::path::PathBuf {
    let layout = dir.join("layout");
    let image = format!("{}:latest", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(rootfs(dir))
        .arg("/"));
    let extra = dir.join("extra");
    fs::create_dir_all(extra.join("etc")).unwrap();
    fs::write(extra.join("etc/motd"), "from umoci\n").unwrap();
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(&extra)
        .arg("/"));
    run(Command::new("umoci").args(["insert", "--image", &image, "--whiteout", "/etc/passwd"]));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.cmd",
        "/bin/sh",
        "--config.env",
        "UMOCI=1",
    ]));
    layout
}

fn skopeo_layers(reference: &str) -> Vec<String> {
    let inspect: serde_json::Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", reference]))).unwrap();
    inspect["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn loads_an_oci_archive_made_by_umoci() {
    if skip_without("umoci") || skip_unless_root() {
        return;
    }
    let (dir, store) = store();
    let layout = umoci_layout(dir.path());
    let archive = tar_dir(&layout);
    let loaded = store.load(&archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(
        loaded[0].names.is_empty(),
        "umoci names the image only by the tag \"latest\""
    );
    assert!(
        loaded[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("image tag"),
        "{:?}",
        loaded[0].note
    );
    let image = store
        .tag(
            &loaded[0].id.to_string(),
            &ImageRef::parse("umoci/made:v1").unwrap(),
        )
        .unwrap();
    let config = image.config.config().clone().unwrap();
    assert_eq!(config.cmd().clone().unwrap(), ["/bin/sh"]);
    assert!(
        config
            .env()
            .clone()
            .unwrap()
            .contains(&"UMOCI=1".to_owned())
    );
    assert_eq!(image.layers.len(), 3);
    assert!(
        image
            .layers
            .iter()
            .all(|layer| layer.media_type.ends_with("+gzip")),
        "umoci compresses layers"
    );
    let dirs = image.layer_dirs().unwrap();
    assert_eq!(
        fs::read_to_string(dirs[0].join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    assert_eq!(
        fs::read_to_string(dirs[1].join("etc/motd")).unwrap(),
        "from umoci\n"
    );
    let whiteout = fs::symlink_metadata(dirs[2].join("etc/passwd")).unwrap();
    assert!(
        whiteout.file_type().is_char_device() && whiteout.rdev() == 0,
        "overlay whiteout for /etc/passwd"
    );
    // The diff ids skopeo computes for the layout are the ones we verified while unpacking.
    if !skip_without("skopeo") {
        let oci = format!("oci:{}:latest", layout.display());
        let out = dir.path().join("skopeo.tar");
        run(Command::new("skopeo").args([
            "copy",
            &oci,
            &format!("docker-archive:{}:skopeo/made:v2", out.display()),
        ]));
        let docker_layers = skopeo_layers(&format!("docker-archive:{}", out.display()));
        let diff_ids: Vec<String> = image
            .layers
            .iter()
            .map(|layer| layer.diff_id.to_string())
            .collect();
        assert_eq!(docker_layers, diff_ids);
    }
    assert_consistent(&store);
}

#[test]
fn loads_a_docker_archive_made_by_skopeo() {
    if skip_without("skopeo") || skip_without("umoci") || skip_unless_root() {
        return;
    }
    let (dir, store) = store();
    let layout = umoci_layout(dir.path());
    let archive = dir.path().join("docker.tar");
    let oci = format!("oci:{}:latest", layout.display());
    run(Command::new("skopeo").args([
        "copy",
        &oci,
        &format!(
            "docker-archive:{}:example.com/peer/app:v1",
            archive.display()
        ),
    ]));
    let loaded = store.load(fs::File::open(&archive).unwrap()).unwrap();
    assert_eq!(
        loaded[0].names,
        [ImageRef::parse("example.com/peer/app:v1").unwrap()]
    );
    let image = store.image("example.com/peer/app:v1").unwrap();
    let layers = skopeo_layers(&format!("docker-archive:{}", archive.display()));
    assert_eq!(
        image
            .layers
            .iter()
            .map(|layer| layer.diff_id.to_string())
            .collect::<Vec<_>>(),
        layers
    );
    let dirs = image.layer_dirs().unwrap();
    assert!(
        fs::symlink_metadata(dirs[2].join("etc/passwd"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_consistent(&store);
}

#[test]
fn skopeo_reads_what_rcompose_saves_with_the_same_layer_digests() {
    if skip_without("skopeo") {
        return;
    }
    let (dir, store) = store();
    let layer = tar_dir(&rootfs(dir.path()));
    store
        .import(
            &layer[..],
            Some(&ImageRef::parse("saved/app:v1").unwrap()),
            &[],
            "-",
        )
        .unwrap();
    let image = store.image("saved/app:v1").unwrap();
    let diff_ids: Vec<String> = image
        .layers
        .iter()
        .map(|layer| layer.diff_id.to_string())
        .collect();

    let docker = dir.path().join("docker.tar");
    store
        .save_to_file(&["saved/app:v1".to_owned()], ArchiveFormat::Docker, &docker)
        .unwrap();
    let inspect: serde_json::Value =
        serde_json::from_str(&run(Command::new("skopeo")
            .args(["inspect", &format!("docker-archive:{}", docker.display())])))
        .unwrap();
    assert_eq!(
        inspect["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<Vec<_>>(),
        diff_ids
    );
    assert_eq!(inspect["Os"], "linux");
    let config: serde_json::Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("docker-archive:{}", docker.display()),
    ])))
    .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);

    let oci = dir.path().join("oci.tar");
    store
        .save_to_file(&["saved/app:v1".to_owned()], ArchiveFormat::Oci, &oci)
        .unwrap();
    let blobs: Vec<String> = image
        .layers
        .iter()
        .map(|layer| layer.blob.to_string())
        .collect();
    assert_eq!(
        skopeo_layers(&format!("oci-archive:{}:v1", oci.display())),
        blobs
    );

    // The store itself is an OCI layout peers can read.
    let store_ref = format!("oci:{}:docker.io/saved/app:v1", store.root().display());
    assert_eq!(skopeo_layers(&store_ref), blobs);

    // And skopeo can turn our archive into an OCI layout umoci unpacks.
    if !skip_without("umoci") && !skip_unless_root() {
        let layout = dir.path().join("copied");
        run(Command::new("skopeo").args([
            "copy",
            &format!("docker-archive:{}", docker.display()),
            &format!("oci:{}:x", layout.display()),
        ]));
        let bundle = dir.path().join("bundle");
        run(Command::new("umoci")
            .args(["unpack", "--image", &format!("{}:x", layout.display())])
            .arg(&bundle));
        assert_eq!(
            fs::read_to_string(bundle.join("rootfs/etc/hostname")).unwrap(),
            "rootfs\n"
        );
    }
}
