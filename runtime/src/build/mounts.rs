//! `RUN --mount=...`: what a step sees besides its root filesystem, none of it in the layer the
//! step makes (BuildKit's mount types, with its option names and defaults).
//!
//! - `type=bind` (the default): a directory or file of the build context, of a stage, of an image
//!   or of a named context (`from=`), read-only unless `rw` (writes are then thrown away). The
//!   source is materialized into a scratch directory of the store (as `COPY` would select it, so
//!   `.dockerignore` applies and no host path is bound into the step), and its content digest joins
//!   the step's cache key.
//! - `type=cache`: a directory kept between builds, per `id` (default: the target), shared by every
//!   build of the store; `sharing=locked` (and `private`, which BuildKit gives a fresh directory
//!   when the cache is in use; here it waits like `locked`) holds a lock for the step. `mode`,
//!   `uid`, `gid` set the directory's owner and mode when it is made. Not in the cache key, as in
//!   BuildKit.
//! - `type=tmpfs`: an empty tmpfs (`size=` bytes).
//! - `type=secret`: a file of the build's secrets (`id=`, default the target's file name) at
//!   `target` (default `/run/secrets/<id>`), mode `0400` and root's unless `mode`/`uid`/`gid`
//!   say otherwise; a missing secret is an error only with `required`. Never in the cache key
//!   nor in the layer.
//! - `type=ssh` is refused: no SSH agent is forwarded to build steps.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use super::copy::{Context, CopyRequest, copy_digest, write_copy_layer};
use super::hashes::FileHashes;
use super::instructions::{CopyOptions, Source};
use crate::container::{BindRecursive, Mount, MountKind};
use crate::image::digest::Digest;
use crate::store::lock::Lock;

/// One `--mount` as written, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    Bind {
        target: String,
        /// `from=`: a stage, image or named context; none for the build context.
        from: Option<String>,
        source: String,
        read_write: bool,
    },
    Cache {
        target: String,
        id: String,
        locked: bool,
        read_only: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        target: String,
        size: u64,
    },
    Secret {
        target: String,
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A `RUN <<EOF` heredoc that starts with `#!`, run as a program (not a `--mount` option:
    /// the builder adds it).
    Script {
        target: String,
        content: String,
    },
}

/// Parses a `--mount` value (`type=cache,target=/root/.cache,sharing=locked`).
pub fn parse(spec: &str) -> Result<RunMount, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => (key.trim().to_ascii_lowercase(), value.trim().to_owned()),
            None => (part.to_ascii_lowercase(), "true".to_owned()),
        };
        let key = match key.as_str() {
            "src" => "source".to_owned(),
            "dst" | "destination" => "target".to_owned(),
            "ro" => "readonly".to_owned(),
            "rw" => "readwrite".to_owned(),
            _ => key,
        };
        if fields.insert(key.clone(), value).is_some() {
            return Err(format!("--mount={spec}: {key} is given twice"));
        }
    }
    let kind = fields.remove("type").unwrap_or_else(|| "bind".into());
    let flag = |fields: &mut BTreeMap<String, String>, key: &str| -> Result<bool, String> {
        match fields.remove(key).as_deref() {
            None => Ok(false),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(format!("--mount={spec}: {key}={other}: true or false")),
        }
    };
    let number = |fields: &mut BTreeMap<String, String>,
                  key: &str,
                  radix: u32,
                  default: u32|
     -> Result<u32, String> {
        match fields.remove(key) {
            None => Ok(default),
            Some(value) => u32::from_str_radix(&value, radix)
                .map_err(|_| format!("--mount={spec}: {key}={value} is not a number")),
        }
    };
    let target = fields.remove("target");
    let needs_target = |target: Option<String>| {
        target
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("--mount={spec}: a target is required (target=/path)"))
    };
    let mount = match kind.as_str() {
        "bind" => {
            let read_only = flag(&mut fields, "readonly")?;
            let read_write = flag(&mut fields, "readwrite")?;
            RunMount::Bind {
                target: needs_target(target)?,
                from: fields.remove("from"),
                source: fields.remove("source").unwrap_or_default(),
                read_write: read_write && !read_only,
            }
        }
        "cache" => {
            let target = needs_target(target)?;
            let sharing = fields.remove("sharing").unwrap_or_else(|| "shared".into());
            let locked = match sharing.as_str() {
                "shared" => false,
                "locked" | "private" => true,
                other => {
                    return Err(format!(
                        "--mount={spec}: sharing={other}: shared, private or locked"
                    ));
                }
            };
            if fields.contains_key("from") || fields.contains_key("source") {
                return Err(format!(
                    "--mount={spec}: a cache seeded from a stage (from=, source=) is not supported"
                ));
            }
            RunMount::Cache {
                id: fields.remove("id").unwrap_or_else(|| target.clone()),
                target,
                locked,
                read_only: flag(&mut fields, "readonly")?,
                mode: number(&mut fields, "mode", 8, 0o755)?,
                uid: number(&mut fields, "uid", 10, 0)?,
                gid: number(&mut fields, "gid", 10, 0)?,
            }
        }
        "tmpfs" => {
            let size = match fields.remove("size") {
                None => 0,
                Some(value) => value.parse().map_err(|_| {
                    format!("--mount={spec}: size={value} is not a number of bytes")
                })?,
            };
            RunMount::Tmpfs {
                target: needs_target(target)?,
                size,
            }
        }
        "secret" => {
            let id = fields
                .remove("id")
                .or_else(|| {
                    target
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .map(str::to_owned)
                })
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("--mount={spec}: a secret needs an id (id=name)"))?;
            RunMount::Secret {
                target: target.unwrap_or_else(|| format!("/run/secrets/{id}")),
                id,
                required: flag(&mut fields, "required")?,
                mode: number(&mut fields, "mode", 8, 0o400)?,
                uid: number(&mut fields, "uid", 10, 0)?,
                gid: number(&mut fields, "gid", 10, 0)?,
            }
        }
        "ssh" => {
            return Err(format!(
                "--mount={spec}: ssh mounts are not supported (no SSH agent is forwarded to build steps); fetch private sources before the build and COPY them"
            ));
        }
        other => {
            return Err(format!(
                "--mount={spec}: unknown type {other:?}; bind, cache, tmpfs, secret or ssh"
            ));
        }
    };
    if let Some(key) = fields.keys().next() {
        return Err(format!("--mount={spec}: unknown option {key:?}"));
    }
    Ok(mount)
}

impl RunMount {
    pub fn target(&self) -> &str {
        match self {
            RunMount::Bind { target, .. }
            | RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Secret { target, .. }
            | RunMount::Script { target, .. } => target,
        }
    }
}

/// The mounts of one step, made ready: the container's mounts, what joins the cache key, and what
/// to undo when the step is over.
#[derive(Debug, Default)]
pub struct Prepared {
    pub mounts: Vec<Mount>,
    /// The digests of bind sources, for the step's cache key.
    pub key: String,
    /// Scratch directories removed on drop.
    scratch: Vec<PathBuf>,
    /// Locks of `sharing=locked` caches, released on drop.
    _locks: Vec<Lock>,
}

impl Prepared {
    /// A private scratch directory removed with `self` (for `ADD <url>` downloads, too).
    pub(super) fn scratch_dir(&mut self, root: &Path) -> Result<PathBuf, String> {
        scratch(root, self)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for dir in &self.scratch {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Where mounts come from.
pub struct MountSources<'a> {
    /// The store's directory for cache mounts and scratch copies.
    pub root: &'a Path,
    /// The context of `from=`-less binds.
    pub context: Option<&'a Context>,
    /// A stage's, image's or named context's files, by the `from=` word.
    pub from: &'a dyn Fn(&str) -> Result<Context, String>,
    pub secrets: &'a BTreeMap<String, PathBuf>,
    pub hashes: &'a FileHashes,
    /// The working directory a relative target is below.
    pub workdir: &'a str,
}

/// Readies `mounts` for a step (see the module doc).
pub fn prepare(mounts: &[RunMount], sources: &MountSources<'_>) -> Result<Prepared, String> {
    let mut prepared = Prepared::default();
    for mount in mounts {
        let target = absolute(mount.target(), sources.workdir);
        match mount {
            RunMount::Bind {
                from,
                source,
                read_write,
                ..
            } => {
                let context = match from {
                    Some(from) => (sources.from)(from)?,
                    None => sources
                        .context
                        .cloned()
                        .ok_or_else(|| "a bind mount needs a build context or from=".to_owned())?,
                };
                let dir = scratch(sources.root, &mut prepared)?;
                let copied = [Source::Path(if source.is_empty() {
                    ".".into()
                } else {
                    source.clone()
                })];
                let options = CopyOptions::default();
                let request = CopyRequest {
                    sources: &copied,
                    dest: "/",
                    workdir: "/",
                    options: &options,
                    add: false,
                    fetched: &[],
                };
                let digest = copy_digest(&context, &request, &[], sources.hashes)?;
                prepared.key.push_str(&format!("bind {target} {digest}\n"));
                let content = materialize(&context, &request, &dir)?;
                prepared.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind { source: content },
                    read_only: !read_write,
                    recursive: BindRecursive::Enabled,
                    subpath: None,
                });
            }
            RunMount::Cache {
                id,
                locked,
                read_only,
                mode,
                uid,
                gid,
                ..
            } => {
                let caches = sources.root.join("cachemounts");
                crate::store::create_dir_all(&caches).map_err(|e| e.to_string())?;
                // The id is the user's word: a digest of it names the directory.
                let name = Digest::of(id.as_bytes()).hex()[..32].to_owned();
                let dir = caches.join(&name);
                if !dir.exists() {
                    let fresh = caches.join(format!("{name}.new-{}", std::process::id()));
                    fs::create_dir(&fresh).map_err(|e| format!("cache {id}: {e}"))?;
                    fs::set_permissions(&fresh, fs::Permissions::from_mode(*mode))
                        .and_then(|()| chown(&fresh, Some(*uid), Some(*gid)))
                        .and_then(|()| fs::rename(&fresh, &dir))
                        .or_else(|e| {
                            // Another build made it meanwhile.
                            let _ = fs::remove_dir(&fresh);
                            if dir.is_dir() { Ok(()) } else { Err(e) }
                        })
                        .map_err(|e| format!("cache {id}: {e}"))?;
                }
                if *locked {
                    let lock = Lock::exclusive(&caches.join(format!("{name}.lock")))
                        .map_err(|e| format!("cache {id}: {e}"))?;
                    prepared._locks.push(lock);
                }
                prepared.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind { source: dir },
                    read_only: *read_only,
                    recursive: BindRecursive::Enabled,
                    subpath: None,
                });
            }
            RunMount::Tmpfs { size, .. } => prepared.mounts.push(Mount {
                target,
                kind: MountKind::Tmpfs {
                    size: *size,
                    mode: 0o1777,
                },
                read_only: false,
                recursive: BindRecursive::Enabled,
                subpath: None,
            }),
            RunMount::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                ..
            } => {
                let Some(file) = sources.secrets.get(id) else {
                    if *required {
                        return Err(format!(
                            "secret {id:?} is required but the build was given no such secret"
                        ));
                    }
                    continue;
                };
                let data = fs::read(file)
                    .map_err(|e| format!("secret {id:?}: read {}: {e}", file.display()))?;
                let dir = scratch(sources.root, &mut prepared)?;
                let copy = dir.join("secret");
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_private()
                    .open(&copy)
                    .map_err(|e| format!("secret {id:?}: {e}"))?;
                out.write_all(&data)
                    .and_then(|()| chown(&copy, Some(*uid), Some(*gid)))
                    .and_then(|()| fs::set_permissions(&copy, fs::Permissions::from_mode(*mode)))
                    .map_err(|e| format!("secret {id:?}: {e}"))?;
                prepared.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind { source: copy },
                    read_only: true,
                    recursive: BindRecursive::Enabled,
                    subpath: None,
                });
            }
            RunMount::Script { content, .. } => {
                let dir = scratch(sources.root, &mut prepared)?;
                let file = dir.join("script");
                fs::write(&file, content)
                    .and_then(|()| fs::set_permissions(&file, fs::Permissions::from_mode(0o755)))
                    .map_err(|e| format!("the heredoc script: {e}"))?;
                prepared.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind { source: file },
                    read_only: true,
                    recursive: BindRecursive::Enabled,
                    subpath: None,
                });
            }
        }
    }
    Ok(prepared)
}

/// `target` made absolute below `workdir`.
fn absolute(target: &str, workdir: &str) -> String {
    if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("{}/{target}", workdir.trim_end_matches('/'))
    }
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// A new private scratch directory, removed with `prepared`. Its name says which process made it
/// (`<pid>-<start time>-<n>`): those of processes that are gone (a build killed mid-step) are
/// removed on the way.
fn scratch(root: &Path, prepared: &mut Prepared) -> Result<PathBuf, String> {
    use crate::sys::process::{is_alive, start_time};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let parent = root.join("mountscratch");
    crate::store::create_dir_all(&parent).map_err(|e| e.to_string())?;
    for entry in fs::read_dir(&parent).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('-').map(str::parse::<u64>);
        if let (Some(Ok(pid)), Some(Ok(started))) = (parts.next(), parts.next())
            && !is_alive(pid as i32, started)
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let pid = std::process::id();
    let started = start_time(pid as i32).map_err(|e| e.to_string())?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = parent.join(format!("{pid}-{started}-{n}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    prepared.scratch.push(dir.clone());
    Ok(dir)
}

/// The files a bind mount's source selects, written below `dir`; returns the path to bind (the
/// directory, or the one file when the source is a file).
fn materialize(
    context: &Context,
    request: &CopyRequest<'_>,
    dir: &Path,
) -> Result<PathBuf, String> {
    let mut layer = Vec::new();
    write_copy_layer(context, request, &[], &mut layer, None)?;
    let content = dir.join("content");
    fs::create_dir(&content).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(&layer[..]);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(false);
    archive
        .unpack(&content)
        .map_err(|e| format!("prepare the mount: {e}"))?;
    // A file source: the layer holds that one file at the root.
    let mut entries = fs::read_dir(&content).map_err(|e| e.to_string())?;
    if let (Some(Ok(only)), None) = (entries.next(), entries.next())
        && let Source::Path(source) = &request.sources[0]
        && only.file_type().is_ok_and(|t| t.is_file())
        && Path::new(source).file_name() == Some(only.file_name().as_os_str())
    {
        return Ok(only.path());
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_specs_parse_with_buildkits_names_and_defaults() {
        assert_eq!(
            parse("type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=1000").unwrap(),
            RunMount::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                locked: true,
                read_only: false,
                mode: 0o700,
                uid: 1000,
                gid: 0,
            }
        );
        assert_eq!(
            parse("target=/src,from=build,src=/out,rw").unwrap(),
            RunMount::Bind {
                target: "/src".into(),
                from: Some("build".into()),
                source: "/out".into(),
                read_write: true,
            }
        );
        assert_eq!(
            parse("type=secret,id=npmrc").unwrap(),
            RunMount::Secret {
                target: "/run/secrets/npmrc".into(),
                id: "npmrc".into(),
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            parse("type=secret,target=/root/.npmrc,required").unwrap(),
            RunMount::Secret {
                target: "/root/.npmrc".into(),
                id: ".npmrc".into(),
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
        assert_eq!(
            parse("type=tmpfs,dst=/tmp,size=1048576").unwrap(),
            RunMount::Tmpfs {
                target: "/tmp".into(),
                size: 1 << 20,
            }
        );
    }

    #[test]
    fn bad_mount_specs_say_what_is_wrong() {
        let cases = [
            ("type=cache", "a target is required"),
            (
                "type=cache,target=/a,sharing=sometimes",
                "shared, private or locked",
            ),
            (
                "type=bind,target=/a,colour=red",
                "unknown option \"colour\"",
            ),
            ("type=ssh", "ssh mounts are not supported"),
            ("type=volume,target=/a", "unknown type \"volume\""),
            ("type=cache,target=/a,mode=rwx", "mode=rwx is not a number"),
            ("target=/a,target=/b", "target is given twice"),
        ];
        for (spec, expected) in cases {
            let error = parse(spec).unwrap_err();
            assert!(error.contains(expected), "{spec}: {error}");
        }
    }
}
