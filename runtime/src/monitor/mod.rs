//! The monitor: one small single-threaded process per running container (conmon's model), and the
//! exec helper. Both are entered through [`main`] from a freshly exec'd executable (the CLI's
//! `rcompose-helper` through [`standalone_main`], the CLI's hidden subcommand, or the runtime crate's
//! `rcompose-runtime` binary), never from a thread of the CLI.
//!
//! `monitor <root> <id>`: forks and lets the parent exit (so the caller reaps it at once and the
//! monitor is nobody's child), starts a session, becomes a child subreaper, creates the cgroup, clones
//! the container's init into new namespaces, and writes `pid N` (or `error: <code> <message>`) to its
//! stdout, the caller's sync pipe, which it then closes. It then relays the container's stdout and
//! stderr to `container.log` with timestamps, waits for the init, records the exit (code, time, OOM
//! kill) in `state.json`, applies the restart policy with docker's backoff, and on the final exit
//! removes the cgroup and exits. It removes nothing else: the container directory belongs to the CLI.
//!
//! `exec <root> <id> <spec json>`: joins the container's cgroup and namespaces (through a pidfd, so a
//! recycled pid cannot be joined), forks into its pid namespace, and execs the process with the
//! container's user, environment, capabilities and filter; it forwards signals and exits with the
//! process's status. The caller gave it its stdio.
//!
//! `cp-out` / `cp-in` / `cp-sync`: tar streams out of and into a running container (see `copy`).

mod copy;
mod health;
mod ports;

pub use ports::proxy_target;

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::container::init::{self, Failure, Process};
use crate::container::log::{Stream, Writer};
use crate::container::network::{self as container_network, Namespace};
use crate::container::spec::{RestartPolicy, Seccomp};
use crate::container::state::{
    HealthResult, Paths, Record, State, Status, now_rfc3339_nanos, read_json,
};
use crate::container::{ExecSpec, events};
use crate::sys::process::{self as p, Exit, Fork, ns};
use crate::sys::{capability, terminal};

/// The fingerprint of the runtime sources this code was built from (computed by `build.rs`).
pub const BUILD: &str = env!("RCOMPOSE_RUNTIME_BUILD");

/// Entry point of a stand-alone helper executable (the CLI's `rcompose-helper`): a small binary that
/// links only this crate, so an idle monitor costs about 40% less memory than the CLI binary
/// re-executed (1.7 against 2.9 MiB RSS in release builds, 2.7 against 4.8 in debug builds).
///
/// Its arguments start with `--build <id> --fallback <program> [<arg>...] --` (see
/// [`crate::container::Helper::standalone`]): when `<id>` is not [`BUILD`], the helper was built
/// from other sources than its caller and replaces itself with `<program> <arg>...` followed by the
/// rest of the arguments (the CLI re-executed with its hidden subcommand). Without that prefix the
/// arguments go to [`main`].
pub fn standalone_main(args: &[String]) -> i32 {
    let [flag, build, fallback_flag, program, rest @ ..] = args else {
        return main(args);
    };
    if flag != "--build" || fallback_flag != "--fallback" {
        return main(args);
    }
    let Some(end) = rest.iter().position(|arg| arg == "--") else {
        eprintln!("rcompose helper: --fallback without its closing --");
        return 2;
    };
    let (fallback_args, own) = (&rest[..end], &rest[end + 1..]);
    if build == BUILD {
        return main(own);
    }
    use std::os::unix::process::CommandExt;
    let error = crate::container::protected_command(Path::new(program))
        .args(fallback_args)
        .args(own)
        .exec();
    eprintln!("rcompose helper: cannot run {program}: {error}");
    125
}

/// Entry point of the helper executable; `args` are the arguments after any prefix. Returns the exit
/// code.
pub fn main(args: &[String]) -> i32 {
    match args {
        [command, root, id] if command == "monitor" => monitor(Path::new(root), id),
        [command, root, id, spec] if command == "exec" => exec(Path::new(root), id, spec),
        [command, root, id, path] if command == "cp-out" => {
            copy::copy_out(Path::new(root), id, path)
        }
        [command, root, id, dir] if command == "cp-in" => copy::copy_in(Path::new(root), id, dir),
        [command, root, id, dir] if command == "cp-sync" => {
            copy::copy_sync(Path::new(root), id, dir)
        }
        _ => {
            eprintln!(
                "usage: monitor <root> <id> | exec <root> <id> <json> | cp-out <root> <id> <path> \
                 | cp-in <root> <id> <dir> | cp-sync <root> <id> <dir>"
            );
            2
        }
    }
}

fn report(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// The environment variable that names the descriptor of the container lock `Runtime::start` holds
/// for this monitor: the monitor keeps it (the same open file, so the same flock) until its first
/// report, so that the lock covers the whole start even if the starting command is killed.
pub const START_LOCK_FD: &str = "RCOMPOSE_START_LOCK_FD";

/// The start's lock descriptor, taken from the environment at the monitor's start.
static START_LOCK: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// Takes over the descriptor [`START_LOCK_FD`] names, if any, and removes the variable so that
/// nothing this process starts sees it.
fn take_start_lock() {
    let Some(fd) = std::env::var(START_LOCK_FD)
        .ok()
        .and_then(|v| v.parse::<std::os::fd::RawFd>().ok())
    else {
        return;
    };
    // SAFETY: single-threaded at this point; nothing else reads the environment concurrently.
    unsafe { std::env::remove_var(START_LOCK_FD) };
    // SAFETY: fcntl(F_GETFD) on any number is harmless; it tells whether the descriptor is open.
    if fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
        // SAFETY: the descriptor is open and was handed to this process for it to own.
        let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        *START_LOCK.lock().unwrap_or_else(|e| e.into_inner()) = Some(owned);
    }
}

/// Points stdout at /dev/null, which closes the caller's sync pipe, and lets go of the start's
/// container lock.
fn close_sync_pipe() {
    if let Ok(null) = fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = p::dup2(null.as_raw_fd(), 1);
    }
    START_LOCK.lock().unwrap_or_else(|e| e.into_inner()).take();
}

fn monitor(root: &Path, id: &str) -> i32 {
    take_start_lock();
    let paths = Paths::new(root, id);
    let record: Record = match read_json(&paths.config()) {
        Ok(record) => record,
        Err(error) => {
            report(&format!("error: 125 {error}"));
            return 1;
        }
    };
    match p::fork_into(0) {
        Ok(Fork::Parent(_)) => p::exit_now(0),
        Ok(Fork::Child) => {}
        Err(error) => {
            report(&format!("error: 125 cannot fork the monitor: {error}"));
            return 1;
        }
    }
    let _ = p::setsid();
    p::set_name("rcompose-mon");
    // The container's init is a clone of this process and holds host descriptors until it execs:
    // nobody without CAP_SYS_PTRACE may look into it through /proc meanwhile (inherited by the clone;
    // execve of the container's command makes that one dumpable again).
    let _ = p::set_dumpable(false);
    let _ = p::cloexec_from(3);
    p::ignore_signals(&[
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGPIPE,
        libc::SIGQUIT,
    ]);
    let setup = (|| -> io::Result<(OwnedFd, Writer)> {
        p::set_child_subreaper()?;
        // SIGUSR1: a request to run the healthcheck now (`Runtime::probe_health_now`).
        let signals = p::signalfd(&[libc::SIGCHLD, libc::SIGUSR1])?;
        // The `none` driver: the output is still read (a full pipe would block the process),
        // and written nowhere (never rotated: /dev/null is not renamed).
        let writer = if record.spec.log_none {
            Writer::open_rotating(Path::new("/dev/null"), 0, 1)?
        } else {
            Writer::open_rotating(
                &paths.log(),
                record.spec.log_max_size,
                record.spec.log_max_files,
            )?
            .compressed(record.spec.log_compress)
        };
        Ok((signals, writer))
    })();
    let (signals, writer) = match setup {
        Ok(parts) => parts,
        Err(error) => {
            report(&format!("error: 125 monitor setup: {error}"));
            return 1;
        }
    };
    // With a terminal or open stdin, clients attach through a socket in the container directory
    // (bound by a relative name: absolute paths can exceed sun_path's 108 bytes).
    let attach = if record.spec.tty || record.spec.open_stdin {
        let bound = std::env::set_current_dir(&paths.dir).and_then(|()| {
            let _ = fs::remove_file(ATTACH_SOCKET);
            let listener = UnixListener::bind(ATTACH_SOCKET)?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        });
        match bound {
            Ok(listener) => Some(listener),
            Err(error) => {
                report(&format!("error: 125 create the attach socket: {error}"));
                return 1;
            }
        }
    } else {
        None
    };
    let record_tty = record.spec.tty;
    let ports = match ports::Publisher::bind(&record, &paths) {
        Ok(ports) => ports,
        Err(error) => {
            report(&format!("error: 125 {error}"));
            return 1;
        }
    };
    // The DNS server's socket lives in the container's namespace for the monitor's life; without it
    // names still resolve through /etc/hosts.
    let upstream = crate::container::upstream_resolv_conf(&record.spec);
    let dns = container_network::dns_server(root, &record, &upstream).unwrap_or_else(|error| {
        eprintln!("rcompose-mon: no embedded DNS server: {error}");
        None
    });
    let mut monitor = Monitor {
        dns,
        ports,
        state: State::read(&paths).unwrap_or_default(),
        record,
        paths,
        signals,
        writer,
        replay: record_tty.then(Vec::new),
        attach,
        clients: Vec::new(),
    };
    monitor.run()
}

/// The attach socket's name in the container directory.
pub(crate) const ATTACH_SOCKET: &str = "attach.sock";

/// The most terminal output kept for the first client (see [`Monitor::replay`]).
const REPLAY_LIMIT: usize = 16 * 1024;

/// An attached client: its connection and the bytes of an incomplete frame.
struct Client {
    stream: UnixStream,
    pending: Vec<u8>,
}

struct Monitor {
    record: Record,
    paths: Paths,
    state: State,
    signals: OwnedFd,
    writer: Writer,
    attach: Option<UnixListener>,
    clients: Vec<Client>,
    /// With a terminal, until the first client attaches: the latest terminal output (at most
    /// [`REPLAY_LIMIT`] bytes), given to that client first. `run -t` connects while the container
    /// starts, and a command's first output can come before the connection is accepted; later clients
    /// (`attach`) see output from the moment they connect, as with docker.
    replay: Option<Vec<u8>>,
    ports: ports::Publisher,
    /// The embedded DNS server of a container on networks (see `network::dns`).
    dns: Option<crate::network::dns::Server>,
}

struct Running {
    pid: i32,
    stdout: Option<fs::File>,
    stderr: Option<fs::File>,
    /// The pty master (`tty`): output to log and clients, input from clients.
    terminal: Option<fs::File>,
    /// The write end of the init's stdin (`open_stdin` without `tty`).
    stdin: Option<fs::File>,
    oom_base: u64,
    started: Instant,
}

impl Monitor {
    fn save(&self) {
        if let Err(error) = self.state.write(&self.paths) {
            eprintln!("rcompose monitor: {error}");
        }
    }

    fn run(&mut self) -> i32 {
        let me = std::process::id() as i32;
        self.state.monitor_pid = me;
        self.state.monitor_start = p::start_time(me).unwrap_or(0);
        self.state.status = Status::Restarting;
        self.state.error.clear();
        self.state.exit_code = None;
        self.state.oom_killed = false;
        self.state.stopped = false;
        self.state.restart_count = 0;
        // Record ourselves before any kernel object exists.
        self.save();
        let mut first = true;
        let mut delay = Duration::from_millis(100);
        loop {
            let exit_code = match self.start_once() {
                Ok(running) => {
                    if first {
                        report(&format!("pid {}", self.state.pid));
                        close_sync_pipe();
                        first = false;
                    }
                    self.ports.started(&self.record, self.state.pid);
                    let started = running.started;
                    let code = self.supervise(running);
                    if started.elapsed() >= Duration::from_secs(10) {
                        delay = Duration::from_millis(100);
                    }
                    code
                }
                Err(failure) => {
                    self.state.pid = 0;
                    self.state.exit_code = Some(failure.code);
                    self.state.error = failure.message.clone();
                    self.state.finished_at = now_rfc3339_nanos();
                    if first {
                        self.finish();
                        report(&format!("error: {} {}", failure.code, failure.message));
                        return 1;
                    }
                    eprintln!("rcompose monitor: restart failed: {}", failure.message);
                    failure.code
                }
            };
            if !self.should_restart(exit_code) {
                break;
            }
            self.state.status = Status::Restarting;
            self.save();
            if !self.backoff(delay) {
                break;
            }
            delay = (delay * 2).min(Duration::from_secs(60));
            self.state.restart_count += 1;
        }
        self.finish();
        0
    }

    fn stop_requested(&self) -> bool {
        self.paths.stopping().exists()
    }

    fn should_restart(&self, exit_code: i32) -> bool {
        if self.stop_requested() {
            return false;
        }
        match self.record.spec.restart {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (max_retries == 0 || self.state.restart_count < max_retries)
            }
        }
    }

    /// Sleeps `delay`, returning false early if a stop is requested meanwhile.
    fn backoff(&self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if self.stop_requested() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10).min(deadline - Instant::now()));
        }
        !self.stop_requested()
    }

    /// The final exit: nothing is left running, so remove the cgroup.
    fn finish(&mut self) {
        self.ports.stop();
        let cgroup = &self.record.cgroup;
        let _ = cgroup.kill();
        if let Err(error) = cgroup.remove(Duration::from_secs(2)) {
            eprintln!("rcompose monitor: {error}");
        }
        if self.attach.take().is_some() {
            let _ = fs::remove_file(self.paths.dir.join(ATTACH_SOCKET));
        }
        self.state.status = Status::Exited;
        self.state.pid = 0;
        self.save();
    }

    fn start_once(&mut self) -> Result<Running, Failure> {
        let setup = |message: String| Failure { code: 125, message };
        let cgroup = &self.record.cgroup;
        cgroup.create_v2().map_err(|e| setup(e.to_string()))?;
        let pipes =
            (|| -> io::Result<_> { Ok((p::pipe()?, p::pipe()?, p::pipe()?, p::pipe()?)) })()
                .map_err(|e| setup(format!("create pipes: {e}")))?;
        let ((out_r, out_w), (err_r, err_w), (go_r, go_w), (fail_r, fail_w)) = pipes;
        let stdin_pipe = if self.record.spec.open_stdin && !self.record.spec.tty {
            Some(p::pipe().map_err(|e| setup(format!("create pipes: {e}")))?)
        } else {
            None
        };
        let pty_pair = if self.record.spec.tty {
            Some(UnixStream::pair().map_err(|e| setup(format!("create a socket pair: {e}")))?)
        } else {
            None
        };
        let namespace =
            container_network::namespace(self.paths.root(), &self.record).map_err(setup)?;
        let (mut namespaces, joins) =
            crate::container::namespaces::resolve(self.paths.root(), &self.record)
                .map_err(setup)?;
        let netns = match namespace {
            Namespace::New => {
                namespaces |= ns::NET;
                init::Netns::New
            }
            Namespace::Host => init::Netns::Keep,
            Namespace::Join(path) => init::Netns::Join(path),
        };
        // The init is born in the cgroup2 directory and moves itself into the v1 ones: neither needs
        // the global lock (and RCU grace period) of a migration through cgroup.procs.
        let v2_dir = match &cgroup.v2 {
            Some(dir) => Some(
                fs::File::open(dir).map_err(|e| setup(format!("open {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        let clone_error = |e: io::Error| setup(format!("clone the container init: {e}"));
        let (fork, born_in_v2) =
            crate::container::namespaces::fork_in_pid_namespace(joins.pid.as_ref(), || {
                Ok(match &v2_dir {
                    Some(dir) => match p::fork_into_cgroup(namespaces, dir.as_fd()) {
                        Ok(fork) => (fork, true),
                        Err(error)
                            if matches!(
                                error.raw_os_error(),
                                Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                            ) =>
                        {
                            (p::fork_into(namespaces)?, false)
                        }
                        Err(error) => return Err(error),
                    },
                    None => (p::fork_into(namespaces)?, true),
                })
            })
            .map_err(clone_error)?;
        drop(v2_dir);
        match fork {
            Fork::Child => {
                drop((out_r, err_r, go_w, fail_r));
                let stdio = init::Stdio {
                    stdout: out_w,
                    stderr: err_w,
                    stdin: stdin_pipe.map(|(read, _)| read),
                    pty_socket: pty_pair.map(|(child_end, _)| OwnedFd::from(child_end)),
                };
                let released = || {
                    let mut byte = [0u8; 1];
                    matches!(fs::File::from(go_r).read(&mut byte), Ok(1))
                };
                let failure = init::run(
                    &self.record,
                    &self.paths,
                    &joins,
                    &netns,
                    stdio,
                    released,
                    fail_w.as_raw_fd(),
                );
                let mut fail = fs::File::from(fail_w);
                let _ = write!(fail, "{} {}", failure.code, failure.message);
                p::exit_now(failure.code);
            }
            Fork::Parent(pid) => {
                drop((out_w, err_w, go_r, fail_w));
                let stdin = stdin_pipe.map(|(_, write)| fs::File::from(write));
                let pty_socket = pty_pair.map(|(_, monitor_end)| monitor_end);
                let kill_child = |failure: Failure| {
                    let _ = p::kill(pid, libc::SIGKILL);
                    let _ = p::waitpid(pid, false);
                    failure
                };
                let start = p::start_time(pid).unwrap_or(0);
                // While the init makes its mounts: the v1 directories, the limits, the devices.
                let prepare = || -> Result<u64, crate::cgroup::Error> {
                    if !born_in_v2 {
                        cgroup.add_v2(pid)?;
                    }
                    cgroup.create_v1()?;
                    cgroup.apply(&self.record.spec.limits)?;
                    if self.record.spec.privileged {
                        cgroup.allow_all_devices()?;
                    } else {
                        let rules: Vec<String> = (self.record.spec.devices.iter())
                            .filter_map(|d| device_rule(&d.host_path, &d.permissions))
                            .chain(self.record.spec.device_cgroup_rules.iter().cloned())
                            .collect();
                        for rule in &rules {
                            cgroup.allow_device(rule)?;
                        }
                        cgroup.restrict_devices_v2(&rules)?;
                    }
                    Ok(cgroup.oom_kills())
                };
                let oom_base = prepare().map_err(|e| kill_child(setup(e.to_string())))?;
                self.state.pid = pid;
                self.state.pid_start = start;
                let mut go = fs::File::from(go_w);
                go.write_all(b"1")
                    .map_err(|e| kill_child(setup(format!("release the container init: {e}"))))?;
                drop(go);
                let mut message = String::new();
                let _ = fs::File::from(fail_r).read_to_string(&mut message);
                if !message.is_empty() {
                    let _ = p::waitpid(pid, false);
                    self.state.pid = 0;
                    let (code, text) = message.split_once(' ').unwrap_or(("125", &message));
                    return Err(Failure {
                        code: code.parse().unwrap_or(125),
                        message: text.to_owned(),
                    });
                }
                let terminal = match &pty_socket {
                    Some(socket) => Some(fs::File::from(
                        terminal::recv_fd(socket.as_fd())
                            .map_err(|e| kill_child(setup(format!("receive the terminal: {e}"))))?,
                    )),
                    None => None,
                };
                if let Some(terminal) = &terminal {
                    let _ = p::set_nonblocking(terminal.as_raw_fd(), true);
                }
                self.state.status = Status::Running;
                self.state.started_at = now_rfc3339_nanos();
                self.state.probes_on_request = true;
                self.emit("start", &[]);
                // Health starts over with every start (recorded before the caller hears of it).
                self.state.health = self.record.spec.healthcheck.as_ref().map(|_| {
                    crate::container::state::Health {
                        status: "starting".into(),
                        ..Default::default()
                    }
                });
                self.state.finished_at.clear();
                self.state.exit_code = None;
                self.state.oom_killed = false;
                self.state.error.clear();
                self.save();
                for fd in [&out_r, &err_r] {
                    let _ = p::set_nonblocking(fd.as_raw_fd(), true);
                }
                Ok(Running {
                    pid,
                    stdout: Some(fs::File::from(out_r)),
                    stderr: Some(fs::File::from(err_r)),
                    terminal,
                    stdin,
                    oom_base,
                    started: Instant::now(),
                })
            }
        }
    }

    /// Relays output until the init exits; records the exit; returns its code.
    fn supervise(&mut self, mut running: Running) -> i32 {
        let mut exit = None;
        let mut drain_deadline = None;
        let mut checker = self
            .record
            .spec
            .healthcheck
            .clone()
            .map(health::Checker::new);
        loop {
            let outputs_closed =
                running.stdout.is_none() && running.stderr.is_none() && running.terminal.is_none();
            if exit.is_some() && outputs_closed {
                break;
            }
            let raw = |file: &Option<fs::File>| file.as_ref().map_or(-1, |f| f.as_raw_fd());
            let mut fds = vec![
                raw(&running.stdout),
                raw(&running.stderr),
                raw(&running.terminal),
                self.signals.as_raw_fd(),
                self.attach.as_ref().map_or(-1, |l| l.as_raw_fd()),
            ];
            fds.push(checker.as_ref().map_or(-1, health::Checker::fd));
            fds.extend(self.dns.as_ref().map_or([-1, -1], |dns| dns.fds()));
            fds.extend(self.clients.iter().map(|c| c.stream.as_raw_fd()));
            let mut timeout =
                drain_deadline.map(|d: Instant| d.saturating_duration_since(Instant::now()));
            if timeout.is_some_and(|t| t.is_zero()) {
                break;
            }
            if exit.is_none()
                && let Some(checker) = &checker
            {
                let until = checker.timeout();
                timeout = Some(timeout.map_or(until, |t| t.min(until)));
            }
            let ready = p::poll_read(&fds, timeout).unwrap_or_else(|_| vec![false; fds.len()]);
            // New clients first, so that output read in this round reaches them too.
            if ready[4] {
                self.accept_clients();
            }
            for (index, stream) in [Stream::Stdout, Stream::Stderr, Stream::Stdout]
                .into_iter()
                .enumerate()
            {
                if !ready[index] {
                    continue;
                }
                let slot = match index {
                    0 => &mut running.stdout,
                    1 => &mut running.stderr,
                    _ => &mut running.terminal,
                };
                if !self.relay(slot, stream, index == 2) {
                    *slot = None;
                    let _ = self.writer.finish(stream);
                }
            }
            if ready[3] {
                let signals = p::read_signals(self.signals.as_fd());
                if signals.contains(&libc::SIGUSR1)
                    && let Some(checker) = &mut checker
                {
                    checker.probe_now();
                }
                while let Ok(Some((pid, status))) = p::waitpid(-1, true) {
                    if self.ports.reaped(pid, status) {
                        continue;
                    }
                    if let Some(checker) = &mut checker
                        && let Some(probed) = checker.reaped(pid, status)
                    {
                        self.record_health(checker, probed.result, probed.extra);
                        continue;
                    }
                    if pid == running.pid {
                        exit = Some(status);
                        // Output still in the pipes is read for a moment; the kernel killed the rest
                        // of the pid namespace, so the write ends close soon.
                        drain_deadline = Some(Instant::now() + Duration::from_millis(200));
                    }
                }
            }
            if let Some(checker) = &mut checker {
                if ready[5] {
                    checker.read_output();
                }
                if exit.is_none() {
                    let paused =
                        State::read(&self.paths).is_ok_and(|state| state.status == Status::Paused);
                    let launch = |test: &[String]| self.launch_probe(test);
                    if let Some(result) = checker.tick(paused, launch) {
                        self.record_health(checker, result, false);
                    }
                }
            }
            if let Some(dns) = &mut self.dns {
                if ready[6] {
                    dns.on_query();
                }
                if ready[7] {
                    dns.on_answer();
                }
            }
            let mut index = 0;
            let mut client_ready = ready[8..].iter();
            while index < self.clients.len() {
                let readable = client_ready.next().copied().unwrap_or(false);
                if readable && !client_input(&mut self.clients[index], &mut running) {
                    self.clients.remove(index);
                    continue;
                }
                index += 1;
            }
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            let _ = self.writer.finish(stream);
        }
        // Attached clients see the end of the output.
        self.clients.clear();
        if let Some(checker) = &mut checker {
            checker.stop();
        }
        let exit = exit.unwrap_or(Exit::Signal(libc::SIGKILL));
        // Recorded by the caller of this function, once it knows whether a restart follows: the final
        // record must be the monitor's last write, since a waiter may remove the directory after it.
        self.state.pid = 0;
        self.state.exit_code = Some(exit.code());
        self.state.stopped = self.stop_requested();
        self.state.oom_killed = self.record.cgroup.oom_kills() > running.oom_base;
        self.state.finished_at = now_rfc3339_nanos();
        if self.state.oom_killed {
            self.emit("oom", &[]);
        }
        self.emit("die", &[("exitCode", exit.code().to_string())]);
        exit.code()
    }

    /// Adds a probe result to the health record and saves it (keeping a pause the CLI recorded).
    fn record_health(&mut self, checker: &health::Checker, result: HealthResult, extra: bool) {
        let mut health = self.state.health.take().unwrap_or_default();
        let before = health.status.clone();
        checker.record(&mut health, result, extra);
        if health.status != before {
            self.emit(&format!("health_status: {}", health.status), &[]);
        }
        self.state.health = Some(health);
        if State::read(&self.paths).is_ok_and(|state| state.status == Status::Paused) {
            self.state.status = Status::Paused;
        } else if self.state.status == Status::Paused {
            self.state.status = Status::Running;
        }
        self.save();
    }

    fn emit(&self, action: &str, extra: &[(&str, String)]) {
        if let Some(root) = self.paths.dir.parent().and_then(Path::parent) {
            events::emit(root, &self.record, action, extra);
        }
    }

    /// Runs a probe through the exec helper (this executable, with the prefix it was started with).
    fn launch_probe(&self, test: &[String]) -> io::Result<(i32, fs::File)> {
        let args: Vec<String> = std::env::args().collect();
        let prefix = args
            .iter()
            .position(|arg| arg == "monitor")
            .map_or(&[][..], |index| &args[1..index]);
        let root = self
            .paths
            .dir
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| io::Error::other("container directory without a root"))?;
        let spec = ExecSpec {
            args: test.to_vec(),
            ..ExecSpec::default()
        };
        let (read, write) = p::pipe()?;
        let write_err = write.try_clone()?;
        // This very executable, as this process runs it: from the read-only mount it was started
        // through (see `container::protected_command`), which its path would not be.
        let child = std::process::Command::new("/proc/self/exe")
            .args(prefix)
            .arg("exec")
            .arg(root)
            .arg(&self.record.id)
            .arg(serde_json::to_string(&spec).map_err(io::Error::other)?)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::from(write_err))
            .spawn()?;
        Ok((child.id() as i32, fs::File::from(read)))
    }

    /// Takes the clients waiting on the attach socket; the first one gets the replay buffer.
    fn accept_clients(&mut self) {
        let Some(listener) = &self.attach else {
            return;
        };
        while let Ok((mut stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if let Some(replay) = self.replay.take() {
                // The socket buffer is empty and the replay small: a client that cannot take it at
                // once is gone.
                if stream.write_all(&replay).is_err() {
                    continue;
                }
            }
            self.clients.push(Client {
                stream,
                pending: Vec::new(),
            });
        }
    }

    /// Copies what is readable from one pipe (or the terminal) into the log and to the clients
    /// (into the replay buffer when `replayed` and nobody attached yet); false at end of stream.
    fn relay(&mut self, slot: &mut Option<fs::File>, stream: Stream, replayed: bool) -> bool {
        let Some(file) = slot.as_mut() else {
            return false;
        };
        let mut buffer = [0u8; 32 * 1024];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => return false,
                Ok(n) => {
                    if let Err(error) = self.writer.push(stream, &buffer[..n]) {
                        eprintln!("rcompose monitor: write log: {error}");
                    }
                    // A client that cannot take the output at once is dropped, so one slow reader
                    // never stalls the container.
                    self.clients
                        .retain_mut(|client| client.stream.write_all(&buffer[..n]).is_ok());
                    if replayed && let Some(replay) = &mut self.replay {
                        replay.extend_from_slice(&buffer[..n]);
                        let excess = replay.len().saturating_sub(REPLAY_LIMIT);
                        replay.drain(..excess);
                    }
                    if n < buffer.len() {
                        return true;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// Reads a client's input frames (see [`crate::container::Attach`]): `d` + u32 length + bytes of input,
/// `r` + u16 rows + u16 columns, `e` for the end of input. False when the client is gone.
fn client_input(client: &mut Client, running: &mut Running) -> bool {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match client.stream.read(&mut buffer) {
            Ok(0) => return false,
            Ok(n) => client.pending.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    loop {
        let pending = &client.pending;
        let used = match pending.first() {
            Some(b'd') if pending.len() >= 5 => {
                let length = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]);
                let end = 5 + length as usize;
                if pending.len() < end {
                    break;
                }
                let data = &pending[5..end];
                let is_terminal = running.terminal.is_some();
                let target = running.terminal.as_mut().or(running.stdin.as_mut());
                if let Some(target) = target {
                    // Input to a full pipe or terminal waits: the write is blocking for this.
                    let _ = p::set_nonblocking(target.as_raw_fd(), false);
                    let _ = target.write_all(data);
                    if is_terminal {
                        let _ = p::set_nonblocking(target.as_raw_fd(), true);
                    }
                }
                end
            }
            Some(b'r') if pending.len() >= 5 => {
                let rows = u16::from_be_bytes([pending[1], pending[2]]);
                let cols = u16::from_be_bytes([pending[3], pending[4]]);
                if let Some(terminal) = &running.terminal {
                    terminal::set_window_size(terminal.as_raw_fd(), rows, cols);
                }
                5
            }
            Some(b'e') => {
                match &mut running.terminal {
                    // End of input on a terminal: its EOF character (^D).
                    Some(terminal) => {
                        let _ = terminal.write_all(&[4]);
                    }
                    None => running.stdin = None,
                }
                1
            }
            Some(b'd' | b'r') | None => break,
            Some(_) => return false,
        };
        client.pending.drain(..used);
    }
    true
}

/// A v1 device-cgroup rule for a host device (`c 10:229 rwm`).
fn device_rule(host_path: &Path, permissions: &str) -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let metadata = fs::metadata(host_path).ok()?;
    let kind = if metadata.file_type().is_block_device() {
        'b'
    } else {
        'c'
    };
    let (major, minor) = crate::sys::major_minor(metadata.rdev());
    let permissions = if permissions.is_empty() {
        "rwm"
    } else {
        permissions
    };
    Some(format!("{kind} {major}:{minor} {permissions}"))
}

fn exec(root: &Path, id: &str, spec_json: &str) -> i32 {
    match exec_inner(root, id, spec_json) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("rcompose exec: {}", failure.message);
            failure.code
        }
    }
}

fn exec_inner(root: &Path, id: &str, spec_json: &str) -> Result<i32, Failure> {
    let fail = |message: String| Failure { code: 126, message };
    // The child forked below lives in the container's pid namespace with the cgroup directories and
    // a pidfd open until it execs: the container's processes must not reach them (or this
    // executable) through /proc/<pid>/fd and /proc/<pid>/exe. Inherited by the child.
    p::set_dumpable(false).map_err(|e| fail(format!("make the exec helper undumpable: {e}")))?;
    let exec: ExecSpec =
        serde_json::from_str(spec_json).map_err(|e| fail(format!("invalid exec spec: {e}")))?;
    let paths = Paths::new(root, id);
    let record: Record = read_json(&paths.config()).map_err(|e| fail(e.to_string()))?;
    let state = State::read(&paths).map_err(|e| fail(e.to_string()))?;
    let not_running = || fail(format!("container {id} is not running"));
    if !state.status.is_active() || state.pid <= 0 {
        return Err(not_running());
    }
    let pidfd = p::pidfd_open(state.pid).map_err(|_| not_running())?;
    if !p::is_alive(state.pid, state.pid_start) {
        return Err(not_running());
    }
    // Forking is refused in a multi-threaded process, but once inside the container's mount namespace
    // the check cannot see /proc/self: check here.
    if p::thread_count().map_err(|e| fail(format!("count threads: {e}")))? != 1 {
        return Err(fail("the exec helper must be single-threaded".into()));
    }
    // As for the init: the process is born in the cgroup2 directory and moves itself into the v1
    // ones, through files opened here while the host's cgroup mounts are still in sight.
    let cgroup_error = |e: String| fail(format!("join the container's cgroup: {e}"));
    let mut v1_tasks = record
        .cgroup
        .open_v1_tasks()
        .map_err(|e| cgroup_error(e.to_string()))?;
    let v2_dir = match &record.cgroup.v2 {
        Some(dir) => Some(fs::File::open(dir).map_err(|e| cgroup_error(e.to_string()))?),
        None => None,
    };
    let v2_procs = match &record.cgroup.v2 {
        Some(dir) => Some(
            fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
                .map_err(|e| cgroup_error(e.to_string()))?,
        ),
        None => None,
    };
    join_namespaces(&pidfd, state.pid)
        .map_err(|e| fail(format!("join the container's namespaces: {e}")))?;
    let spec = &record.spec;
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", record.hostname));
    }
    for entry in &exec.env {
        let key = entry.split('=').next().unwrap_or(entry);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let privileged = exec.privileged || spec.privileged;
    let bounding = capability::bounding_set();
    // With a terminal: a pty from the container's devpts (we are in its mount namespace now).
    let pty = if exec.tty {
        if !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".to_owned());
        }
        Some(terminal::open_pty().map_err(|e| fail(format!("allocate a terminal: {e}")))?)
    } else {
        None
    };
    let process = Process {
        args: exec.args.clone(),
        env,
        cwd: exec.cwd.clone().unwrap_or_else(|| spec.cwd.clone()),
        create_cwd: false,
        read_only_root: false,
        user: exec.user.clone().unwrap_or_else(|| spec.user.clone()),
        group_add: spec.group_add.clone(),
        capabilities: if privileged {
            bounding
        } else {
            init::capabilities(&record, bounding).map_err(|f| fail(f.message))?
        },
        no_new_privs: spec.no_new_privs,
        seccomp: spec.seccomp == Seccomp::Default && !privileged,
        ulimits: spec.ulimits.clone(),
        keep_fds: Vec::new(),
    };
    let forward = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ];
    let mut blocked = forward.to_vec();
    blocked.push(libc::SIGCHLD);
    let signals = p::signalfd(&blocked).map_err(|e| fail(format!("signalfd: {e}")))?;
    let fork = match (&v2_dir, v2_procs) {
        (Some(dir), Some(mut procs)) => match p::fork_into_cgroup(0, dir.as_fd()) {
            Err(error) if matches!(error.raw_os_error(), Some(libc::ENOSYS | libc::E2BIG)) => {
                // Old kernel: join the cgroup2 directory ourselves (the child inherits it),
                // through the file opened before the mount namespace changed.
                procs
                    .write_all(std::process::id().to_string().as_bytes())
                    .map_err(|e| cgroup_error(e.to_string()))?;
                p::fork_into(0)
            }
            other => other,
        },
        _ => p::fork_into(0),
    };
    match fork.map_err(|e| fail(format!("fork: {e}")))? {
        Fork::Child => {
            drop(signals);
            if let Err(error) = crate::cgroup::Cgroup::join_v1(&mut v1_tasks) {
                eprintln!("rcompose exec: join the container's cgroup: {error}");
                p::exit_now(126);
            }
            drop(v1_tasks);
            if let Some((master, slave)) = pty {
                drop(master);
                if let Err(error) = attach_terminal(&slave) {
                    eprintln!("rcompose exec: attach {}: {error}", slave.display());
                    p::exit_now(126);
                }
            }
            let failure = process.exec();
            eprintln!("rcompose exec: {}", failure.message);
            p::exit_now(failure.code);
        }
        Fork::Parent(child) => match pty {
            Some((master, _)) => Ok(relay_terminal(child, master, &signals)),
            None => loop {
                let _ = p::poll_read(&[signals.as_raw_fd()], None);
                for signal in p::read_signals(signals.as_fd()) {
                    if signal != libc::SIGCHLD {
                        let _ = p::kill(child, signal);
                    }
                }
                if let Ok(Some((pid, exit))) = p::waitpid(child, true)
                    && pid == child
                {
                    return Ok(exit.code());
                }
            },
        },
    }
}

/// In the exec'd child: a new session whose controlling terminal is the pty slave, on stdio.
fn attach_terminal(slave: &Path) -> io::Result<()> {
    p::setsid()?;
    let file = fs::OpenOptions::new().read(true).write(true).open(slave)?;
    terminal::set_controlling(file.as_fd())?;
    for target in 0..3 {
        p::dup2(file.as_raw_fd(), target)?;
    }
    Ok(())
}

/// Relays between the helper's stdio and the pty master until the child exits and the terminal has
/// no more output; the caller's terminal (if stdin is one) is in raw mode meanwhile and its window size
/// follows SIGWINCH. Returns the child's exit code.
fn relay_terminal(child: i32, master: OwnedFd, signals: &OwnedFd) -> i32 {
    let stdin_tty = terminal::is_terminal(0);
    let _raw = if stdin_tty {
        terminal::copy_window_size(0, master.as_raw_fd());
        terminal::RawMode::enable(0).ok()
    } else {
        None
    };
    let mut master = fs::File::from(master);
    let mut stdin_open = true;
    let mut exit = None;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let stdin_fd = if stdin_open { 0 } else { -1 };
        let fds = [stdin_fd, master.as_raw_fd(), signals.as_raw_fd()];
        // After the child exits, the remaining output is read for a moment.
        let timeout = exit.map(|_| Duration::from_millis(100));
        let ready = p::poll_read(&fds, timeout).unwrap_or_else(|_| vec![false; 3]);
        if ready[0] {
            match io::stdin().lock().read(&mut buffer) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = master.write_all(&buffer[..n]);
                }
            }
        }
        if ready[1] {
            match master.read(&mut buffer) {
                // EIO: every slave descriptor is closed.
                Ok(0) | Err(_) => {
                    if exit.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(n) => {
                    let mut stdout = io::stdout().lock();
                    let _ = stdout.write_all(&buffer[..n]);
                    let _ = stdout.flush();
                }
            }
        }
        if ready[2] {
            for signal in p::read_signals(signals.as_fd()) {
                match signal {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH if stdin_tty => {
                        terminal::copy_window_size(0, master.as_raw_fd())
                    }
                    other => {
                        let _ = p::kill(child, other);
                    }
                }
            }
            if let Ok(Some((pid, status))) = p::waitpid(child, true)
                && pid == child
            {
                exit = Some(status);
            }
        }
        if exit.is_some() && !ready.iter().any(|r| *r) {
            break;
        }
    }
    exit.map_or(1, Exit::code)
}

/// Joins the init's namespaces: in one step through the pidfd (kernel 5.8+), else through
/// `/proc/<pid>/ns/*` files (mount last: after it the host's /proc is out of sight).
fn join_namespaces(pidfd: &OwnedFd, pid: i32) -> io::Result<()> {
    let flags = ns::IPC | ns::UTS | ns::PID | ns::NET | ns::CGROUP | ns::MOUNT;
    if p::setns(pidfd.as_fd(), flags).is_ok() {
        return Ok(());
    }
    let names = ["ipc", "uts", "pid", "net", "cgroup", "mnt"];
    let files: Vec<fs::File> = names
        .iter()
        .map(|name| fs::File::open(format!("/proc/{pid}/ns/{name}")))
        .collect::<io::Result<_>>()?;
    for file in &files {
        p::setns(file.as_fd(), 0)?;
    }
    Ok(())
}
