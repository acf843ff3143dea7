use std::os::unix::fs::symlink;

use super::*;

/// (path, kind, mode, uid, gid, link or content) of an entry of a layer.
type Entry = (String, char, u32, u64, u64, String);

fn listing(layer: &[u8]) -> Vec<Entry> {
    use std::io::Read;
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let kind = match header.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            };
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            let data = String::from_utf8_lossy(&bytes).into_owned();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            (
                entry.path().unwrap().display().to_string(),
                kind,
                header.mode().unwrap(),
                header.uid().unwrap(),
                header.gid().unwrap(),
                link.unwrap_or(data),
            )
        })
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    context: Context,
    layers: Vec<PathBuf>,
}

/// A context with files, a subdirectory, an ignored file and a symlink; one image layer with
/// Debian's `/bin -> usr/bin`, `/usr/bin`, an `/etc/passwd` and `/etc/group`.
fn setup(ignore: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("context");
    fs::create_dir_all(context.join("src/lib")).unwrap();
    fs::write(context.join("app.py"), "print()\n").unwrap();
    fs::write(context.join("README.md"), "readme\n").unwrap();
    fs::write(context.join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(context.join("src/lib/mod.rs"), "mod x;\n").unwrap();
    fs::write(context.join("src/secret.key"), "key\n").unwrap();
    symlink("main.rs", context.join("src/link.rs")).unwrap();
    fs::set_permissions(context.join("app.py"), fs::Permissions::from_mode(0o750)).unwrap();
    let layer = dir.path().join("layer");
    fs::create_dir_all(layer.join("usr/bin")).unwrap();
    fs::create_dir_all(layer.join("etc")).unwrap();
    symlink("usr/bin", layer.join("bin")).unwrap();
    fs::write(
        layer.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        layer.join("etc/group"),
        "root:x:0:\nstaff:x:50:\napp:x:1001:\n",
    )
    .unwrap();
    Setup {
        _dir: dir,
        context: Context::dir(context, Ignore::parse(ignore).unwrap()),
        layers: vec![layer],
    }
}

fn copy(
    setup: &Setup,
    sources: &[&str],
    dest: &str,
    options: CopyOptions,
) -> Result<Vec<Entry>, String> {
    let sources: Vec<Source> = sources
        .iter()
        .map(|s| Source::Path(s.to_string()))
        .collect();
    layer_of(setup, &sources, dest, &options, false)
}

/// The layer a `COPY` (or with `add`, an `ADD`) of `sources` to `dest` makes.
fn layer_of(
    setup: &Setup,
    sources: &[Source],
    dest: &str,
    options: &CopyOptions,
    add: bool,
) -> Result<Vec<Entry>, String> {
    let mut layer = Vec::new();
    write_copy_layer(
        &setup.context,
        &request(sources, dest, options, add),
        &setup.layers,
        &mut layer,
        Some(1_000),
    )?;
    Ok(listing(&layer))
}

fn request<'a>(
    sources: &'a [Source],
    dest: &'a str,
    options: &'a CopyOptions,
    add: bool,
) -> CopyRequest<'a> {
    CopyRequest {
        sources,
        dest,
        workdir: "/work",
        options,
        add,
        fetched: &[],
    }
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.0.as_str()).collect()
}

#[test]
fn a_file_to_a_file_or_into_a_directory() {
    let setup = setup("");
    let entries = copy(
        &setup,
        &["app.py"],
        "/opt/app/run.py",
        CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(paths(&entries), ["opt/", "opt/app/", "opt/app/run.py"]);
    assert_eq!(entries[2].2, 0o750);
    assert_eq!((entries[2].3, entries[2].4), (0, 0));
    assert_eq!(entries[2].5, "print()\n");
    // A trailing slash, and a relative destination below the working directory.
    let entries = copy(&setup, &["/app.py"], "dir/", CopyOptions::default()).unwrap();
    assert_eq!(paths(&entries), ["work/", "work/dir/", "work/dir/app.py"]);
}

#[test]
fn a_directory_copies_its_contents_and_dockerignore_applies() {
    let setup = setup("**/*.key\n");
    let entries = copy(&setup, &["src"], "/app", CopyOptions::default()).unwrap();
    assert_eq!(
        paths(&entries),
        [
            "app/",
            "app/lib/",
            "app/lib/mod.rs",
            "app/link.rs",
            "app/main.rs"
        ]
    );
    assert_eq!(entries[3].1, 'l');
    assert_eq!(entries[3].5, "main.rs");
    let error = copy(&setup, &["src/secret.key"], "/k", CopyOptions::default()).unwrap_err();
    assert!(
        error.starts_with("file not found in build context or excluded by .dockerignore"),
        "{error}"
    );
}

#[test]
fn wildcards_select_from_the_context_root() {
    let setup = setup("");
    let entries = copy(
        &setup,
        &["*.py", "src/*.rs"],
        "/dst/",
        CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(
        paths(&entries),
        ["dst/", "dst/app.py", "dst/link.rs", "dst/main.rs"]
    );
    assert!(copy(&setup, &["*.none"], "/dst/", CopyOptions::default()).is_err());
    // `..` cannot leave the context.
    let entries = copy(&setup, &["../../app.py"], "/x", CopyOptions::default()).unwrap();
    assert_eq!(paths(&entries), ["x"]);
}

#[test]
fn the_destination_follows_the_images_symlinks_inside_it() {
    let setup = setup("");
    let entries = copy(&setup, &["app.py"], "/bin/", CopyOptions::default()).unwrap();
    // /bin is Debian's symlink to usr/bin, which exists: no directory entry shadows the link.
    assert_eq!(paths(&entries), ["usr/bin/app.py"]);
}

#[test]
fn chown_and_chmod() {
    let setup = setup("");
    let options = |chown: &str, chmod: Option<&str>| CopyOptions {
        chown: Some(chown.into()),
        chmod: chmod.map(str::to_owned),
        ..CopyOptions::default()
    };
    let entries = copy(&setup, &["README.md"], "/r", options("app", Some("640"))).unwrap();
    assert_eq!(
        (entries[0].3, entries[0].4, entries[0].2),
        (1000, 1001, 0o640)
    );
    let entries = copy(&setup, &["README.md"], "/r", options("app:staff", None)).unwrap();
    assert_eq!((entries[0].3, entries[0].4), (1000, 50));
    let entries = copy(&setup, &["README.md"], "/r", options("7:8", None)).unwrap();
    assert_eq!((entries[0].3, entries[0].4), (7, 8));
    let error = copy(&setup, &["README.md"], "/r", options("nobody", None)).unwrap_err();
    assert!(error.contains("no user \"nobody\""), "{error}");
    let error = copy(&setup, &["README.md"], "/r", options("0", Some("rwx"))).unwrap_err();
    assert!(error.contains("--chmod"), "{error}");
}

#[test]
fn globs_match_as_go_filepath_match() {
    assert!(glob_match("*.py", "app.py"));
    assert!(!glob_match("*.py", "src/app.py"));
    assert!(glob_match("src/*.rs", "src/main.rs"));
    assert!(glob_match("a?c", "abc"));
    assert!(!glob_match("a?c", "a/c"));
    assert!(glob_match("[a-c]x", "bx"));
    assert!(!glob_match("[^a-c]x", "bx"));
    assert!(glob_match("\\*", "*"));
    assert!(!glob_match("\\*", "a"));
}

/// Needs root (whiteouts are device nodes): a stage's layers seen as the image they make.
#[test]
fn from_layers_whiteouts_and_opaque_directories_apply() {
    if !crate::sys::is_root() {
        assert!(
            std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
            "needs root (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper) = (dir.path().join("lower"), dir.path().join("upper"));
    for d in ["d", "o"] {
        fs::create_dir_all(lower.join(d)).unwrap();
        fs::create_dir_all(upper.join(d)).unwrap();
    }
    for f in ["d/a", "d/b", "o/old"] {
        fs::write(lower.join(f), f).unwrap();
    }
    fs::write(upper.join("d/c"), "c").unwrap();
    fs::write(upper.join("o/new"), "new").unwrap();
    crate::sys::mknod(&upper.join("d/a"), crate::sys::NodeKind::Char, 0, 0, 0).unwrap();
    crate::sys::lsetxattr(&upper.join("o"), b"trusted.overlay.opaque", b"y").unwrap();
    let context = Context::layers(vec![lower, upper]);
    assert_eq!(context.names("d").unwrap(), ["b", "c"]);
    assert_eq!(context.names("o").unwrap(), ["new"]);
    assert!(!context.exists("d/a"));
    let sources = [Source::Path("d".into())];
    let options = CopyOptions::default();
    let mut layer = Vec::new();
    write_copy_layer(
        &context,
        &request(&sources, "/x/", &options, false),
        &[],
        &mut layer,
        None,
    )
    .unwrap();
    assert_eq!(paths(&listing(&layer)), ["x/", "x/b", "x/c"]);
}

#[test]
fn chown_names_never_come_from_a_host_file_through_a_symlink() {
    let setup = setup("");
    let layer = &setup.layers[0];
    fs::remove_file(layer.join("etc/passwd")).unwrap();
    // An image whose /etc/passwd points at the host's: the name is unknown, not looked up there.
    symlink("/etc/passwd", layer.join("etc/passwd")).unwrap();
    let options = CopyOptions {
        chown: Some("root".into()),
        ..CopyOptions::default()
    };
    let error = copy(&setup, &["README.md"], "/r", options).unwrap_err();
    assert!(error.contains("no user \"root\""), "{error}");
}

/// A gzip-compressed tar of `dir/a` (owned by 7:8), a link to it, and `top`.
fn write_archive(path: &std::path::Path) {
    use std::io::Write;
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    builder
        .append_data(&mut header, "dir/", std::io::empty())
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o600);
    header.set_uid(7);
    header.set_gid(8);
    header.set_size(2);
    builder
        .append_data(&mut header, "dir/a", &b"aa"[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    builder
        .append_link(&mut header, "dir/hard", "dir/a")
        .unwrap();
    // The tar crate refuses to write `..`: the name goes in by hand, as a hostile archive has it.
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(1);
    header.as_old_mut().name[..6].copy_from_slice(b"../top");
    header.set_cksum();
    builder.append(&header, &b"t"[..]).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&builder.into_inner().unwrap()).unwrap();
    fs::write(path, gzip.finish().unwrap()).unwrap();
}

#[test]
fn add_extracts_local_archives_inside_the_destination() {
    let setup = setup("");
    let Tree::Dir(dir) = &setup.context.tree else {
        unreachable!()
    };
    write_archive(&dir.join("app.tar.gz"));
    let sources = [Source::Path("app.tar.gz".into())];
    let entries = layer_of(&setup, &sources, "/opt/app", &CopyOptions::default(), true).unwrap();
    let names = paths(&entries);
    // Parents made, entries below the destination (`../top` cannot leave it), the hard link
    // moved with its target, the archive's owners kept.
    assert_eq!(
        names,
        [
            "opt/",
            "opt/app/",
            "opt/app/dir/",
            "opt/app/dir/a",
            "opt/app/dir/hard",
            "opt/app/top"
        ]
    );
    let file = entries.iter().find(|e| e.0 == "opt/app/dir/a").unwrap();
    assert_eq!(
        (file.2, file.3, file.4, file.5.as_str()),
        (0o600, 7, 8, "aa")
    );
    // `--chown` replaces the owners.
    let options = CopyOptions {
        chown: Some("app".into()),
        ..CopyOptions::default()
    };
    let entries = layer_of(&setup, &sources, "/opt/app", &options, true).unwrap();
    let file = entries.iter().find(|e| e.0 == "opt/app/dir/a").unwrap();
    assert_eq!((file.3, file.4), (1000, 1001));
    // COPY copies the archive as a file.
    let entries = layer_of(&setup, &sources, "/opt/", &CopyOptions::default(), false).unwrap();
    assert_eq!(paths(&entries), ["opt/", "opt/app.tar.gz"]);
    // A compressed file that holds no tar is copied as it is.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, b"plain text").unwrap();
    fs::write(dir.join("notes.gz"), gzip.finish().unwrap()).unwrap();
    let sources = [Source::Path("notes.gz".into())];
    let entries = layer_of(&setup, &sources, "/opt/", &CopyOptions::default(), true).unwrap();
    assert_eq!(paths(&entries), ["opt/", "opt/notes.gz"]);
}

#[test]
fn add_refuses_git_repositories_with_a_hint() {
    let setup = setup("");
    let sources = [Source::Path("git@github.com:moby/buildkit.git".into())];
    let error = layer_of(&setup, &sources, "/", &CopyOptions::default(), true).unwrap_err();
    assert!(error.contains("clone into the build context"), "{error}");
}

#[test]
fn heredoc_sources_become_files() {
    let setup = setup("");
    let sources = [Source::Inline {
        name: "run.sh".into(),
        content: "echo hi\n".into(),
        expand: false,
    }];
    let entries = layer_of(
        &setup,
        &sources,
        "/usr/local/bin/",
        &CopyOptions::default(),
        false,
    )
    .unwrap();
    assert_eq!(
        entries.last().unwrap(),
        &(
            "usr/local/bin/run.sh".to_owned(),
            'f',
            0o644,
            0,
            0,
            "echo hi\n".to_owned()
        )
    );
    let options = CopyOptions {
        chmod: Some("755".into()),
        ..CopyOptions::default()
    };
    let entries = layer_of(&setup, &sources, "/start", &options, false).unwrap();
    assert_eq!(entries.last().unwrap().0, "start");
    assert_eq!(entries.last().unwrap().2, 0o755);
}

#[test]
fn the_copy_digest_follows_content_modes_and_owners_not_times() {
    let setup = setup("");
    let Tree::Dir(dir) = &setup.context.tree else {
        unreachable!()
    };
    let hashes = FileHashes::open(setup._dir.path().join("hashes"));
    let sources = [Source::Path("src".into())];
    let options = CopyOptions::default();
    let digest = |options: &CopyOptions| {
        copy_digest(
            &setup.context,
            &request(&sources, "/app/", options, false),
            &setup.layers,
            &hashes,
        )
        .unwrap()
    };
    let first = digest(&options);
    // A newer time alone changes nothing.
    let file = fs::File::options()
        .write(true)
        .open(dir.join("src/main.rs"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(digest(&options), first);
    // Content, mode and owner do.
    fs::write(dir.join("src/main.rs"), "fn main() { }\n").unwrap();
    let changed = digest(&options);
    assert_ne!(changed, first);
    fs::set_permissions(dir.join("src/main.rs"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_ne!(digest(&options), changed);
    let chowned = CopyOptions {
        chown: Some("1:1".into()),
        ..CopyOptions::default()
    };
    assert_ne!(digest(&chowned), digest(&options));
}

#[test]
fn exclude_patterns_are_relative_to_each_source() {
    let setup = setup("");
    let options = CopyOptions {
        exclude: vec!["*.key".into(), "lib".into()],
        ..CopyOptions::default()
    };
    let entries = copy(&setup, &["src"], "/app/", options.clone()).unwrap();
    assert_eq!(paths(&entries), ["app/", "app/link.rs", "app/main.rs"]);
    // A file source matches by its name; `!` re-includes.
    let entries = copy(&setup, &["src/secret.key", "app.py"], "/x/", options).unwrap();
    assert_eq!(paths(&entries), ["x/", "x/app.py"]);
    let options = CopyOptions {
        exclude: vec!["**".into(), "!lib/mod.rs".into()],
        ..CopyOptions::default()
    };
    let entries = copy(&setup, &["src"], "/app/", options).unwrap();
    assert_eq!(paths(&entries), ["app/", "app/lib/mod.rs"]);
}

#[test]
fn parents_keep_the_source_path_below_the_destination() {
    let setup = setup("");
    let options = CopyOptions {
        parents: true,
        ..CopyOptions::default()
    };
    let entries = copy(
        &setup,
        &["src/lib/mod.rs", "app.py"],
        "/dst/",
        options.clone(),
    )
    .unwrap();
    assert_eq!(
        paths(&entries),
        [
            "dst/",
            "dst/src/",
            "dst/src/lib/",
            "dst/src/lib/mod.rs",
            "dst/app.py"
        ]
    );
    // From the `/./` pivot on.
    let entries = copy(&setup, &["./src/./lib/mod.rs"], "/dst/", options.clone()).unwrap();
    assert_eq!(paths(&entries), ["dst/", "dst/lib/", "dst/lib/mod.rs"]);
    // A directory keeps its own path too; wildcards keep each match's.
    let entries = copy(&setup, &["src/lib"], "/dst/", options.clone()).unwrap();
    assert_eq!(
        paths(&entries),
        ["dst/", "dst/src/", "dst/src/lib/", "dst/src/lib/mod.rs"]
    );
    let entries = copy(&setup, &["src/*.rs"], "/dst", options).unwrap();
    assert_eq!(
        paths(&entries),
        ["dst/", "dst/src/", "dst/src/link.rs", "dst/src/main.rs"]
    );
}
