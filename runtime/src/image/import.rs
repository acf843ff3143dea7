//! `image import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image, as
//! `docker import` does: the layer is stored uncompressed (its digest is then also its diff id), the
//! config gets this host's platform, the creation time, a history entry and the `--change` edits.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};

use oci_spec::image::{Arch, Config, HistoryBuilder, ImageConfiguration, Os, RootFsBuilder};

use super::archive::{Blob, Loaded, Prepared, make_manifest};
use super::compress::{Compression, decompress};
use super::config::{Change, apply};
use super::digest::HashingWriter;
use super::reference::ImageRef;
use super::{Error, ImageStore};
use crate::store::{IoError, ctx};
use crate::time;

impl ImageStore {
    /// Imports a root filesystem tarball as a new image named `name` (dangling if `None`).
    pub fn import(
        &self,
        input: impl Read,
        name: Option<&ImageRef>,
        changes: &[Change],
        source: &str,
    ) -> Result<Loaded, Error> {
        let op = self.begin("import")?;
        let result = (|| {
            let (_, mut reader) =
                decompress(BufReader::with_capacity(1 << 20, input)).map_err(Error::Input)?;
            let path = op.path("rootfs.tar");
            let file = File::create(&path).map_err(ctx("create", &path))?;
            let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
            io::copy(&mut reader, &mut writer).map_err(|error| match error.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::InvalidData
                | io::ErrorKind::Other => Error::Input(error),
                _ => Error::Io(IoError::new("write", &path, error)),
            })?;
            let (diff_id, size, buffered) = writer.finish();
            buffered
                .into_inner()
                .map_err(|error| IoError::new("write", &path, error.into_error()))?;
            if size == 0 {
                return Err(Error::Archive(
                    "the input is empty; expected a root filesystem tarball".to_owned(),
                ));
            }
            let created = time::format_rfc3339(time::now_unix());
            let mut runtime_config = Config::default();
            apply(&mut runtime_config, changes);
            let (os, arch) = super::archive::host_platform();
            let build = || -> Result<ImageConfiguration, oci_spec::OciSpecError> {
                let history = HistoryBuilder::default()
                    .created(created.clone())
                    .created_by("rcompose image import".to_owned())
                    .comment(format!("Imported from {source}"))
                    .build()?;
                let mut config = ImageConfiguration::default();
                config.set_created(Some(created.clone()));
                config.set_os(Os::from(os));
                config.set_architecture(Arch::from(arch));
                config.set_config(Some(runtime_config));
                config.set_rootfs(
                    RootFsBuilder::default()
                        .typ("layers")
                        .diff_ids(vec![diff_id.to_string()])
                        .build()?,
                );
                config.set_history(Some(vec![history]));
                Ok(config)
            };
            let config = build().map_err(|error| {
                Error::Archive(format!("cannot build the image config: {error}"))
            })?;
            let config_bytes = serde_json::to_vec(&config).map_err(|source| Error::Json {
                what: "image config",
                name: "of the import".to_owned(),
                source,
            })?;
            let config_digest = self.blobs.write(&config_bytes)?;
            let manifest = make_manifest(
                &config_digest,
                config_bytes.len() as u64,
                &[(diff_id.clone(), size, Compression::None)],
            )?;
            let prepared = Prepared {
                manifest: Blob::Bytes(manifest),
                config: config_digest,
                layers: vec![(diff_id.clone(), diff_id.clone())],
                names: name.cloned().into_iter().collect(),
                note: None,
            };
            let files = HashMap::from([(diff_id, path)]);
            let mut loaded = self.store_prepared(&op, vec![prepared], files)?;
            loaded
                .pop()
                .ok_or_else(|| Error::Archive("nothing imported".to_owned()))
        })();
        self.end(op, result)
    }
}
