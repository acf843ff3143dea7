//! `COPY` from the build context or, with `--from`, from another stage or image, as a layer written
//! directly (no container is needed to copy files): the sources as BuildKit selects them, the
//! destination resolved against the image's layers, owners and modes as `--chown` and `--chmod`
//! say.
//!
//! - A source is a path relative to the context root (a leading `/` and `..` cannot leave it),
//!   possibly with wildcards (`*`, `?`, `[...]` of Go's `filepath.Match`, `*` not crossing `/`);
//!   what `.dockerignore` excludes does not exist for it. A directory source copies its contents.
//! - The destination is a directory when it ends with `/`, when there are several sources or a
//!   wildcard, or when the source is a directory; a relative one is below the working directory.
//!   Symlinks on the way are followed inside the image (Debian's `/bin -> usr/bin`), never out of it.
//! - Files and directories belong to 0:0 unless `--chown` (names looked up in the image's
//!   `/etc/passwd` and `/etc/group`); `--chmod` (octal) sets files' and directories' modes;
//!   symlinks are copied as symlinks, never followed (BuildKit follows a source path's own link);
//!   modification times are kept (clamped to `SOURCE_DATE_EPOCH`).
//! - `--exclude` patterns (`.dockerignore`'s rules) leave out paths relative to each source (a
//!   directory source's own contents; a file by its name); `--parents` keeps each source's path
//!   below the destination (from a `/./` pivot on, when the path has one), making the directories
//!   on the way. `--link` is accepted: a `COPY` layer is written on its own already, though the
//!   destination is still resolved through the image's symlinks (BuildKit's `--link` ignores them).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::archive;
use super::fetch::Fetched;
use super::hashes::FileHashes;
use super::ignore::Ignore;
use super::instructions::{CopyOptions, Source};
use crate::image::digest::Digest;
use crate::path::clean_relative;

/// Where `COPY` takes files from: the build context (a directory and its `.dockerignore`), or,
/// for `COPY --from`, a stage's or an image's layers (nothing excluded).
#[derive(Debug, Clone)]
pub struct Context {
    pub tree: Tree,
    pub ignore: Ignore,
}

/// The files of a [`Context`].
#[derive(Debug, Clone)]
pub enum Tree {
    Dir(PathBuf),
    /// Layer directories, base first, seen as the image they make (whiteouts and opaque
    /// directories applied).
    Layers(Vec<PathBuf>),
}

impl Context {
    /// The build context in `dir`, with its ignore rules.
    pub fn dir(dir: PathBuf, ignore: Ignore) -> Context {
        Context {
            tree: Tree::Dir(dir),
            ignore,
        }
    }

    /// A stage's or image's files.
    pub fn layers(layers: Vec<PathBuf>) -> Context {
        Context {
            tree: Tree::Layers(layers),
            ignore: Ignore::default(),
        }
    }
}

/// What one `COPY` asks for, its words expanded.
#[derive(Debug, Clone, Copy)]
pub struct CopyRequest<'a> {
    pub sources: &'a [Source],
    pub dest: &'a str,
    /// The working directory a relative destination is below.
    pub workdir: &'a str,
    pub options: &'a CopyOptions,
    /// `ADD`: local tar archives are extracted, URLs taken from `fetched`.
    pub add: bool,
    /// `ADD`'s URL sources, downloaded: the URL, the file, where it is.
    pub fetched: &'a [(String, Fetched, PathBuf)],
}

/// Writes the layer a `COPY` from `context` makes on top of `layers` (the image's layer
/// directories, base first).
pub fn write_copy_layer(
    context: &Context,
    request: &CopyRequest<'_>,
    layers: &[PathBuf],
    out: impl Write,
    epoch: Option<i64>,
) -> Result<(), String> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let sink = copy_into(context, request, layers, TarSink { builder }, epoch)?;
    sink.builder
        .into_inner()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The digest of what a `COPY` copies: every entry's path, kind, mode, owner, link target and
/// content (not times), the contents' hashes taken from `hashes` where it knows the file.
pub fn copy_digest(
    context: &Context,
    request: &CopyRequest<'_>,
    layers: &[PathBuf],
    hashes: &FileHashes,
) -> Result<Digest, String> {
    let sink = DigestSink {
        hasher: Sha256::new(),
        hashes,
    };
    let sink = copy_into(context, request, layers, sink, None)?;
    let bytes: [u8; 32] = sink.hasher.finalize().into();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Digest::from_hex(&hex).map_err(|e| e.to_string())
}

/// Carries out a `COPY` into `sink`.
fn copy_into<S: Sink>(
    context: &Context,
    request: &CopyRequest<'_>,
    layers: &[PathBuf],
    sink: S,
    epoch: Option<i64>,
) -> Result<S, String> {
    let CopyRequest {
        sources,
        dest,
        workdir,
        options,
        add,
        fetched,
    } = *request;
    // Each source path with the part of it `--parents` keeps below the destination.
    let mut selected: Vec<(String, String)> = Vec::new();
    let mut inline: Vec<(&str, &str)> = Vec::new();
    let mut remote: Vec<&(String, Fetched, PathBuf)> = Vec::new();
    let mut wildcard = false;
    for source in sources {
        let path = match source {
            Source::Path(path) => path,
            Source::Inline { name, content, .. } => {
                inline.push((name, content));
                continue;
            }
        };
        if add && is_remote(path) {
            let download = fetched.iter().find(|(url, ..)| url == path).ok_or_else(|| {
                if path.starts_with("http://") || path.starts_with("https://") {
                    format!("ADD {path}: not downloaded")
                } else {
                    format!(
                        "ADD {path}: only http and https URLs can be added (git repositories are not supported; clone into the build context and COPY from there)"
                    )
                }
            })?;
            remote.push(download);
            continue;
        }
        let clean = clean_relative(path);
        // `--parents` keeps a source's path below the destination, from the `/./` pivot on when
        // the path has one.
        let pivot = path
            .split_once("/./")
            .map_or(String::new(), |(before, _)| clean_relative(before));
        let kept = |found: &str| -> String {
            if !options.parents {
                return String::new();
            }
            match found.strip_prefix(&pivot) {
                Some(rest) if !pivot.is_empty() => rest.trim_start_matches('/').to_owned(),
                _ => found.to_owned(),
            }
        };
        if has_wildcard(&clean) {
            wildcard = true;
            let matches = context.matching(&clean)?;
            if matches.is_empty() {
                return Err(not_found(path));
            }
            selected.extend(matches.into_iter().map(|m| {
                let kept = kept(&m);
                (m, kept)
            }));
        } else {
            if !context.exists(&clean) {
                return Err(not_found(path));
            }
            let kept = kept(&clean);
            selected.push((clean, kept));
        }
    }
    let exclude = Ignore::parse(&options.exclude.join("\n"))
        .map_err(|e| format!("invalid --exclude pattern: {e}"))?;
    let dest = if dest.starts_with('/') {
        dest.to_owned()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    // `ADD` extracts local tar archives into the destination (a directory then).
    let is_archive = |source: &str| {
        add && context
            .path(source)
            .filter(|path| fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
            .is_some_and(|path| archive::is_archive(&path))
    };
    let any_dir = selected
        .iter()
        .any(|(source, _)| context.is_dir(source) || is_archive(source));
    let into_dir = dest.ends_with('/')
        || selected.len() + inline.len() + remote.len() > 1
        || wildcard
        || any_dir
        || options.parents;
    let dest = resolve_in_layers(layers, &clean_relative(&dest))?;
    let owner = match &options.chown {
        Some(chown) => owner(chown, layers)?,
        None => (0, 0),
    };
    let chmod = match &options.chmod {
        Some(mode) => Some(
            u32::from_str_radix(mode, 8)
                .map_err(|_| format!("invalid --chmod {mode:?}: an octal mode like 755"))?,
        ),
        None => None,
    };
    let mut writer = Writer {
        sink,
        context,
        owner,
        chowned: options.chown.is_some(),
        chmod,
        epoch,
        exclude,
    };
    // Parent directories the image lacks are made, root's and 0755.
    let dir_part = if into_dir {
        dest.clone()
    } else {
        dest.rsplit_once('/')
            .map_or(String::new(), |(d, _)| d.to_owned())
    };
    let mut prefix = String::new();
    for part in dir_part.split('/').filter(|p| !p.is_empty()) {
        prefix = if prefix.is_empty() {
            part.to_owned()
        } else {
            format!("{prefix}/{part}")
        };
        if lookup(layers, &prefix).is_none() {
            writer.directory_entry(&prefix, 0o755, (0, 0), epoch.unwrap_or(0).max(0))?;
        }
    }
    let parent_of = |path: &str| {
        path.rsplit_once('/')
            .map_or("", |(parent, _)| parent)
            .to_owned()
    };
    let mut made = std::collections::BTreeSet::new();
    for (source, kept) in &selected {
        // What `--parents` keeps: the directories on the way, made as the image lacks them.
        let kept_dirs = if context.is_dir(source) {
            kept.clone()
        } else {
            parent_of(kept)
        };
        let mut below = dest.clone();
        for part in kept_dirs.split('/').filter(|p| !p.is_empty()) {
            below = join(&below, part);
            if lookup(layers, &below).is_none() && made.insert(below.clone()) {
                writer.directory_entry(&below, 0o755, (0, 0), epoch.unwrap_or(0).max(0))?;
            }
        }
        if context.is_dir(source) {
            // A directory's contents go into the destination, never the directory itself;
            // `--exclude` patterns are relative to it.
            writer.tree(source, &below, source)?;
        } else if is_archive(source) {
            let path = context
                .path(source)
                .ok_or_else(|| format!("{source}: not found"))?;
            writer.archive(source, &path, &dest)?;
        } else {
            let name = source.rsplit('/').next().unwrap_or(source);
            if writer.exclude.is_excluded(name) {
                continue;
            }
            let target = if into_dir {
                join(&below, name)
            } else {
                dest.clone()
            };
            writer.entry(source, &target)?;
        }
    }
    for (name, content) in inline {
        let target = if into_dir {
            join(&dest, name)
        } else {
            dest.clone()
        };
        let mode = chmod.unwrap_or(0o644);
        let mtime = epoch.unwrap_or_else(crate::time::now_unix).max(0);
        writer
            .sink
            .data(&target, content.as_bytes(), mode, owner, mtime)?;
    }
    // Downloads, as BuildKit adds them: 0600 unless `--chmod`, the server's time.
    for (url, file, host) in remote {
        let target = if into_dir {
            join(&dest, &file.name)
        } else {
            dest.clone()
        };
        let metadata = fs::symlink_metadata(host).map_err(|e| format!("{url}: {e}"))?;
        let mtime = epoch
            .map_or(file.mtime, |epoch| file.mtime.min(epoch))
            .max(0);
        writer.sink.file(
            &target,
            host,
            &metadata,
            chmod.unwrap_or(0o600),
            owner,
            mtime,
        )?;
    }
    Ok(writer.sink)
}

/// Whether an `ADD` source is a URL or a git repository rather than a path of the context.
fn is_remote(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

fn not_found(path: &str) -> String {
    format!(
        "file not found in build context or excluded by .dockerignore: stat {path}: file does not exist"
    )
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

impl Context {
    /// The host path of `relative` (in the top-most layer that has it), if it exists. Symlinks are
    /// never followed: they are copied as symlinks, and one of a stage's could point anywhere on
    /// the host.
    fn path(&self, relative: &str) -> Option<PathBuf> {
        match &self.tree {
            Tree::Dir(dir) => {
                let path = dir.join(relative);
                fs::symlink_metadata(&path).is_ok().then_some(path)
            }
            Tree::Layers(layers) => lookup(layers, relative).map(|(path, _)| path),
        }
    }

    /// Whether `relative` exists and is not excluded.
    fn exists(&self, relative: &str) -> bool {
        (relative.is_empty() || !self.ignore.is_excluded(relative)) && self.path(relative).is_some()
    }

    fn is_dir(&self, relative: &str) -> bool {
        self.path(relative)
            .and_then(|path| fs::symlink_metadata(path).ok())
            .is_some_and(|m| m.is_dir())
    }

    /// The entries of the directory `relative`, in byte order, each with where it is and what
    /// `lstat` says of it (the top-most layer's), from one read of each directory: a walk of the
    /// context stats each file once.
    fn list(&self, relative: &str) -> io::Result<Vec<Listed>> {
        let (layers, layered) = match &self.tree {
            Tree::Dir(dir) => (std::slice::from_ref(dir), false),
            Tree::Layers(layers) => (layers.as_slice(), true),
        };
        let mut found: std::collections::BTreeMap<String, Listed> = Default::default();
        let mut deleted = std::collections::BTreeSet::new();
        for layer in layers.iter().rev() {
            let dir = layer.join(relative);
            match fs::symlink_metadata(&dir) {
                Ok(metadata) if metadata.is_dir() => {}
                // Something else hides the directories of the layers below.
                Ok(_) => break,
                Err(_) => continue,
            }
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let metadata = entry.metadata()?;
                use std::os::unix::fs::FileTypeExt;
                if layered && metadata.file_type().is_char_device() && metadata.rdev() == 0 {
                    deleted.insert(name);
                } else if !deleted.contains(&name) && !found.contains_key(&name) {
                    let path = entry.path();
                    found.insert(
                        name.clone(),
                        Listed {
                            name,
                            path,
                            metadata,
                        },
                    );
                }
            }
            if !layered {
                break;
            }
            let opaque = crate::sys::lgetxattr(&dir, b"trusted.overlay.opaque")?;
            if opaque.as_deref() == Some(b"y") {
                break;
            }
        }
        Ok(found.into_values().collect())
    }

    /// The names in the directory `relative`, in byte order.
    #[cfg(test)]
    fn names(&self, relative: &str) -> io::Result<Vec<String>> {
        Ok(self.list(relative)?.into_iter().map(|l| l.name).collect())
    }

    /// The context's paths (not excluded) that `pattern` matches, in byte order.
    fn matching(&self, pattern: &str) -> Result<Vec<String>, String> {
        let depth = pattern.split('/').count();
        let mut found = Vec::new();
        self.walk("", 1, depth, &mut |path| {
            if glob_match(pattern, path) {
                found.push(path.to_owned());
            }
        })
        .map_err(|e| format!("read the build context: {e}"))?;
        found.sort();
        Ok(found)
    }

    /// Visits the paths below `dir` down to `depth` components, skipping excluded ones.
    fn walk(
        &self,
        dir: &str,
        level: usize,
        depth: usize,
        visit: &mut dyn FnMut(&str),
    ) -> io::Result<()> {
        for listed in self.list(dir)? {
            let path = join(dir, &listed.name);
            let is_dir = listed.metadata.is_dir();
            let excluded = self.ignore.is_excluded(&path);
            if !excluded {
                visit(&path);
            }
            if is_dir && level < depth && (!excluded || self.ignore.may_include_below(&path)) {
                self.walk(&path, level + 1, depth, visit)?;
            }
        }
        Ok(())
    }
}

/// An entry of a context's directory (see [`Context::list`]).
struct Listed {
    name: String,
    /// Where it is on the host (in the top-most layer that has it).
    path: PathBuf,
    metadata: fs::Metadata,
}

/// Go's `filepath.Match` over a whole relative path: `*` and `?` do not match `/`.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => s.first().is_some_and(|c| *c != '/') && go(rest, &s[1..]),
            Some(('[', _)) => {
                let Some(close) = p.iter().skip(1).position(|c| *c == ']') else {
                    return false;
                };
                let class = &p[1..=close];
                let (negate, class) = match class.split_first() {
                    Some(('^', rest)) => (true, rest),
                    _ => (false, class),
                };
                let Some(&c) = s.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && c != '/' && go(&p[close + 2..], &s[1..])
            }
            Some(('\\', rest)) if !rest.is_empty() => {
                s.first() == Some(&rest[0]) && go(&rest[1..], &s[1..])
            }
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    go(&p, &s)
}

/// The directories `WORKDIR dir` must make in the image the layers make (the missing ones on the
/// way, symlinks followed inside the image), each with its path relative to the root; none when
/// the directory is there.
pub(super) fn missing_workdir(layers: &[PathBuf], dir: &str) -> Result<Vec<String>, String> {
    let resolved = resolve_in_layers(layers, &clean_relative(dir))?;
    let mut missing = Vec::new();
    let mut prefix = String::new();
    for part in resolved.split('/').filter(|p| !p.is_empty()) {
        prefix = join(&prefix, part);
        if lookup(layers, &prefix).is_none() {
            missing.push(prefix.clone());
        }
    }
    Ok(missing)
}

/// Writes a layer of the directories `dirs` (0755, owned by `user` as the image's files name it,
/// root's when empty).
pub(super) fn write_dirs_layer(
    layers: &[PathBuf],
    dirs: &[String],
    user: &str,
    out: impl Write,
    mtime: i64,
) -> Result<(), String> {
    let owner = if user.is_empty() {
        (0, 0)
    } else {
        owner(user, layers)?
    };
    let mut sink = TarSink {
        builder: tar::Builder::new(out),
    };
    sink.builder.mode(tar::HeaderMode::Deterministic);
    for dir in dirs {
        sink.directory(dir, 0o755, owner, mtime)?;
    }
    sink.builder
        .into_inner()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether the image the layers make has `relative`.
pub(super) fn exists_in(layers: &[PathBuf], relative: &str) -> bool {
    lookup(layers, relative).is_some()
}

/// The entry at `relative` in the image the layers make (the top-most layer that has it), or
/// `None` when absent or deleted (a whiteout).
fn lookup(layers: &[PathBuf], relative: &str) -> Option<(PathBuf, fs::Metadata)> {
    for layer in layers.iter().rev() {
        let path = layer.join(relative);
        if let Ok(metadata) = fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if metadata.file_type().is_char_device() && metadata.rdev() == 0 {
                return None;
            }
            return Some((path, metadata));
        }
    }
    None
}

/// Resolves `relative` in the image the layers make, following symlinks inside it (`..` and
/// absolute targets stay inside); returns the path without symlinks on the way.
fn resolve_in_layers(layers: &[PathBuf], relative: &str) -> Result<String, String> {
    let mut pending: Vec<String> = relative
        .split('/')
        .rev()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == "." {
            continue;
        }
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = if resolved.is_empty() {
            part.clone()
        } else {
            format!("{}/{part}", resolved.join("/"))
        };
        match lookup(layers, &candidate) {
            Some((path, metadata)) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(format!(
                        "too many symlinks resolving /{relative} in the image"
                    ));
                }
                let target = fs::read_link(&path).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for component in target.components().rev() {
                    match component {
                        Component::Normal(name) => {
                            pending.push(name.to_string_lossy().into_owned())
                        }
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(resolved.join("/"))
}

/// `--chown=user[:group]`: numbers as they are, names from the image's files.
fn owner(chown: &str, layers: &[PathBuf]) -> Result<(u32, u32), String> {
    let (user, group) = match chown.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (chown, None),
    };
    // Only a regular file of the image's: its `/etc/passwd` as a symlink would be resolved on the
    // host.
    let file = |name: &str| {
        lookup(layers, name)
            .filter(|(_, metadata)| metadata.is_file())
            .and_then(|(path, _)| fs::read_to_string(path).ok())
            .unwrap_or_default()
    };
    // (id, primary group) of `name` in a passwd or group file.
    let find = |text: &str, name: &str| -> Option<(u32, Option<u32>)> {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.first() != Some(&name) {
                return None;
            }
            let id = fields.get(2)?.parse().ok()?;
            Some((id, fields.get(3).and_then(|f| f.parse().ok())))
        })
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, None),
        Err(_) => find(&file("etc/passwd"), user)
            .ok_or_else(|| format!("--chown: no user {user:?} in the image's /etc/passwd"))?,
    };
    let gid = match group {
        None => primary.unwrap_or(uid),
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => find(&file("etc/group"), group)
                .map(|(gid, _)| gid)
                .ok_or_else(|| format!("--chown: no group {group:?} in the image's /etc/group"))?,
        },
    };
    Ok((uid, gid))
}

/// Where the entries of a `COPY` go: a layer, or the digest of the step's cache key.
trait Sink {
    fn directory(
        &mut self,
        path: &str,
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String>;
    fn symlink(
        &mut self,
        path: &str,
        link: &Path,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String>;
    /// A regular file with the content `data`.
    fn data(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String>;
    /// The entries of the tar archive at `host` (see [`archive`]) below the directory `dest`;
    /// `owner` replaces the archive's owners when given, `epoch` clamps its times.
    fn archive(
        &mut self,
        dest: &str,
        host: &Path,
        metadata: &fs::Metadata,
        owner: Option<(u32, u32)>,
        epoch: Option<i64>,
    ) -> Result<(), String>;
    /// A regular file: `host` is where its content is, `metadata` what `lstat` said of it.
    fn file(
        &mut self,
        path: &str,
        host: &Path,
        metadata: &fs::Metadata,
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String>;
}

struct TarSink<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    fn header(kind: tar::EntryType, mode: u32, owner: (u32, u32), mtime: i64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(owner.0.into());
        header.set_gid(owner.1.into());
        header.set_mtime(mtime as u64);
        header.set_size(0);
        header
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn directory(
        &mut self,
        path: &str,
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Directory, mode, owner, mtime);
        self.builder
            .append_data(&mut header, format!("{path}/"), io::empty())
            .map_err(|e| e.to_string())
    }

    fn symlink(
        &mut self,
        path: &str,
        link: &Path,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, owner, mtime);
        self.builder
            .append_link(&mut header, path, link)
            .map_err(|e| e.to_string())
    }

    fn data(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Regular, mode, owner, mtime);
        header.set_size(data.len() as u64);
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|e| e.to_string())
    }

    fn archive(
        &mut self,
        dest: &str,
        host: &Path,
        _: &fs::Metadata,
        owner: Option<(u32, u32)>,
        epoch: Option<i64>,
    ) -> Result<(), String> {
        let mut archive = archive::open(host).map_err(|e| format!("{}: {e}", host.display()))?;
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| format!("{}: {e}", host.display()))?;
            self.extracted(entry, dest, owner, epoch)?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        path: &str,
        host: &Path,
        metadata: &fs::Metadata,
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String> {
        let mut header = Self::header(tar::EntryType::Regular, mode, owner, mtime);
        header.set_size(metadata.len());
        let file = fs::File::open(host).map_err(|e| format!("{path}: {e}"))?;
        self.builder
            .append_data(&mut header, path, file)
            .map_err(|e| e.to_string())
    }
}

impl<W: Write> TarSink<W> {
    /// Adds the archive's entry under `dest`.
    fn extracted(
        &mut self,
        mut entry: tar::Entry<'_, Box<dyn io::Read>>,
        dest: &str,
        owner: Option<(u32, u32)>,
        epoch: Option<i64>,
    ) -> Result<(), String> {
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        let relative = clean_relative(&name);
        if relative.is_empty() {
            return Ok(());
        }
        let target = join(dest, &relative);
        let kind = entry.header().entry_type();
        // A fresh header with the archive's fields (a field an archive left blank reads as 0).
        let original = entry.header();
        let (uid, gid) = owner.unwrap_or((
            original.uid().unwrap_or(0) as u32,
            original.gid().unwrap_or(0) as u32,
        ));
        let mtime = original.mtime().unwrap_or(0);
        let mtime = epoch.map_or(mtime, |epoch| mtime.min(epoch.max(0) as u64));
        let mut header = TarSink::<W>::header(
            kind,
            original.mode().unwrap_or(0o644),
            (uid, gid),
            mtime as i64,
        );
        header.set_size(entry.size());
        let fail = |e: io::Error| format!("{name}: {e}");
        match kind {
            tar::EntryType::Directory => {
                header.set_size(0);
                self.builder
                    .append_data(&mut header, format!("{target}/"), io::empty())
                    .map_err(fail)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                header.set_entry_type(tar::EntryType::Regular);
                self.builder
                    .append_data(&mut header, &target, &mut entry)
                    .map_err(fail)
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(fail)?
                    .unwrap_or_default()
                    .into_owned();
                self.builder
                    .append_link(&mut header, &target, link)
                    .map_err(fail)
            }
            // A hard link names another entry of the archive: it moves with it below `dest`.
            tar::EntryType::Link => {
                let link = entry.link_name().map_err(fail)?.unwrap_or_default();
                let link = join(dest, &clean_relative(&link.display().to_string()));
                self.builder
                    .append_link(&mut header, &target, link)
                    .map_err(fail)
            }
            tar::EntryType::Fifo => {
                header.set_size(0);
                self.builder
                    .append_data(&mut header, &target, io::empty())
                    .map_err(fail)
            }
            // Pax and GNU long-name records are read into the entries they describe.
            tar::EntryType::XGlobalHeader => Ok(()),
            other => Err(format!(
                "{name}: archive entries of type {other:?} (devices) cannot be added"
            )),
        }
    }
}

/// Hashes entries as `kind path mode uid gid` lines, with a file's content hash or a link's target.
struct DigestSink<'a> {
    hasher: Sha256,
    hashes: &'a FileHashes,
}

impl DigestSink<'_> {
    fn line(&mut self, kind: &str, path: &str, mode: u32, owner: (u32, u32), extra: &[u8]) {
        self.hasher.update(format!(
            "{kind} {} {mode:o} {} {} ",
            path.len(),
            owner.0,
            owner.1
        ));
        self.hasher.update(path.as_bytes());
        self.hasher.update(b" ");
        self.hasher.update((extra.len() as u64).to_le_bytes());
        self.hasher.update(extra);
    }
}

impl Sink for DigestSink<'_> {
    fn directory(
        &mut self,
        path: &str,
        mode: u32,
        owner: (u32, u32),
        _: i64,
    ) -> Result<(), String> {
        self.line("dir", path, mode, owner, b"");
        Ok(())
    }

    fn symlink(
        &mut self,
        path: &str,
        link: &Path,
        owner: (u32, u32),
        _: i64,
    ) -> Result<(), String> {
        self.line(
            "link",
            path,
            0o777,
            owner,
            link.as_os_str().as_encoded_bytes(),
        );
        Ok(())
    }

    fn data(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
        _: i64,
    ) -> Result<(), String> {
        let hash: [u8; 32] = Sha256::digest(data).into();
        self.line("data", path, mode, owner, &hash);
        Ok(())
    }

    fn archive(
        &mut self,
        dest: &str,
        host: &Path,
        metadata: &fs::Metadata,
        owner: Option<(u32, u32)>,
        _: Option<i64>,
    ) -> Result<(), String> {
        let hash = self
            .hashes
            .hash(host, metadata)
            .map_err(|e| format!("{}: {e}", host.display()))?;
        let (kind, owner) = match owner {
            Some(owner) => ("archive-chown", owner),
            None => ("archive", (0, 0)),
        };
        self.line(kind, dest, 0, owner, &hash);
        Ok(())
    }

    fn file(
        &mut self,
        path: &str,
        host: &Path,
        metadata: &fs::Metadata,
        mode: u32,
        owner: (u32, u32),
        _: i64,
    ) -> Result<(), String> {
        let hash = self
            .hashes
            .hash(host, metadata)
            .map_err(|e| format!("{path}: {e}"))?;
        self.line("file", path, mode, owner, &hash);
        Ok(())
    }
}

struct Writer<'a, S: Sink> {
    sink: S,
    context: &'a Context,
    owner: (u32, u32),
    /// Whether `--chown` set `owner` (archives keep their owners otherwise).
    chowned: bool,
    /// `--exclude` patterns.
    exclude: Ignore,
    chmod: Option<u32>,
    epoch: Option<i64>,
}

impl<S: Sink> Writer<'_, S> {
    fn mtime(&self, metadata: &fs::Metadata) -> i64 {
        let mtime = metadata.mtime();
        self.epoch.map_or(mtime, |epoch| mtime.min(epoch)).max(0)
    }

    fn directory_entry(
        &mut self,
        path: &str,
        mode: u32,
        owner: (u32, u32),
        mtime: i64,
    ) -> Result<(), String> {
        self.sink.directory(path, mode, owner, mtime)
    }

    /// The context's `source` as the layer's `target` (a directory entry for a directory).
    fn entry(&mut self, source: &str, target: &str) -> Result<(), String> {
        let path = self
            .context
            .path(source)
            .ok_or_else(|| format!("{source}: not found"))?;
        let metadata = fs::symlink_metadata(&path).map_err(|e| format!("{source}: {e}"))?;
        self.entry_at(source, &path, &metadata, target)
    }

    /// [`Self::entry`] of a source already found at `path`, with what `lstat` said of it.
    fn entry_at(
        &mut self,
        source: &str,
        path: &Path,
        metadata: &fs::Metadata,
        target: &str,
    ) -> Result<(), String> {
        let kind = metadata.file_type();
        let mode = self.chmod.unwrap_or(metadata.permissions().mode() & 0o7777);
        let mtime = self.mtime(metadata);
        if kind.is_dir() {
            return self.directory_entry(target, mode, self.owner, mtime);
        }
        if kind.is_symlink() {
            let link = fs::read_link(path).map_err(|e| format!("{source}: {e}"))?;
            return self.sink.symlink(target, &link, self.owner, mtime);
        }
        if !kind.is_file() {
            return Err(format!(
                "{source}: only files, directories and symlinks can be copied"
            ));
        }
        self.sink
            .file(target, path, metadata, mode, self.owner, mtime)
    }

    /// The archive `source` (at `host`) extracted below `dest`.
    fn archive(&mut self, source: &str, host: &Path, dest: &str) -> Result<(), String> {
        let metadata = fs::symlink_metadata(host).map_err(|e| format!("{source}: {e}"))?;
        let owner = self.chowned.then_some(self.owner);
        self.sink.archive(dest, host, &metadata, owner, self.epoch)
    }

    /// Everything below the context's directory `source`, not excluded, under `target`;
    /// `--exclude` patterns match paths relative to `base` (the directory the `COPY` names).
    fn tree(&mut self, source: &str, target: &str, base: &str) -> Result<(), String> {
        let listed = self
            .context
            .list(source)
            .map_err(|e| format!("{source}: {e}"))?;
        for Listed {
            name,
            path: host,
            metadata,
        } in listed
        {
            let path = join(source, &name);
            let relative = path
                .strip_prefix(base)
                .map_or(path.as_str(), |rest| rest.trim_start_matches('/'));
            let ignored = self.context.ignore.is_excluded(&path);
            let excluded = self.exclude.is_excluded(relative);
            let is_dir = metadata.is_dir();
            if !ignored && !excluded {
                self.entry_at(&path, &host, &metadata, &join(target, &name))?;
            }
            if is_dir
                && (!ignored || self.context.ignore.may_include_below(&path))
                && (!excluded || self.exclude.may_include_below(relative))
            {
                self.tree(&path, &join(target, &name), base)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
