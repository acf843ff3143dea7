//! `rcompose cp`: copy files and directories between a service container and the host, with docker's
//! naming rules:
//! - `SERVICE:SRC DEST`: a file lands at DEST, or inside DEST when it is a directory; a directory is
//!   copied as DEST when DEST does not exist, else into it; `SRC/.` copies a directory's contents;
//!   DEST `-` writes a tar stream to standard output.
//! - `SRC SERVICE:DEST`: the same rules inside the container; SRC `-` reads a tar stream from
//!   standard input and unpacks it into the directory DEST.
//!
//! The runtime's helpers read and write inside the container's mount namespace (so container paths
//! resolve as the container sees them and never lead out of it); this side turns host files into tar
//! streams and back. Unpacking on the host goes through a staging directory next to the destination
//! and the `tar` crate's checks (no entry escapes the destination, whatever the container's files
//! are). Container paths are relative to the container's root, as with docker.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context, bail};
use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Index of the container if the service has several replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// SERVICE:SRC_PATH, or a host path (`-`: a tar stream from standard input)
    source: String,
    /// SERVICE:DEST_PATH, or a host path (`-`: a tar stream to standard output)
    destination: String,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Host(String),
    Container { service: String, path: String },
}

/// docker's `splitCpArg`: `SERVICE:PATH`, unless the argument is an absolute or explicitly relative
/// (`./x:y`) host path.
fn parse_location(arg: &str) -> Location {
    if arg.starts_with('/') {
        return Location::Host(arg.to_string());
    }
    match arg.split_once(':') {
        Some((service, path)) if !service.starts_with('.') && !service.is_empty() => {
            let path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            Location::Container {
                service: service.to_string(),
                path,
            }
        }
        _ => Location::Host(arg.to_string()),
    }
}

pub fn run(global: &GlobalOptions, args: CpArgs) -> anyhow::Result<ExitCode> {
    let (service, container_path, host, outward) = match (
        parse_location(&args.source),
        parse_location(&args.destination),
    ) {
        (Location::Container { service, path }, Location::Host(host)) => {
            (service, path, host, true)
        }
        (Location::Host(host), Location::Container { service, path }) => {
            (service, path, host, false)
        }
        (Location::Container { .. }, Location::Container { .. }) => {
            bail!("copying between containers is not supported")
        }
        (Location::Host(_), Location::Host(_)) => {
            bail!("must specify at least one container source (SERVICE:PATH)")
        }
    };
    let scope = Scope::open(global, std::slice::from_ref(&service))?;
    scope.check_services(std::slice::from_ref(&service))?;
    let containers = scope.containers(std::slice::from_ref(&service), false)?;
    let Some((container, info)) = containers.iter().find(|(c, _)| c.number == args.index) else {
        bail!(
            "service {service:?} has no container number {} (is the project up?)",
            args.index
        );
    };
    if !info.state.status.is_active() {
        bail!(
            "container {} is not running: cp needs a running container",
            container.name
        );
    }
    let runtime = &scope.engine.containers;
    if outward {
        let mut child = runtime
            .copy_out_command(&container.id, &container_path)
            .with_context(|| format!("cannot copy from {}", container.name))?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot copy from {}", container.name))?;
        let mut stream = child.stdout.take().expect("piped");
        let result = if host == "-" {
            output::stream::copy_to_stdout(&mut stream)
                .map(drop)
                .context("cannot write the archive")
        } else {
            unpack_on_host(&mut stream, &container_path, Path::new(&host))
        };
        // Drain what is left, so the helper is not stopped by a closed pipe, then judge.
        let _ = io::copy(&mut stream, &mut io::sink());
        let status = child.wait().context("cannot copy")?;
        if !status.success() {
            bail!("cannot copy {}:{container_path}", service);
        }
        result?;
    } else {
        let container_pid = info.state.pid;
        let plan = plan_copy_in(&host, &container_path, |path| {
            container_is_dir(container_pid, path)
        })?;
        let mut child = runtime
            .copy_in_command(&container.id, &plan.dir)
            .with_context(|| format!("cannot copy into {}", container.name))?
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot copy into {}", container.name))?;
        let mut stdin = child.stdin.take().expect("piped");
        let written = if host == "-" {
            io::copy(&mut io::stdin().lock(), &mut stdin)
                .map(drop)
                .context("cannot read the archive from standard input")
        } else {
            pack(&mut stdin, Path::new(&host), &plan.entry)
        };
        drop(stdin);
        let status = child.wait().context("cannot copy")?;
        if !status.success() {
            bail!("cannot copy into {}:{container_path}", service);
        }
        written?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a host file goes in the container: the directory to unpack into, and the name its archive
/// entry gets (`None`: a directory's contents, `SRC/.`).
#[derive(Debug, PartialEq, Eq)]
struct CopyIn {
    dir: String,
    entry: Option<String>,
}

fn plan_copy_in(host: &str, dest: &str, is_dir: impl Fn(&str) -> bool) -> anyhow::Result<CopyIn> {
    if host == "-" {
        return Ok(CopyIn {
            dir: dest.to_string(),
            entry: None,
        });
    }
    let source = Path::new(host);
    let metadata = fs::symlink_metadata(source)
        .with_context(|| format!("cannot copy {host}: no such file or directory"))?;
    let contents_only = host.ends_with("/.");
    if contents_only && !metadata.is_dir() {
        bail!("cannot copy {host}: not a directory");
    }
    let dest_is_dir = dest.ends_with('/') || is_dir(dest);
    if dest_is_dir {
        let entry = if contents_only {
            None
        } else {
            Some(base_name(host)?)
        };
        return Ok(CopyIn {
            dir: dest.to_string(),
            entry,
        });
    }
    let (parent, name) = split_parent(dest)?;
    Ok(CopyIn {
        dir: parent,
        entry: Some(name),
    })
}

/// Whether `path` is a directory in the container, looked up through its init's root. The answer
/// only chooses a name (docker's rule); the copy itself happens inside the container.
fn container_is_dir(pid: i32, path: &str) -> bool {
    pid > 0 && fs::metadata(format!("/proc/{pid}/root{path}")).is_ok_and(|m| m.is_dir())
}

/// The last component of a path, as the archive names it.
fn base_name(path: &str) -> anyhow::Result<String> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("cannot copy {path}: no file name"))
}

/// `/a/b` → (`/a`, `b`).
fn split_parent(path: &str) -> anyhow::Result<(String, String)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = trimmed
        .rsplit_once('/')
        .with_context(|| format!("invalid path {path:?}"))?;
    if name.is_empty() || name == "." || name == ".." {
        bail!("invalid path {path:?}");
    }
    let parent = if parent.is_empty() { "/" } else { parent };
    Ok((parent.to_string(), name.to_string()))
}

/// Writes a tar of host path `source` named `entry` (or its contents at the top when `None`).
fn pack(out: &mut impl Write, source: &Path, entry: &Option<String>) -> anyhow::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let metadata = fs::symlink_metadata(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    match entry {
        Some(name) if metadata.is_dir() => builder.append_dir_all(name, source),
        Some(name) => builder.append_path_with_name(source, name),
        None => builder.append_dir_all(".", source),
    }
    .and_then(|()| builder.finish())
    .with_context(|| format!("cannot archive {}", source.display()))
}

/// Unpacks the archive of container path `source` at host path `dest` by docker's rules.
fn unpack_on_host(archive: &mut impl Read, source: &str, dest: &Path) -> anyhow::Result<()> {
    let contents_only = source.ends_with("/.");
    let name = base_name(source)?;
    if dest.is_dir() && !contents_only {
        return unpack(archive, dest);
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("destination directory {} must exist", parent.display());
    }
    let staging = parent.join(format!(".rcompose-cp-{}", std::process::id()));
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let result = (|| {
        unpack(archive, &staging)?;
        let top = staging.join(&name);
        let top_is_dir = fs::symlink_metadata(&top).is_ok_and(|m| m.is_dir());
        if contents_only && !top_is_dir {
            bail!("cannot copy {source}: not a directory");
        }
        if dest.is_dir() {
            // `SRC/.` into an existing directory: merge.
            return merge_into(&top, dest);
        }
        if top_is_dir && dest.exists() {
            bail!("cannot copy a directory to a file: {}", dest.display());
        }
        fs::rename(&top, dest).with_context(|| format!("cannot write {}", dest.display()))
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}

/// The `tar` crate's checked unpacking: no entry lands outside `dir`.
fn unpack(archive: &mut impl Read, dir: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(archive);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    archive
        .unpack(dir)
        .with_context(|| format!("cannot unpack into {}", dir.display()))
}

/// Moves the entries of directory `from` into directory `to`, merging subdirectories.
fn merge_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let target = to.join(entry.file_name());
        let source_is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let target_meta = fs::symlink_metadata(&target).ok();
        match target_meta {
            Some(meta) if meta.is_dir() && source_is_dir => merge_into(&entry.path(), &target)?,
            Some(meta) if meta.is_dir() => {
                bail!(
                    "cannot overwrite directory {} with a file",
                    target.display()
                )
            }
            _ => fs::rename(entry.path(), &target)
                .with_context(|| format!("cannot write {}", target.display()))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(
            parse_location("web:etc/hosts"),
            Location::Container {
                service: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(
            parse_location("/tmp/a:b"),
            Location::Host("/tmp/a:b".into())
        );
        assert_eq!(parse_location("./a:b"), Location::Host("./a:b".into()));
        assert_eq!(parse_location("file"), Location::Host("file".into()));
    }

    #[test]
    fn copy_in_names_follow_docker() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        fs::write(&file, "x").unwrap();
        let host = file.to_str().unwrap();
        let is_dir = |path: &str| path == "/data";
        assert_eq!(
            plan_copy_in(host, "/data", is_dir).unwrap(),
            CopyIn {
                dir: "/data".into(),
                entry: Some("notes.txt".into())
            }
        );
        assert_eq!(
            plan_copy_in(host, "/data/renamed.txt", is_dir).unwrap(),
            CopyIn {
                dir: "/data".into(),
                entry: Some("renamed.txt".into())
            }
        );
        assert_eq!(
            plan_copy_in(host, "/top", is_dir).unwrap(),
            CopyIn {
                dir: "/".into(),
                entry: Some("top".into())
            }
        );
        let contents = format!("{}/.", dir.path().display());
        assert_eq!(
            plan_copy_in(&contents, "/data", is_dir).unwrap(),
            CopyIn {
                dir: "/data".into(),
                entry: None
            }
        );
        assert!(plan_copy_in("/no/such/file", "/data", is_dir).is_err());
    }

    #[test]
    fn unpacking_follows_docker_naming() {
        let dir = tempfile::tempdir().unwrap();
        // An archive of a directory `conf` with one file, as the helper makes it.
        let source = dir.path().join("src/conf");
        fs::create_dir_all(&source).unwrap();
        fs::write(source.join("a.txt"), "A").unwrap();
        let mut archive = Vec::new();
        pack(&mut archive, &source, &Some("conf".into())).unwrap();
        // Into an existing directory: under its own name.
        let existing = dir.path().join("existing");
        fs::create_dir(&existing).unwrap();
        unpack_on_host(&mut archive.as_slice(), "/etc/conf", &existing).unwrap();
        assert_eq!(
            fs::read_to_string(existing.join("conf/a.txt")).unwrap(),
            "A"
        );
        // To a new path: renamed.
        let fresh = dir.path().join("fresh");
        unpack_on_host(&mut archive.as_slice(), "/etc/conf", &fresh).unwrap();
        assert_eq!(fs::read_to_string(fresh.join("a.txt")).unwrap(), "A");
        // Contents only, into an existing directory: merged.
        unpack_on_host(&mut archive.as_slice(), "/etc/conf/.", &existing).unwrap();
        assert_eq!(fs::read_to_string(existing.join("a.txt")).unwrap(), "A");
        // No staging directory is left behind.
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".rcompose-cp"))
            .collect();
        assert!(left.is_empty());
    }
}
