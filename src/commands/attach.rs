//! `rcompose attach`: connect the terminal to a running service container, and the attached session
//! that `run` uses for its one-off container.
//!
//! Two kinds of containers, two ways:
//! - with a terminal (`tty`), output and input go through the runtime's attach socket: the raw
//!   terminal stream, our terminal in raw mode, and the detach keys (ctrl-p ctrl-q) to leave it running;
//! - without one, the output is read from the container's log, which keeps stdout and stderr apart
//!   (the attach socket merges them) and misses nothing written before we connected; input, when the
//!   container keeps stdin open, still goes through the attach socket.
//!
//! Ctrl-C: with a terminal it is a key the container receives; without one it is a signal, which
//! `--sig-proxy` (the default) passes to the container as SIGINT, else it detaches.

use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use runtime::container::{Attach, LogEntry, Runtime, Stream};
use runtime::sys::{interrupt, terminal};

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output::stream::{self, Target};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching from a container (default: ctrl-p,ctrl-q)
    #[arg(long, value_name = "KEYS")]
    detach_keys: Option<String>,
    /// Index of the container if the service has several replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Do not attach standard input
    #[arg(long)]
    no_stdin: bool,
    /// Proxy received signals (Ctrl-C) to the container
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    sig_proxy: bool,
    /// The service
    service: String,
}

/// How an attached session behaves.
pub struct Session {
    /// Forward our standard input (when the container takes input).
    pub stdin: bool,
    /// Pass Ctrl-C to the container (without a terminal); otherwise Ctrl-C detaches.
    pub sig_proxy: bool,
    /// The key sequence that detaches from a terminal session.
    pub detach_keys: Vec<u8>,
    /// Show the log from its beginning (`run`: the container just started) rather than from now.
    pub from_start: bool,
    /// Close the container's input when ours ends (`run`, as docker's stdin-once); `attach` leaves it
    /// open for the next client.
    pub close_input: bool,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container stopped, with this exit code.
    Exited(i32),
    /// The user detached; the container runs on.
    Detached,
}

pub fn run(global: &GlobalOptions, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &[])?;
    scope.check_services(std::slice::from_ref(&args.service))?;
    let containers = scope.containers(std::slice::from_ref(&args.service), false)?;
    let Some((container, info)) = containers.iter().find(|(c, _)| c.number == args.index) else {
        bail!(
            "service {:?} has no container number {} (is the project up?)",
            args.service,
            args.index
        );
    };
    if !info.state.status.is_active() {
        bail!("cannot attach to a stopped container, start it first");
    }
    let runtime = &scope.engine.containers;
    let spec = &info.record.spec;
    let attach = if spec.tty || spec.open_stdin {
        Some(
            runtime
                .attach(&container.id)
                .with_context(|| format!("cannot attach to {}", container.name))?,
        )
    } else {
        None
    };
    let session = Session {
        stdin: !args.no_stdin,
        sig_proxy: args.sig_proxy,
        detach_keys: parse_detach_keys(args.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q"))?,
        from_start: false,
        close_input: false,
    };
    let ended = attached(runtime, &container.id, spec.tty, attach, &session)?;
    Ok(exit_code(ended))
}

/// The process exit code for a session's end: the container's, or 0 after a detach.
pub fn exit_code(ended: Ended) -> ExitCode {
    match ended {
        Ended::Exited(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Ended::Detached => ExitCode::SUCCESS,
    }
}

/// Runs an attached session with container `id` until it stops or the user detaches. `attach` is
/// the runtime's connection (required for a terminal container; without one, the session falls back
/// to the log, which also holds a terminal's output).
pub fn attached(
    runtime: &Runtime,
    id: &str,
    tty: bool,
    attach: Option<Attach>,
    session: &Session,
) -> anyhow::Result<Ended> {
    interrupt::catch();
    match attach {
        Some(attach) if tty => terminal_session(runtime, id, attach, session),
        attach => log_session(runtime, id, attach, session),
    }
}

/// A terminal container: its raw terminal stream both ways.
fn terminal_session(
    runtime: &Runtime,
    id: &str,
    attach: Attach,
    session: &Session,
) -> anyhow::Result<Ended> {
    let mut output = attach
        .output()
        .context("cannot read the container's terminal")?;
    let end = output
        .try_clone()
        .context("cannot read the container's terminal")?;
    let detached = Arc::new(AtomicBool::new(false));
    let stdin_is_terminal = std::io::stdin().is_terminal();
    // Keys go through unprocessed (^C reaches the container) while the session lasts.
    let _raw = if session.stdin && stdin_is_terminal {
        Some(
            runtime::sys::terminal::RawMode::enable(0)
                .context("cannot set the terminal to raw mode")?,
        )
    } else {
        None
    };
    let attach = Arc::new(Mutex::new(attach));
    let finished = Arc::new(AtomicBool::new(false));
    if stdin_is_terminal || std::io::stdout().is_terminal() {
        follow_window_size(&attach, &finished);
    }
    if session.stdin {
        let keys = session.detach_keys.clone();
        let flag = detached.clone();
        let end = end
            .try_clone()
            .context("cannot read the container's terminal")?;
        let close = session.close_input;
        let attach = attach.clone();
        std::thread::spawn(move || forward_input(&attach, &keys, close, &flag, &end));
    }
    // Without input, the output stream (a clone of the connection) keeps it open on its own.
    let watcher = watch_interrupts(runtime, id, session.sig_proxy, &detached, &finished, end);
    let copied = stream::copy_to_stdout(&mut output);
    finished.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let copied = copied.context("cannot copy the container's output")?;
    if detached.load(Ordering::SeqCst) {
        return Ok(Ended::Detached);
    }
    let state = runtime
        .wait(id, None)
        .with_context(|| format!("cannot wait for container {id}"))?;
    if copied == 0 && session.from_start {
        // The runtime relays a terminal's output only to clients connected when it is written: a
        // command that finished before our connection was accepted sent us nothing, but its log
        // (where a terminal's output is stdout) has all of it.
        let mut tail = LogTail {
            path: runtime.log_path(id),
            offset: 0,
            partial: String::new(),
        };
        tail.print_new()?;
    }
    exited(&state)
}

/// How a session ends once the container is no longer active: its exit code, or an error when its
/// monitor died (nothing recorded an exit; the container is `dead` and `ps -a` says so).
fn exited(state: &runtime::container::State) -> anyhow::Result<Ended> {
    if state.status == runtime::container::Status::Dead {
        bail!("{}", state.error);
    }
    Ok(Ended::Exited(state.exit_code.unwrap_or(0)))
}

/// Our terminal's window size (stdout's, else stdin's), if either is a terminal that has one.
pub fn our_window_size() -> Option<(u16, u16)> {
    terminal::window_size(std::io::stdout().as_fd())
        .or_else(|| terminal::window_size(std::io::stdin().as_fd()))
}

/// Gives the container's terminal our window size now and after every change (SIGWINCH), until the
/// session is `finished`.
fn follow_window_size(attach: &Arc<Mutex<Attach>>, finished: &Arc<AtomicBool>) {
    let resize = |attach: &Mutex<Attach>| {
        if let Some((rows, cols)) = our_window_size()
            && let Ok(mut attach) = attach.lock()
        {
            let _ = attach.resize(rows, cols);
        }
    };
    // Without the handler a change goes unnoticed, but the session still works at the first size.
    let _ = terminal::catch_window_changes();
    resize(attach);
    let attach = attach.clone();
    let finished = finished.clone();
    std::thread::spawn(move || {
        while !finished.load(Ordering::SeqCst) {
            if terminal::window_resized() {
                resize(&attach);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// Ctrl-C during a terminal session whose input is not a terminal (raw mode turns the key into
/// input otherwise): passed on to the container, or a detach.
fn watch_interrupts(
    runtime: &Runtime,
    id: &str,
    sig_proxy: bool,
    detached: &Arc<AtomicBool>,
    finished: &Arc<AtomicBool>,
    end: UnixStream,
) -> std::thread::JoinHandle<()> {
    let runtime = runtime.clone();
    let id = id.to_string();
    let detached = detached.clone();
    let finished = finished.clone();
    std::thread::spawn(move || {
        while !finished.load(Ordering::SeqCst) {
            if interrupt::interrupted() {
                if sig_proxy {
                    let _ = runtime.kill(&id, libc_sigint());
                } else {
                    detached.store(true, Ordering::SeqCst);
                    let _ = end.shutdown(Shutdown::Both);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// SIGINT's number (the CLI has no libc: the runtime's parser knows signal names).
fn libc_sigint() -> i32 {
    runtime::container::spec::signal_from_name("INT").unwrap_or(2)
}

/// A container without a terminal: its log, stdout to stdout and stderr to stderr; input through the
/// attach socket when there is one.
fn log_session(
    runtime: &Runtime,
    id: &str,
    attach: Option<Attach>,
    session: &Session,
) -> anyhow::Result<Ended> {
    let detached = Arc::new(AtomicBool::new(false));
    if let Some(attach) = attach {
        // The socket also carries the (merged) output, which the log already gives us: drain it, or
        // the runtime drops a client that does not read.
        let mut output = attach
            .output()
            .context("cannot connect to the container's input")?;
        std::thread::spawn(move || {
            let mut sink = [0u8; 32 * 1024];
            while matches!(output.read(&mut sink), Ok(n) if n > 0) {}
        });
        if session.stdin {
            let flag = detached.clone();
            let end = attach
                .output()
                .context("cannot connect to the container's input")?;
            let close = session.close_input;
            let attach = Mutex::new(attach);
            std::thread::spawn(move || forward_input(&attach, &[], close, &flag, &end));
        }
    }
    let path = runtime.log_path(id);
    let offset = if session.from_start {
        0
    } else {
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    };
    let mut tail = LogTail {
        path,
        offset,
        partial: String::new(),
    };
    let mut signalled = false;
    loop {
        tail.print_new()?;
        if interrupt::interrupted() && !signalled {
            signalled = true;
            if !session.sig_proxy {
                return Ok(Ended::Detached);
            }
            // The container may have just stopped: its end is then reported below.
            let _ = runtime.kill(id, libc_sigint());
        }
        let state = runtime
            .state(id)
            .with_context(|| format!("cannot read the state of container {id}"))?;
        if !state.status.is_active() {
            // The monitor completes the log before it records the exit.
            tail.print_new()?;
            return exited(&state);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Copies our standard input to the container until end of file (then closes its input when
/// `close`), or until the detach keys are typed.
fn forward_input(
    attach: &Mutex<Attach>,
    keys: &[u8],
    close: bool,
    detached: &AtomicBool,
    end: &UnixStream,
) {
    let mut stdin = std::io::stdin().lock();
    let mut buffer = [0u8; 4096];
    let mut matched = 0;
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => {
                if close && let Ok(mut attach) = attach.lock() {
                    let _ = attach.close_input();
                }
                return;
            }
            Ok(n) => n,
        };
        let mut input = Vec::with_capacity(n + matched);
        for &byte in &buffer[..n] {
            if !keys.is_empty() && byte == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    detached.store(true, Ordering::SeqCst);
                    let _ = end.shutdown(Shutdown::Both);
                    return;
                }
                continue;
            }
            // Not the sequence after all: the held keys are input.
            input.extend_from_slice(&keys[..matched]);
            matched = 0;
            if !keys.is_empty() && byte == keys[0] {
                matched = 1;
            } else {
                input.push(byte);
            }
        }
        if !input.is_empty() {
            let sent = attach.lock().map(|mut attach| attach.input(&input));
            if !matches!(sent, Ok(Ok(()))) {
                return;
            }
        }
    }
}

/// Docker's detach-keys syntax: comma-separated keys, each a character or `ctrl-X` (X one of `a-z`,
/// `@`, `[`, `\`, `]`, `^`, `_`).
pub fn parse_detach_keys(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut keys = Vec::new();
    for key in text.split(',') {
        let byte = match key.strip_prefix("ctrl-") {
            Some(name) if name.len() == 1 => {
                let c = name.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => bail!("invalid detach key {key:?}"),
                }
            }
            None if key.len() == 1 => key.as_bytes()[0],
            _ => bail!("invalid detach keys {text:?}: use e.g. ctrl-p,ctrl-q"),
        };
        keys.push(byte);
    }
    Ok(keys)
}

/// A container log read as it grows, from a byte offset.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogTail {
    /// Writes the entries appended since the last call to stdout or stderr, as the container did.
    fn print_new(&mut self) -> anyhow::Result<()> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.offset))
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let mut text = String::new();
        let read = file
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        self.offset += read as u64;
        self.partial.push_str(&text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Ok(entry) = serde_json::from_str::<LogEntry>(line.trim_end()) {
                let target = match entry.stream {
                    Stream::Stdout => Target::Stdout,
                    Stream::Stderr => Target::Stderr,
                };
                stream::write(target, entry.log.as_bytes())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_detach_keys;

    #[test]
    fn detach_keys_follow_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-[").unwrap(), vec![b'a', 27]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("alt-x").is_err());
    }
}
