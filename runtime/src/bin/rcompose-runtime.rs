//! The runtime's helper executable: the container monitor and the exec helper (see
//! `runtime::monitor`), plus `run` for benchmarks. It is a separate, single-threaded process on
//! purpose: the library's callers may be multi-threaded and must not fork or join namespaces.
//!
//! `rcompose-runtime run <root> <rootfs-dir> <command>...` creates, starts, waits for and removes one
//! container (what `bench/container.sh` times against crun and runc), exiting with its exit code.

use std::path::Path;
use std::process::ExitCode;

use runtime::container::{ContainerSpec, Helper, Rootfs, Runtime};

fn run(root: &Path, rootfs: &Path, args: &[String]) -> Result<i32, runtime::container::Error> {
    let helper = Helper {
        program: std::env::current_exe().map_err(|source| runtime::container::Error::Helper {
            program: "/proc/self/exe".into(),
            source,
        })?,
        args: Vec::new(),
    };
    let runtime = Runtime::open(root, helper)?;
    let id = runtime.create(ContainerSpec {
        rootfs: Rootfs::Dir(rootfs.to_owned()),
        args: args.to_vec(),
        ..ContainerSpec::default()
    })?;
    let result = runtime.start(&id).and_then(|_| runtime.wait(&id, None));
    runtime.remove(&id, true)?;
    Ok(result?.exit_code.unwrap_or(0))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [command, root, rootfs, rest @ ..] if command == "run" && !rest.is_empty() => {
            match run(Path::new(root), Path::new(rootfs), rest) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("rcompose-runtime: {error}");
                    125
                }
            }
        }
        _ => runtime::monitor::main(&args),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
