//! Named volumes: a directory per volume under `<root>/volumes/<name>/_data` with a labelled record,
//! like docker's `local` driver. Containers mount `_data`; `remove` deletes both.
//!
//! The local driver's options are docker's: none (a plain directory), `type: tmpfs` with
//! `o: size=..,mode=..` (each container using the volume gets a tmpfs of that size: no host mount
//! exists, so nothing is left mounted when containers go, and the content is gone when they stop, as
//! with docker's tmpfs volumes once unmounted), or `o: bind` with `device: /path` (containers bind the
//! device path itself, which is what docker's mount of it on `_data` amounts to).
//!
//! The record (`volume.json`) is written atomically after the data directory exists, so a crash leaves
//! at worst a data directory without a record, which `list` ignores and [`VolumeStore::recover`]
//! deletes (`remove` deletes the record first, so the same holds for a removal killed half-way).
//! [`seed`] copies an image's content into an empty volume.

pub mod seed;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::container::{Info, MountKind};
use crate::store::{IoError, atomic, create_dir_all, ctx, lock::Lock, remove_tree};

/// The only driver: volumes on the local file system.
pub const LOCAL_DRIVER: &str = "local";

/// What can go wrong with volumes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error(
        "invalid volume name {0:?}: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("volume record {path} is unreadable: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("volume driver {0:?} is not supported: only the local driver is")]
    UnsupportedDriver(String),
    #[error("volume {name}: {message}")]
    InvalidOptions { name: String, message: String },
    #[error("volume {name} is in use by container(s) {}", containers.join(", "))]
    InUse {
        name: String,
        containers: Vec<String>,
    },
}

/// How a volume is made, beyond its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `None` or `local`.
    pub driver: Option<String>,
    /// The local driver's options: `type`, `o`, `device`.
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default = "local_driver")]
    pub driver: String,
    /// The driver options it was created with.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The host directory containers mount (docker's `Mountpoint`).
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

fn local_driver() -> String {
    LOCAL_DRIVER.to_string()
}

/// Where a volume's content lives, from the local driver's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// The volume's own `_data` directory.
    Directory,
    /// A host path (`type: none`, `o: bind`, `device: /path`).
    Bind { device: PathBuf },
    /// A tmpfs per container (`type: tmpfs`); size in bytes (0: the kernel's default), mode (0: 1777).
    Tmpfs { size: u64, mode: u32 },
}

/// Parses the local driver's options as docker's `local` driver reads them.
pub fn backing(name: &str, options: &BTreeMap<String, String>) -> Result<Backing, Error> {
    let invalid = |message: String| Error::InvalidOptions {
        name: name.to_string(),
        message,
    };
    if let Some(key) = options
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "o" | "device"))
    {
        return Err(invalid(format!(
            "invalid option {key:?} for the local driver (it takes type, o and device)"
        )));
    }
    let kind = options.get("type").map(String::as_str).unwrap_or("");
    let flags: Vec<&str> = options
        .get("o")
        .map(|o| o.split(',').filter(|f| !f.is_empty()).collect())
        .unwrap_or_default();
    let device = options.get("device");
    if kind == "tmpfs" {
        let (mut size, mut mode) = (0, 0);
        for flag in flags {
            if let Some(value) = flag.strip_prefix("size=") {
                size = parse_size(value)
                    .ok_or_else(|| invalid(format!("invalid tmpfs size {value:?}")))?;
            } else if let Some(value) = flag.strip_prefix("mode=") {
                mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| invalid(format!("invalid tmpfs mode {value:?} (octal)")))?;
            } else {
                return Err(invalid(format!(
                    "tmpfs option {flag:?} is not supported (size and mode are)"
                )));
            }
        }
        return Ok(Backing::Tmpfs { size, mode });
    }
    if flags.iter().any(|f| matches!(*f, "bind" | "rbind")) {
        if let Some(flag) = flags.iter().find(|f| !matches!(**f, "bind" | "rbind")) {
            return Err(invalid(format!(
                "mount option {flag:?} is not supported with a bind (set read_only on the service's mount instead)"
            )));
        }
        let device = device
            .filter(|d| Path::new(d).is_absolute())
            .ok_or_else(|| invalid("a bind needs `device` set to an absolute host path".into()))?;
        return Ok(Backing::Bind {
            device: PathBuf::from(device),
        });
    }
    if kind.is_empty() && flags.is_empty() && device.is_none() {
        return Ok(Backing::Directory);
    }
    Err(invalid(format!(
        "the local driver's type {kind:?} is not supported: volumes are directories, tmpfs (type: tmpfs) or binds (type: none, o: bind, device: /path)"
    )))
}

/// `100`, `64k`, `100m`, `1g` (binary units, as mount(8) reads tmpfs sizes).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, ""),
    };
    let number: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

impl Volume {
    /// Where its content lives.
    pub fn backing(&self) -> Result<Backing, Error> {
        backing(&self.name, &self.options)
    }

    /// What a container mounts for this volume. A bind's device must exist.
    pub fn mount_kind(&self) -> Result<MountKind, Error> {
        Ok(match self.backing()? {
            Backing::Directory => MountKind::Bind {
                source: self.mountpoint.clone(),
            },
            Backing::Bind { device } => {
                if !device.exists() {
                    return Err(Error::InvalidOptions {
                        name: self.name.clone(),
                        message: format!("bind device {} does not exist", device.display()),
                    });
                }
                MountKind::Bind { source: device }
            }
            Backing::Tmpfs { size, mode } => MountKind::Tmpfs { size, mode },
        })
    }

    /// The host directory that holds its content, if any (not for tmpfs volumes).
    pub fn content_dir(&self) -> Result<Option<PathBuf>, Error> {
        Ok(match self.backing()? {
            Backing::Directory => Some(self.mountpoint.clone()),
            Backing::Bind { device } => Some(device),
            Backing::Tmpfs { .. } => None,
        })
    }
}

/// The volumes under one state root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_empty_dir(path: &Path) -> Result<bool, IoError> {
    Ok(fs::read_dir(path)
        .map_err(ctx("read", path))?
        .next()
        .is_none())
}

impl VolumeStore {
    /// The volume store under `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self, Error> {
        crate::store::secure_root(root)?;
        let dir = root.join("volumes");
        crate::store::private_dir(&dir)?;
        Ok(Self { dir })
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Creates a plain volume, or returns the existing one of that name.
    pub fn create(&self, name: &str, labels: BTreeMap<String, String>) -> Result<Volume, Error> {
        self.create_with(
            name,
            &Config {
                labels,
                ..Config::default()
            },
        )
    }

    /// Creates a volume, or returns the existing one of that name (whose labels and options are kept
    /// as they were created).
    pub fn create_with(&self, name: &str, config: &Config) -> Result<Volume, Error> {
        if !valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        let driver = config.driver.as_deref().unwrap_or(LOCAL_DRIVER);
        if driver != LOCAL_DRIVER {
            return Err(Error::UnsupportedDriver(driver.to_string()));
        }
        backing(name, &config.options)?;
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        if let Ok(existing) = self.get(name) {
            return Ok(existing);
        }
        let data = self.dir.join(name).join("_data");
        create_dir_all(&data)?;
        let volume = Volume {
            name: name.to_string(),
            created: crate::time::format_rfc3339(crate::time::now_unix()),
            labels: config.labels.clone(),
            driver: driver.to_string(),
            options: config.options.clone(),
            mountpoint: data,
        };
        let json = serde_json::to_vec_pretty(&volume).map_err(|error| Error::Corrupt {
            path: self.record_path(name),
            message: error.to_string(),
        })?;
        atomic::write(&self.record_path(name), &json)?;
        Ok(volume)
    }
    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<Volume, Error> {
        let path = self.record_path(name);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(name.to_string()));
            }
            Err(error) => return Err(IoError::new("read", &path, error).into()),
        };
        let mut volume: Volume = serde_json::from_slice(&text).map_err(|error| Error::Corrupt {
            path: path.clone(),
            message: error.to_string(),
        })?;
        volume.mountpoint = self.dir.join(name).join("_data");
        Ok(volume)
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, Error> {
        let mut volumes = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ctx("read", &self.dir))? {
            let entry = entry.map_err(ctx("read", &self.dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.path().is_dir()
                && let Ok(volume) = self.get(&name)
            {
                volumes.push(volume);
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// Removes a volume and its data.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        let dir = self.dir.join(name);
        if !valid_name(name) || !dir.is_dir() {
            return Err(Error::NotFound(name.to_string()));
        }
        // The record goes first: a crash after it leaves an unlisted directory that `recover` deletes.
        let record = self.record_path(name);
        if record.exists() {
            fs::remove_file(&record).map_err(ctx("remove", &record))?;
        }
        remove_tree(&dir)?;
        Ok(())
    }

    /// Deletes what killed commands left: volume directories without a record (a create killed before
    /// its record, or a remove killed after it). Neither holds data anyone can reach: `create` writes
    /// the record under the same lock before the volume is handed out, `remove` deletes it first.
    pub fn recover(&self) -> Result<(), Error> {
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        for entry in fs::read_dir(&self.dir).map_err(ctx("read", &self.dir))? {
            let entry = entry.map_err(ctx("read", &self.dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if valid_name(&name) && entry.path().is_dir() && !self.record_path(&name).exists() {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes a volume unless one of `containers` (any state) mounts it, as docker refuses to.
    pub fn remove_unused(&self, name: &str, containers: &[Info]) -> Result<(), Error> {
        let volume = self.get(name)?;
        let users = self.users(&volume, containers);
        if !users.is_empty() {
            return Err(Error::InUse {
                name: name.to_string(),
                containers: users,
            });
        }
        self.remove(name)
    }

    /// How many of a container's mounts are volume directories of this store (docker's
    /// `LocalVolumes`).
    pub fn mounted_by(&self, container: &Info) -> usize {
        container
            .record
            .spec
            .mounts
            .iter()
            .filter(|mount| matches!(&mount.kind, MountKind::Bind { source } if source.starts_with(&self.dir)))
            .count()
    }

    /// The names (ids when unnamed) of the containers among `containers` that mount `volume`: a bind
    /// from its directory (or a path under it, for `subpath`), or from its bind device.
    pub fn users(&self, volume: &Volume, containers: &[Info]) -> Vec<String> {
        let own = self.dir.join(&volume.name);
        let device = match volume.backing() {
            Ok(Backing::Bind { device }) => Some(device),
            _ => None,
        };
        containers
            .iter()
            .filter(|info| {
                info.record
                    .spec
                    .mounts
                    .iter()
                    .any(|mount| match &mount.kind {
                        MountKind::Bind { source } => {
                            source.starts_with(&own)
                                || device.as_ref().is_some_and(|d| source.starts_with(d))
                        }
                        MountKind::Tmpfs { .. } => false,
                    })
            })
            .map(|info| {
                if info.record.spec.name.is_empty() {
                    info.record.id.clone()
                } else {
                    info.record.spec.name.clone()
                }
            })
            .collect()
    }

    /// Copies the image's directory at `path` (from its unpacked `layers`, base first) into the
    /// volume if the volume is empty, as docker does when it mounts an empty volume where the image
    /// has content. Returns whether anything was copied. A tmpfs volume has no content to seed.
    ///
    /// For a volume's own directory the copy is made next to it and moved in entry by entry, so a
    /// crash in the middle of a long copy leaves the volume empty (and seeded on the next try) rather
    /// than half-filled.
    pub fn seed(&self, volume: &Volume, layers: &[PathBuf], path: &str) -> Result<bool, Error> {
        let Some(dest) = volume.content_dir()? else {
            return Ok(false);
        };
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        if !dest.is_dir() || !is_empty_dir(&dest)? {
            return Ok(false);
        }
        let Some(dirs) = seed::image_dir(layers, path)? else {
            return Ok(false);
        };
        if dest != volume.mountpoint {
            seed::copy_dir(&dirs, &dest)?;
            return Ok(true);
        }
        let staging = self.dir.join(&volume.name).join("_seed");
        remove_tree(&staging)?;
        create_dir_all(&staging)?;
        seed::copy_dir(&dirs, &staging)?;
        for entry in fs::read_dir(&staging).map_err(ctx("read", &staging))? {
            let entry = entry.map_err(ctx("read", &staging))?;
            let target = dest.join(entry.file_name());
            fs::rename(entry.path(), &target).map_err(ctx("move into place", &target))?;
        }
        seed::copy_dir_metadata(&dirs[0], &dest)?;
        fs::remove_dir(&staging).map_err(ctx("remove", &staging))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn create_get_list_remove() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let volume = store.create("demo_data", labels.clone()).unwrap();
        assert!(volume.mountpoint.is_dir());
        fs::write(volume.mountpoint.join("file"), "x").unwrap();
        let again = store.create("demo_data", BTreeMap::new()).unwrap();
        assert_eq!(again.labels, labels);
        assert_eq!(
            store
                .list()
                .unwrap()
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>(),
            ["demo_data"]
        );
        store.remove("demo_data").unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(!root.path().join("volumes/demo_data").exists());
        assert!(matches!(store.get("demo_data"), Err(Error::NotFound(_))));
        assert!(matches!(
            store.create("../x", BTreeMap::new()),
            Err(Error::InvalidName(_))
        ));
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_driver_options() {
        assert_eq!(backing("v", &options(&[])).unwrap(), Backing::Directory);
        assert_eq!(
            backing(
                "v",
                &options(&[
                    ("type", "tmpfs"),
                    ("device", "tmpfs"),
                    ("o", "size=64m,mode=0750")
                ])
            )
            .unwrap(),
            Backing::Tmpfs {
                size: 64 << 20,
                mode: 0o750
            }
        );
        assert_eq!(
            backing(
                "v",
                &options(&[("type", "none"), ("o", "bind"), ("device", "/srv/x")])
            )
            .unwrap(),
            Backing::Bind {
                device: PathBuf::from("/srv/x")
            }
        );
        for (bad, why) in [
            (options(&[("o", "bind"), ("device", "rel")]), "absolute"),
            (
                options(&[("type", "nfs"), ("device", ":/x")]),
                "\"nfs\" is not supported",
            ),
            (options(&[("type", "tmpfs"), ("o", "uid=1")]), "uid=1"),
            (options(&[("type", "tmpfs"), ("o", "size=lots")]), "size"),
            (options(&[("colour", "red")]), "colour"),
        ] {
            let error = backing("v", &bad).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let config = Config {
            driver: Some("nfs".into()),
            ..Config::default()
        };
        assert!(matches!(
            store.create_with("x", &config),
            Err(Error::UnsupportedDriver(_))
        ));
        let config = Config {
            options: options(&[("type", "tmpfs"), ("o", "size=1k")]),
            ..Config::default()
        };
        let volume = store.create_with("t", &config).unwrap();
        assert_eq!(
            store.get("t").unwrap().mount_kind().unwrap(),
            MountKind::Tmpfs {
                size: 1024,
                mode: 0
            }
        );
        assert_eq!(volume.driver, LOCAL_DRIVER);
    }

    #[test]
    fn seeds_only_an_empty_volume() {
        let root = tempfile::tempdir().unwrap();
        let layer = root.path().join("layer");
        fs::create_dir_all(layer.join("app/conf")).unwrap();
        fs::write(layer.join("app/conf/a"), "from image").unwrap();
        fs::set_permissions(layer.join("app/conf"), fs::Permissions::from_mode(0o700)).unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let volume = store.create("v", BTreeMap::new()).unwrap();
        let layers = [layer.clone()];
        assert!(!store.seed(&volume, &layers, "/nothing/here").unwrap());
        assert!(store.seed(&volume, &layers, "/app/conf").unwrap());
        assert_eq!(
            fs::read_to_string(volume.mountpoint.join("a")).unwrap(),
            "from image"
        );
        assert_eq!(
            fs::metadata(&volume.mountpoint)
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o700
        );
        assert!(!root.path().join("volumes/v/_seed").exists());
        // Not empty any more: never copied over.
        fs::write(volume.mountpoint.join("a"), "changed").unwrap();
        assert!(!store.seed(&volume, &layers, "/app/conf").unwrap());
        assert_eq!(
            fs::read_to_string(volume.mountpoint.join("a")).unwrap(),
            "changed"
        );
    }
}
