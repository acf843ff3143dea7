//! Unpacked layers are what overlayfs needs: stacked read-only, whiteouts hide lower files, opaque
//! directories hide lower contents, and 45+ layers fit in one mount's option page.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use runtime::image::ImageRef;

use crate::support::{append_raw, docker_archive, skip_unless_root, store};

/// A read-only overlay mount, unmounted (detached) on drop even if the test panics.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lowerdir: &str, target: &Path) -> std::io::Result<Self> {
        let source = CString::new("overlay").unwrap();
        let target_c = CString::new(target.as_os_str().as_bytes()).unwrap();
        let options = CString::new(format!("lowerdir={lowerdir}")).unwrap();
        // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target_c.as_ptr(),
                source.as_ptr(),
                libc::MS_RDONLY,
                options.as_ptr().cast(),
            )
        };
        if rc == 0 {
            Ok(Self(target.to_owned()))
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let target = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

fn layer(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        append_raw(&mut builder, path, *kind, "", data);
    }
    builder.into_inner().unwrap()
}

#[test]
fn layers_stack_under_overlayfs_with_whiteouts_and_opaque_dirs() {
    if skip_unless_root() {
        return;
    }
    let (dir, store) = store();
    use tar::EntryType::{Directory, Regular};
    let base = layer(&[
        ("etc/", Directory, b""),
        ("etc/passwd", Regular, b"root\n"),
        ("etc/keep", Regular, b"keep\n"),
        ("var/", Directory, b""),
        ("var/old", Regular, b"old\n"),
    ]);
    let top = layer(&[
        ("etc/.wh.passwd", Regular, b""),
        ("var/", Directory, b""),
        ("var/.wh..wh..opq", Regular, b""),
        ("var/new", Regular, b"new\n"),
    ]);
    store
        .load(&docker_archive(&[base, top], "overlay:test", None)[..])
        .unwrap();
    let image = store.image("overlay:test").unwrap();
    let target = dir.path().join("mnt");
    fs::create_dir(&target).unwrap();
    let _mount = Overlay::mount(&image.lowerdir().unwrap(), &target).expect("overlay mount");
    assert!(
        !target.join("etc/passwd").exists(),
        "the whiteout hides the lower file"
    );
    assert_eq!(
        fs::read_to_string(target.join("etc/keep")).unwrap(),
        "keep\n"
    );
    assert!(
        !target.join("var/old").exists(),
        "the opaque directory hides lower contents"
    );
    assert_eq!(fs::read_to_string(target.join("var/new")).unwrap(), "new\n");
}

#[test]
fn forty_five_layers_fit_one_mount() {
    let (dir, store) = store();
    let layers: Vec<Vec<u8>> = (0..45)
        .map(|n| {
            layer(&[(
                &format!("layer{n}"),
                tar::EntryType::Regular,
                format!("{n}\n").as_bytes(),
            )])
        })
        .collect();
    store
        .load(&docker_archive(&layers, "many:layers", None)[..])
        .unwrap();
    let image = store
        .image(&ImageRef::parse("many:layers").unwrap().to_string())
        .unwrap();
    let lowerdir = image.lowerdir().unwrap();
    let per_layer = lowerdir.len() / 45;
    // The same store under the default root /var/lib/rcompose would need this many bytes:
    let at_default_root = 45 * ("/var/lib/rcompose/image/l/45:".len());
    assert!(
        at_default_root < 4096 / 2,
        "{at_default_root} bytes at the default root"
    );
    assert!(
        lowerdir.len() + "lowerdir=".len() < 4096,
        "{} bytes for 45 layers ({per_layer} per layer)",
        lowerdir.len()
    );
    if skip_unless_root() {
        return;
    }
    let target = dir.path().join("mnt");
    fs::create_dir(&target).unwrap();
    let _mount = Overlay::mount(&lowerdir, &target).expect("overlay mount of 45 layers");
    for n in [0, 22, 44] {
        assert_eq!(
            fs::read_to_string(target.join(format!("layer{n}"))).unwrap(),
            format!("{n}\n")
        );
    }
}
