//! Named volumes: a directory per volume under `<root>/volumes/<name>/_data` with a labelled record,
//! like docker's local driver. Containers mount `_data`; `remove` deletes both.
//!
//! The record (`volume.json`) is written atomically after the data directory exists, so a crash leaves
//! at worst a data directory without a record, which the next `create` of that name adopts and `list`
//! ignores.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{IoError, atomic, create_dir_all, ctx, lock::Lock, remove_tree};

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
}

/// A named volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub labels: BTreeMap<String, String>,
    /// The host directory containers mount.
    #[serde(skip)]
    pub mountpoint: PathBuf,
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

impl VolumeStore {
    /// The volume store under `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self, Error> {
        let dir = root.join("volumes");
        create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// Creates a volume, or returns the existing one of that name (labels are set only on creation).
    pub fn create(&self, name: &str, labels: BTreeMap<String, String>) -> Result<Volume, Error> {
        if !valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        let _lock = Lock::exclusive(&self.dir.join(".lock"))?;
        if let Ok(existing) = self.get(name) {
            return Ok(existing);
        }
        let data = self.dir.join(name).join("_data");
        create_dir_all(&data)?;
        let volume = Volume {
            name: name.to_string(),
            created: crate::time::format_rfc3339(crate::time::now_unix()),
            labels,
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
        // The record goes first: a crash after it leaves an unlisted directory that `create` adopts.
        let record = self.record_path(name);
        if record.exists() {
            fs::remove_file(&record).map_err(ctx("remove", &record))?;
        }
        remove_tree(&dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
