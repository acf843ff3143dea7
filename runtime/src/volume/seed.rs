//! Seeding a new volume from an image, as docker does when an empty volume is mounted where the image
//! has content: the image's directory at the mount target, as the container would see it, is copied
//! into the volume with its ownership, modes, timestamps, symlinks, hard links, special files and the
//! extended attributes that carry meaning (file capabilities, POSIX ACLs).
//!
//! The image's view is read from its unpacked layers directly, without mounting an overlay: a path is
//! resolved component by component from the top layer down, the way overlayfs merges them (an
//! upper entry hides lower ones; a whiteout, a 0/0 character device, deletes a name; a directory
//! marked `trusted.overlay.opaque=y` hides what lower layers have under it; symlinks resolve inside
//! the image, never on the host). No mount means nothing can be left mounted by a crash, and it works
//! where the caller may not mount.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::store::{IoError, ctx};
use crate::sys::{self, NodeKind};

/// Symlinks followed while resolving one path before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Extended attributes copied with each file or directory: those with a meaning the container relies
/// on. Overlay's own (`trusted.overlay.*`) are deliberately not copied.
const XATTRS: [&[u8]; 3] = [
    b"security.capability",
    b"system.posix_acl_access",
    b"system.posix_acl_default",
];

const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

/// What the merged view has under one name in a directory.
enum Top {
    /// Nothing, or a whiteout.
    Missing,
    /// A directory: the layer directories that make it up, top first.
    Dir(Vec<PathBuf>),
    /// Anything else: the topmost entry.
    Entry(PathBuf, Metadata),
}

fn lstat(path: &Path) -> Result<Option<Metadata>, IoError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) => Ok(Some(metadata)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        // A component that is a file in this layer: nothing below it here.
        Err(error) if error.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(error) => Err(IoError::new("inspect", path, error)),
    }
}

fn is_whiteout(metadata: &Metadata) -> bool {
    metadata.file_type().is_char_device() && sys::major_minor(metadata.rdev()) == (0, 0)
}

fn is_opaque(path: &Path) -> bool {
    matches!(sys::lgetxattr(path, OPAQUE_XATTR), Ok(Some(value)) if value == b"y")
}

/// The merged entry `name` of the directory made of `dirs` (top first).
fn lookup(dirs: &[PathBuf], name: &OsStr) -> Result<Top, IoError> {
    let mut found: Option<Vec<PathBuf>> = None;
    for dir in dirs {
        let candidate = dir.join(name);
        let Some(metadata) = lstat(&candidate)? else {
            continue;
        };
        match &mut found {
            None => {
                if is_whiteout(&metadata) {
                    return Ok(Top::Missing);
                }
                if !metadata.is_dir() {
                    return Ok(Top::Entry(candidate, metadata));
                }
                let opaque = is_opaque(&candidate);
                found = Some(vec![candidate]);
                if opaque {
                    break;
                }
            }
            Some(list) => {
                // A lower directory joins the union; anything else (a whiteout, a file) ends it.
                if !metadata.is_dir() {
                    break;
                }
                let opaque = is_opaque(&candidate);
                list.push(candidate);
                if opaque {
                    break;
                }
            }
        }
    }
    Ok(found.map_or(Top::Missing, Top::Dir))
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// The layer directories (top first) whose union is the image's directory at `path`, resolving
/// symlinks inside the image; `None` when the image has no directory there. `layers` are base first,
/// as [`crate::container::Rootfs::Layers`] lists them.
pub fn image_dir(layers: &[PathBuf], path: &str) -> Result<Option<Vec<PathBuf>>, IoError> {
    let roots: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    // The directories of each resolved component, so that `..` is a pop.
    let mut stack: Vec<Vec<PathBuf>> = vec![roots.clone()];
    let mut pending = components(Path::new(path));
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let current = stack.last().expect("the root stays on the stack");
        match lookup(current, &part)? {
            Top::Missing => return Ok(None),
            Top::Dir(dirs) => stack.push(dirs),
            Top::Entry(entry, metadata) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Ok(None);
                }
                let target = fs::read_link(&entry).map_err(ctx("read link", &entry))?;
                for part in components(&target).into_iter().rev() {
                    pending.push_front(part);
                }
                if target.is_absolute() {
                    stack.truncate(1);
                }
            }
            Top::Entry(..) => return Ok(None),
        }
    }
    Ok(stack.pop())
}

/// Copies the merged directory `dirs` (top first) into the existing directory `dest`, contents first
/// and then the directory's own owner, mode, attributes and times.
pub fn copy_dir(dirs: &[PathBuf], dest: &Path) -> Result<(), IoError> {
    let mut links = HashMap::new();
    copy_tree(dirs, dest, &mut links)
}

fn copy_tree(
    dirs: &[PathBuf],
    dest: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), IoError> {
    let mut names = BTreeSet::new();
    for dir in dirs {
        for entry in fs::read_dir(dir).map_err(ctx("read", dir))? {
            names.insert(entry.map_err(ctx("read", dir))?.file_name());
        }
    }
    for name in names {
        let target = dest.join(&name);
        match lookup(dirs, &name)? {
            Top::Missing => {}
            Top::Dir(sub) => {
                fs::create_dir(&target).map_err(ctx("create directory", &target))?;
                copy_tree(&sub, &target, links)?;
            }
            Top::Entry(source, metadata) => copy_entry(&source, &metadata, &target, links)?,
        }
    }
    let top = &dirs[0];
    let metadata = fs::symlink_metadata(top).map_err(ctx("inspect", top))?;
    copy_metadata(top, &metadata, dest)
}

fn copy_entry(
    source: &Path,
    metadata: &Metadata,
    target: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), IoError> {
    let file_type = metadata.file_type();
    if file_type.is_socket() {
        // A socket is a live endpoint of a process, not content (docker's copy skips them too).
        return Ok(());
    }
    if metadata.nlink() > 1 {
        let key = (metadata.dev(), metadata.ino());
        if let Some(first) = links.get(&key) {
            return fs::hard_link(first, target).map_err(ctx("link", target));
        }
        links.insert(key, target.to_path_buf());
    }
    if file_type.is_symlink() {
        let link = fs::read_link(source).map_err(ctx("read link", source))?;
        std::os::unix::fs::symlink(&link, target).map_err(ctx("create symlink", target))?;
        std::os::unix::fs::lchown(target, Some(metadata.uid()), Some(metadata.gid()))
            .map_err(ctx("change the owner of", target))?;
        let mtime = filetime::FileTime::from_last_modification_time(metadata);
        let atime = filetime::FileTime::from_last_access_time(metadata);
        return filetime::set_symlink_file_times(target, atime, mtime)
            .map_err(ctx("set the times of", target));
    }
    if file_type.is_file() {
        fs::copy(source, target).map_err(ctx("copy to", target))?;
    } else {
        let kind = if file_type.is_char_device() {
            NodeKind::Char
        } else if file_type.is_block_device() {
            NodeKind::Block
        } else {
            NodeKind::Fifo
        };
        let (major, minor) = sys::major_minor(metadata.rdev());
        sys::mknod(target, kind, metadata.mode() & 0o7777, major, minor)
            .map_err(ctx("create node", target))?;
    }
    copy_metadata(source, metadata, target)
}

/// Gives the directory `target` the owner, mode, attributes and times of `source`.
pub fn copy_dir_metadata(source: &Path, target: &Path) -> Result<(), IoError> {
    let metadata = fs::symlink_metadata(source).map_err(ctx("inspect", source))?;
    copy_metadata(source, &metadata, target)
}

/// Owner, then mode (a chown clears set-id bits), extended attributes, then times.
fn copy_metadata(source: &Path, metadata: &Metadata, target: &Path) -> Result<(), IoError> {
    std::os::unix::fs::lchown(target, Some(metadata.uid()), Some(metadata.gid()))
        .map_err(ctx("change the owner of", target))?;
    fs::set_permissions(target, fs::Permissions::from_mode(metadata.mode() & 0o7777))
        .map_err(ctx("change the mode of", target))?;
    for name in XATTRS {
        let value = match sys::lgetxattr(source, name) {
            Ok(Some(value)) => value,
            Ok(None) => continue,
            Err(error) if unsupported(&error) => continue,
            Err(error) => return Err(IoError::new("read attributes of", source, error)),
        };
        match sys::lsetxattr(target, name, &value) {
            Ok(()) => {}
            Err(error) if unsupported(&error) => {}
            Err(error) => return Err(IoError::new("set attributes of", target, error)),
        }
    }
    let mtime = filetime::FileTime::from_last_modification_time(metadata);
    let atime = filetime::FileTime::from_last_access_time(metadata);
    filetime::set_file_times(target, atime, mtime).map_err(ctx("set the times of", target))
}

fn unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EPERM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            let mut entries: Vec<_> = fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                let metadata = fs::symlink_metadata(&path).unwrap();
                if metadata.is_dir() {
                    out.push(format!("{rel}/"));
                    walk(base, &path, out);
                } else if metadata.file_type().is_symlink() {
                    out.push(format!(
                        "{rel} -> {}",
                        fs::read_link(&path).unwrap().display()
                    ));
                } else {
                    out.push(format!("{rel} = {}", fs::read_to_string(&path).unwrap()));
                }
            }
        }
        walk(dir, dir, &mut out);
        out
    }

    /// Two plain layers (no whiteouts, which need root): the upper file wins, directories merge,
    /// symlinks resolve inside the image, modes and hard links are kept.
    #[test]
    fn merges_layers_and_resolves_links_inside_the_image() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("l/1");
        let upper = tmp.path().join("l/2");
        write(&base.join("srv/data/a"), "base a");
        write(&base.join("srv/data/sub/b"), "base b");
        write(&upper.join("srv/data/a"), "upper a");
        write(&upper.join("srv/data/c"), "upper c");
        fs::hard_link(upper.join("srv/data/c"), upper.join("srv/data/c2")).unwrap();
        fs::create_dir(upper.join("srv/data/sub")).unwrap();
        std::os::unix::fs::symlink("../a", upper.join("srv/data/sub/up")).unwrap();
        fs::set_permissions(upper.join("srv/data/c"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(upper.join("srv/data"), fs::Permissions::from_mode(0o750)).unwrap();
        // /link -> /srv (absolute: resolved in the image, not on the host).
        std::os::unix::fs::symlink("/srv", upper.join("link")).unwrap();
        let layers = vec![base.clone(), upper.clone()];

        let dirs = image_dir(&layers, "/link/../srv/./data").unwrap().unwrap();
        assert_eq!(dirs, [upper.join("srv/data"), base.join("srv/data")]);
        assert_eq!(image_dir(&layers, "/link/data/a").unwrap(), None);
        assert_eq!(image_dir(&layers, "/missing").unwrap(), None);

        let dest = tmp.path().join("volume");
        fs::create_dir(&dest).unwrap();
        copy_dir(&dirs, &dest).unwrap();
        assert_eq!(
            listing(&dest),
            [
                "a = upper a",
                "c = upper c",
                "c2 = upper c",
                "sub/",
                "sub/b = base b",
                "sub/up -> ../a"
            ]
        );
        let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("c"), 0o640);
        assert_eq!(mode(""), 0o750);
        assert_eq!(
            fs::metadata(dest.join("c")).unwrap().ino(),
            fs::metadata(dest.join("c2")).unwrap().ino()
        );
        let mtime = |p: &Path| fs::metadata(p).unwrap().mtime();
        assert_eq!(
            mtime(&dest.join("sub/b")),
            mtime(&base.join("srv/data/sub/b"))
        );
    }

    /// Whiteouts and opaque directories, as the image store unpacks them (root: mknod and trusted
    /// xattrs).
    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_content() {
        if !sys::is_root() {
            assert!(
                std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
                "skipped: needs root, and RCOMPOSE_TEST_ROOT=1 forbids skipping"
            );
            eprintln!("skipped: needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("l/1");
        let upper = tmp.path().join("l/2");
        write(&base.join("data/gone"), "x");
        write(&base.join("data/kept"), "kept");
        write(&base.join("data/opaque/old"), "old");
        write(&upper.join("data/opaque/new"), "new");
        sys::mknod(&upper.join("data/gone"), NodeKind::Char, 0, 0, 0).unwrap();
        sys::lsetxattr(&upper.join("data/opaque"), OPAQUE_XATTR, b"y").unwrap();
        // A uid and gid that are not the caller's, to check ownership is copied.
        std::os::unix::fs::lchown(base.join("data/kept"), Some(65534), Some(65534)).unwrap();
        let layers = vec![base.clone(), upper.clone()];
        let dirs = image_dir(&layers, "data").unwrap().unwrap();
        let dest = tmp.path().join("volume");
        fs::create_dir(&dest).unwrap();
        copy_dir(&dirs, &dest).unwrap();
        assert_eq!(
            listing(&dest),
            ["kept = kept", "opaque/", "opaque/new = new"]
        );
        let kept = fs::metadata(dest.join("kept")).unwrap();
        assert_eq!((kept.uid(), kept.gid()), (65534, 65534));
        // A whited-out directory is not a directory of the image.
        sys::mknod(&upper.join("data/opaque2"), NodeKind::Char, 0, 0, 0).unwrap();
        write(&base.join("data/opaque2/x"), "x");
        assert_eq!(image_dir(&layers, "/data/opaque2").unwrap(), None);
    }
}
