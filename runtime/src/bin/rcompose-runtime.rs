//! The runtime's helper executable: the container monitor and the exec helper (see
//! `runtime::monitor`), plus `run` for benchmarks. It is a separate, single-threaded process on
//! purpose: the library's callers may be multi-threaded and must not fork or join namespaces.
//!
//! `rcompose-runtime run <root> <rootfs-dir> <command>...` creates, starts, waits for and removes one
//! container (what `bench/container.sh` times against crun and runc), replays its output and exits
//! with its exit code.
//! `rcompose-runtime up <root> <rootfs-dir> <command>...` creates and starts one, prints its id and
//! exits, leaving the container to its monitor (the tests use it as a creator that goes away);
//! `rcompose-runtime rm <root> <id>` removes one, killing it if it runs.

use std::path::Path;
use std::process::ExitCode;

use runtime::container::{ContainerSpec, Error, Helper, Rootfs, Runtime, Stream};

fn create(root: &Path, rootfs: &Path, args: &[String]) -> Result<(Runtime, String), Error> {
    let helper = Helper {
        program: std::env::current_exe().map_err(|source| Error::Helper {
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
    Ok((runtime, id))
}

fn run(root: &Path, rootfs: &Path, args: &[String]) -> Result<i32, Error> {
    let timing = std::env::var_os("RCOMPOSE_TIMING").is_some();
    let begin = std::time::Instant::now();
    let lap = |what: &str| {
        if timing {
            eprintln!("{what}: {:.2} ms", begin.elapsed().as_secs_f64() * 1000.0);
        }
    };
    let (runtime, id) = create(root, rootfs, args)?;
    lap("created");
    let result = runtime.start(&id);
    lap("started");
    let result = result.and_then(|_| runtime.wait(&id, None));
    lap("exited");
    // Replay the container's output (kept in its log) before the log goes with the container.
    for entry in runtime.logs(&id).unwrap_or_default() {
        match entry.stream {
            Stream::Stdout => print!("{}", entry.log),
            Stream::Stderr => eprint!("{}", entry.log),
        }
    }
    runtime.remove(&id, true)?;
    lap("removed");
    Ok(result?.exit_code.unwrap_or(0))
}

fn up(root: &Path, rootfs: &Path, args: &[String]) -> Result<i32, Error> {
    let (runtime, id) = create(root, rootfs, args)?;
    runtime.start(&id)?;
    println!("{id}");
    Ok(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [command, root, rootfs, rest @ ..]
            if (command == "run" || command == "up") && !rest.is_empty() =>
        {
            let action = if command == "run" { run } else { up };
            match action(Path::new(root), Path::new(rootfs), rest) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("rcompose-runtime: {error}");
                    125
                }
            }
        }
        [command, root, id] if command == "rm" => {
            let removed = std::env::current_exe()
                .map_err(|source| Error::Helper {
                    program: "/proc/self/exe".into(),
                    source,
                })
                .and_then(|program| {
                    let helper = Helper {
                        program,
                        args: Vec::new(),
                    };
                    Runtime::open(Path::new(root), helper)?.remove(id, true)
                });
            match removed {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("rcompose-runtime: {error}");
                    1
                }
            }
        }
        _ => runtime::monitor::main(&args),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}
