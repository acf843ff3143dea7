//! `rcompose logs`: the containers' output, interleaved by time with `web-1  | ` prefixes; `-f`
//! follows new output (also used by an attached `up`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use runtime::container::LogEntry;
use runtime::container::log::Tail as LogTail;

use super::scope::Scope;
use super::time_filter;
use crate::cli::GlobalOptions;
use crate::output::logs::LogPrinter;
use crate::reconcile::snapshot::ObservedContainer;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services to show (default: all)
    services: Vec<String>,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long)]
    tail: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print a prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Show logs since a timestamp (e.g. 2026-11-29T05:00:00Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. 2026-11-29T05:00:00Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    until: Option<String>,
    /// Only the container with this index (`web-2` is 2) of each service shown
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    index: Option<u32>,
}

/// Which entries `--since` and `--until` keep (Unix seconds, both ends included).
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    since: Option<i64>,
    until: Option<i64>,
}

impl Window {
    fn contains(&self, entry: &LogEntry) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        runtime::time::parse_rfc3339(&entry.time).is_some_and(|time| {
            self.since.is_none_or(|since| time >= since)
                && self.until.is_none_or(|until| time <= until)
        })
    }
}

/// How followed logs are shown.
pub struct Follow {
    pub timestamps: bool,
    pub prefix: bool,
    pub color: bool,
    /// Lines per container to show first (`None`: all).
    pub tail: Option<usize>,
    /// Follow containers that appear later and drop removed ones, and go on when all have
    /// stopped (`up --watch`, whose rebuilds replace containers).
    pub replaced: bool,
}

pub fn run(global: &GlobalOptions, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let follow = Follow {
        timestamps: args.timestamps,
        prefix: !args.no_log_prefix,
        color: !args.no_color,
        tail,
        replaced: false,
    };
    let now = runtime::time::now_unix();
    let window = Window {
        since: args
            .since
            .as_deref()
            .map(|t| time_filter::unix_seconds(t, now, "--since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| time_filter::unix_seconds(t, now, "--until"))
            .transpose()?,
    };
    let mut streams = Streams::open(&scope, &args.services, &follow, args.index)?;
    if let Some(index) = args.index
        && streams.containers.is_empty()
    {
        anyhow::bail!("no container with index {index} (see `rcompose ps -a`)");
    }
    streams.print_existing(&window);
    if window.until.is_some() {
        return Ok(ExitCode::SUCCESS); // nothing after `--until` is worth following
    }
    if args.follow {
        // Until Ctrl-C, or until no followed container runs any more (each stream ends with its
        // container, as docker's do; `down` ends them all).
        runtime::sys::interrupt::catch();
        while !runtime::sys::interrupt::interrupted() {
            streams.print_new();
            let running = streams.containers.iter().any(|stream| {
                scope
                    .engine
                    .containers
                    .state(&stream.id)
                    .is_ok_and(|state| state.status.is_active())
            });
            if !running {
                streams.print_new();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows the logs of the containers of `services` (all when empty) until every container has stopped
/// or Ctrl-C; returns whether Ctrl-C ended it.
/// How following the logs of running containers ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEnd {
    /// Ctrl-C.
    Interrupted,
    /// Every followed container stopped.
    AllExited,
    /// A container stopped (failed, with [`Abort::OnFailure`]) while an abort was asked for: its
    /// service and exit code.
    Aborted { service: String, code: i32 },
}

/// When an attached `up` stops the project because a container stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    Never,
    /// Any container's exit (`--abort-on-container-exit`, `--exit-code-from`).
    OnExit,
    /// An exit with a code other than 0 (`--abort-on-container-failure`).
    OnFailure,
}

/// `stop` runs (on a thread of its own) once Ctrl-C or an abort ends the follow, and the output goes
/// on meanwhile, so what the containers print while they stop is seen, as with docker compose.
pub fn follow_until_exit(
    scope: &Scope,
    services: &[String],
    follow: &Follow,
    abort: Abort,
    stop: &(dyn Fn(&FollowEnd) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<FollowEnd> {
    let end = follow_until_end(scope, services, follow, abort)?;
    let (end, mut streams, mut reported) = match end {
        (FollowEnd::AllExited, _, _) => return Ok(FollowEnd::AllExited),
        ended => ended,
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|threads| {
        let stopping = threads.spawn(|| {
            let result = stop(&end);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        });
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            streams.print_new();
            streams.report_exits(scope, &mut reported);
            std::thread::sleep(Duration::from_millis(100));
        }
        streams.print_new();
        streams.report_exits(scope, &mut reported);
        stopping
            .join()
            .unwrap_or_else(|_| anyhow::bail!("the stop thread panicked"))
    })?;
    Ok(end)
}

/// Follows until every container exited, Ctrl-C or an abort; returns how it ended, with the
/// streams and the exits already reported.
fn follow_until_end(
    scope: &Scope,
    services: &[String],
    follow: &Follow,
    abort: Abort,
) -> anyhow::Result<(FollowEnd, Streams, BTreeMap<String, bool>)> {
    runtime::sys::interrupt::catch();
    let mut streams = Streams::open(scope, services, follow, None)?;
    let names: Vec<&str> = streams.containers.iter().map(|c| c.name.as_str()).collect();
    crate::output::status(&format!("Attaching to {}", names.join(", ")));
    streams.print_existing(&Window::default());
    let mut reported: BTreeMap<String, bool> = BTreeMap::new();
    loop {
        if runtime::sys::interrupt::interrupted() {
            return Ok((FollowEnd::Interrupted, streams, reported));
        }
        if follow.replaced {
            streams.refresh(scope, services)?;
        }
        streams.print_new();
        let mut running = 0;
        let mut exited = Vec::new();
        for container in &streams.containers {
            let state = match scope.engine.containers.state(&container.id) {
                Err(_) if follow.replaced => continue,
                state => state?,
            };
            if state.status.is_active() {
                running += 1;
            } else if !reported.contains_key(&container.id) {
                exited.push((
                    container.id.clone(),
                    container.name.clone(),
                    container.service.clone(),
                    state.exit_code.unwrap_or(0),
                ));
            }
        }
        if !exited.is_empty() {
            streams.print_new();
        }
        for (id, name, service, code) in exited {
            crate::output::status(&exited_line(&name, code));
            reported.insert(id, true);
            if abort == Abort::OnExit || (abort == Abort::OnFailure && code != 0) {
                return Ok((FollowEnd::Aborted { service, code }, streams, reported));
            }
        }
        if running == 0 && !follow.replaced {
            streams.print_new();
            return Ok((FollowEnd::AllExited, streams, reported));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exited_line(name: &str, code: i32) -> String {
    format!("{name} exited with code {code}")
}

struct Stream {
    id: String,
    name: String,
    service: String,
    tail: LogTail,
}

impl Stream {
    fn new(scope: &Scope, observed: ObservedContainer) -> Stream {
        Stream {
            tail: LogTail::new(scope.engine.containers.log_path(&observed.id)),
            // docker compose prefixes lines with `web-1`, the name without the project.
            name: observed
                .name
                .strip_prefix(&format!("{}-", scope.loaded.project.name))
                .map(str::to_string)
                .unwrap_or_else(|| observed.name.clone()),
            id: observed.id,
            service: observed.service,
        }
    }
}

/// The log files of a set of containers, read incrementally.
struct Streams {
    containers: Vec<Stream>,
    printer: LogPrinter,
    tail: Option<usize>,
}

impl Streams {
    /// Says once for each container that stopped since, with its code.
    fn report_exits(&self, scope: &Scope, reported: &mut BTreeMap<String, bool>) {
        for container in &self.containers {
            if reported.contains_key(&container.id) {
                continue;
            }
            if let Ok(state) = scope.engine.containers.state(&container.id)
                && !state.status.is_active()
            {
                crate::output::status(&exited_line(&container.name, state.exit_code.unwrap_or(0)));
                reported.insert(container.id.clone(), true);
            }
        }
    }

    /// The logs of the containers of `services` (all when empty); with `index`, only those with
    /// that number.
    fn open(
        scope: &Scope,
        services: &[String],
        follow: &Follow,
        index: Option<u32>,
    ) -> anyhow::Result<Streams> {
        let containers: Vec<Stream> = scope
            .containers(services, false)?
            .into_iter()
            .filter(|(observed, info)| readable_log(observed, info))
            .filter(|(observed, _)| index.is_none_or(|index| observed.number == index))
            .map(|(observed, _)| Stream::new(scope, observed))
            .collect();
        let printer = LogPrinter::new(
            containers.iter().map(|c| c.name.as_str()),
            follow.prefix,
            follow.color,
            follow.timestamps,
        );
        Ok(Streams {
            containers,
            printer,
            tail: follow.tail,
        })
    }

    /// Follows the containers of `services` created since, and drops the removed ones.
    fn refresh(&mut self, scope: &Scope, services: &[String]) -> anyhow::Result<()> {
        let current = scope.containers(services, false)?;
        self.containers
            .retain(|stream| current.iter().any(|(observed, _)| observed.id == stream.id));
        for (observed, _) in current {
            if self
                .containers
                .iter()
                .any(|stream| stream.id == observed.id)
            {
                continue;
            }
            self.containers.push(Stream::new(scope, observed));
        }
        Ok(())
    }

    /// Prints what the logs hold now, interleaved by time, `tail` lines per container at most.
    fn print_existing(&mut self, window: &Window) {
        let mut all: Vec<(String, usize, LogEntry)> = Vec::new();
        for (index, stream) in self.containers.iter_mut().enumerate() {
            // What rotation moved aside first (docker's `logs` reads the rotated files too).
            let mut entries = stream.tail.read_rotated();
            entries.extend(read_new(stream));
            entries.retain(|e| window.contains(e));
            if let Some(tail) = self.tail {
                let skip = entries.len().saturating_sub(tail);
                entries.drain(..skip);
            }
            all.extend(entries.into_iter().map(|e| (e.time.clone(), index, e)));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, index, entry) in all {
            let stream = &self.containers[index];
            self.printer
                .line(&stream.name, &stream.service, &entry.time, &entry.log);
        }
    }

    fn print_new(&mut self) {
        for stream in &mut self.containers {
            for entry in read_new(stream) {
                self.printer
                    .line(&stream.name, &stream.service, &entry.time, &entry.log);
            }
        }
    }
}

/// Whether a container keeps a log to read; for one that does not (`logging: {driver: none}`),
/// docker compose's warning.
fn readable_log(
    observed: &crate::reconcile::snapshot::ObservedContainer,
    info: &runtime::container::Info,
) -> bool {
    if info.record.spec.log_none {
        crate::output::warnings(&[format!(
            "Can't retrieve logs for {:?}: configured logging driver does not support reading",
            observed.name
        )]);
        return false;
    }
    true
}

/// The complete entries appended to a container's log since the last read.
fn read_new(stream: &mut Stream) -> Vec<LogEntry> {
    stream.tail.read_new()
}
