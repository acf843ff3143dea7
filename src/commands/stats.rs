//! `rcompose stats`: resource usage of the project's containers, as `docker compose stats` shows it
//! (docker's columns, units and `--format json` fields), refreshed every second until Ctrl-C, or
//! once with `--no-stream`.
//!
//! Where the numbers come from: memory, CPU time and pids from the container's cgroup (through the
//! runtime); CPU % is the CPU time used between two samples over the wall time between them (docker's
//! formula, which counts one full core as 100%); network I/O from `/proc/<init>/net/dev` (the
//! container's network namespace, loopback excluded); block I/O from `/proc/<pid>/io` of the
//! container's processes (storage reads and writes of the processes alive now). Without a memory
//! limit the limit shown is the host's memory, as docker shows it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::table::Format;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The service (default: all)
    service: Option<String>,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format the output
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// One reading of a container.
#[derive(Debug, Clone, Default)]
struct Sample {
    at: Option<Instant>,
    cpu_ns: u64,
    memory: u64,
    memory_limit: u64,
    pids: u64,
    net: (u64, u64),
    block: (u64, u64),
}

/// A row of the output.
struct Row {
    id: String,
    name: String,
    cpu: f64,
    sample: Sample,
    running: bool,
}

pub fn run(global: &GlobalOptions, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let services: Vec<String> = args.service.iter().cloned().collect();
    let scope = Scope::open(global, &services)?;
    scope.check_services(&services)?;
    let host_memory = host_memory();
    let interval = if args.no_stream {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(1)
    };
    let clear = !args.no_stream && args.format == Format::Table && std::io::stdout().is_terminal();
    runtime::sys::interrupt::catch();
    let mut previous: BTreeMap<String, Sample> = BTreeMap::new();
    let mut first = true;
    loop {
        let containers = scope.containers(&services, true)?;
        let mut rows = Vec::new();
        for (container, info) in &containers {
            let running = info.state.status.is_active();
            if !running && !args.all {
                continue;
            }
            let sample = if running {
                sample(&scope, &container.id, info.state.pid, host_memory)
            } else {
                None
            };
            let cpu = match (&sample, previous.get(&container.id)) {
                (Some(now), Some(before)) => cpu_percent(before, now),
                _ => 0.0,
            };
            if let Some(sample) = &sample {
                previous.insert(container.id.clone(), sample.clone());
            }
            rows.push(Row {
                id: container.id.clone(),
                name: container.name.clone(),
                cpu,
                running: sample.is_some(),
                sample: sample.unwrap_or_default(),
            });
        }
        // The first reading has no CPU figure: take a second one after the interval.
        if !first {
            print(&rows, &args, clear)?;
            if args.no_stream {
                return Ok(ExitCode::SUCCESS);
            }
        }
        first = false;
        let deadline = Instant::now() + interval;
        while Instant::now() < deadline {
            if runtime::sys::interrupt::interrupted() {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn print(rows: &[Row], args: &StatsArgs, clear: bool) -> anyhow::Result<()> {
    let id = |row: &Row| {
        if args.no_trunc {
            row.id.clone()
        } else {
            row.id.chars().take(12).collect()
        }
    };
    let mut text = String::new();
    match args.format {
        Format::Json => {
            for row in rows {
                let f = fields(row);
                // docker's keys, in its (alphabetical) order.
                let value = json!({
                    "BlockIO": f.block,
                    "CPUPerc": f.cpu,
                    "Container": row.name,
                    "ID": id(row),
                    "MemPerc": f.memory_percent,
                    "MemUsage": f.memory,
                    "Name": row.name,
                    "NetIO": f.net,
                    "PIDs": f.pids,
                });
                text.push_str(&value.to_string());
                text.push('\n');
            }
        }
        Format::Table => {
            if clear {
                text.push_str("\x1b[2J\x1b[H");
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let f = fields(row);
                    vec![
                        id(row),
                        row.name.clone(),
                        f.cpu,
                        f.memory,
                        f.memory_percent,
                        f.net,
                        f.block,
                        f.pids,
                    ]
                })
                .collect();
            text.push_str(&output::table::render(
                &[
                    "CONTAINER ID",
                    "NAME",
                    "CPU %",
                    "MEM USAGE / LIMIT",
                    "MEM %",
                    "NET I/O",
                    "BLOCK I/O",
                    "PIDS",
                ],
                &table,
            ));
        }
    }
    output::stdout(&text)?;
    Ok(())
}

/// A row's cells as docker formats them.
struct Fields {
    cpu: String,
    memory: String,
    memory_percent: String,
    net: String,
    block: String,
    pids: String,
}

fn fields(row: &Row) -> Fields {
    let s = &row.sample;
    if !row.running {
        // What docker shows for a container that is not running.
        return Fields {
            cpu: "0.00%".into(),
            memory: "0B / 0B".into(),
            memory_percent: "0.00%".into(),
            net: "0B / 0B".into(),
            block: "0B / 0B".into(),
            pids: "0".into(),
        };
    }
    let memory_percent = if s.memory_limit > 0 {
        s.memory as f64 * 100.0 / s.memory_limit as f64
    } else {
        0.0
    };
    Fields {
        cpu: format!("{:.2}%", row.cpu),
        memory: format!(
            "{} / {}",
            binary_size(s.memory as f64),
            binary_size(s.memory_limit as f64)
        ),
        memory_percent: format!("{memory_percent:.2}%"),
        net: format!(
            "{} / {}",
            decimal_size(s.net.0 as f64),
            decimal_size(s.net.1 as f64)
        ),
        block: format!(
            "{} / {}",
            decimal_size(s.block.0 as f64),
            decimal_size(s.block.1 as f64)
        ),
        pids: s.pids.to_string(),
    }
}

/// Reads a running container's counters; `None` if it stopped meanwhile.
fn sample(scope: &Scope, id: &str, init_pid: i32, host_memory: u64) -> Option<Sample> {
    let stats = scope.engine.containers.stats(id).ok()?;
    let processes = scope.engine.containers.processes(id).unwrap_or_default();
    let mut block = (0, 0);
    for pid in processes {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
            let (read, written) = parse_io(&text);
            block.0 += read;
            block.1 += written;
        }
    }
    let net = std::fs::read_to_string(format!("/proc/{init_pid}/net/dev"))
        .map(|text| parse_net_dev(&text))
        .unwrap_or((0, 0));
    Some(Sample {
        at: Some(Instant::now()),
        cpu_ns: stats.cpu_usage_ns,
        memory: stats.memory_usage,
        memory_limit: stats.memory_limit.unwrap_or(host_memory),
        pids: stats.pids,
        net,
        block,
    })
}

/// CPU time used between two samples over the wall time between them, in percent of one core.
fn cpu_percent(before: &Sample, now: &Sample) -> f64 {
    let (Some(t0), Some(t1)) = (before.at, now.at) else {
        return 0.0;
    };
    let wall = t1.duration_since(t0).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    now.cpu_ns.saturating_sub(before.cpu_ns) as f64 * 100.0 / wall
}

/// Received and sent bytes over every interface but loopback, from `/proc/<pid>/net/dev`.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut total = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let values: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if values.len() >= 9 {
            total.0 += values[0];
            total.1 += values[8];
        }
    }
    total
}

/// Storage bytes read and written, from `/proc/<pid>/io`.
fn parse_io(text: &str) -> (u64, u64) {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (value("read_bytes:"), value("write_bytes:"))
}

/// The host's memory in bytes (`MemTotal`).
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// docker's `units.BytesSize`: binary units, four significant digits (`1.5MiB`, `7.637GiB`).
fn binary_size(bytes: f64) -> String {
    scaled(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
    )
}

/// docker's `units.HumanSize`: decimal units, four significant digits (`0B`, `1.2kB`, `3.4MB`).
fn decimal_size(bytes: f64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"])
}

fn scaled(mut value: f64, base: f64, units: &[&str]) -> String {
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    format!("{}{}", four_digits(value), units[unit])
}

/// Go's `%.4g` for the values sizes take (0 or at least 1, below 10 000).
fn four_digits(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let exponent = value.abs().log10().floor() as i32;
    let decimals = (3 - exponent).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary_size(0.0), "0B");
        assert_eq!(binary_size(512.0), "512B");
        assert_eq!(binary_size(1536.0), "1.5KiB");
        assert_eq!(binary_size(8_200_000_000.0), "7.637GiB");
        assert_eq!(decimal_size(1234.0), "1.234kB");
        assert_eq!(decimal_size(999.0), "999B");
        assert_eq!(decimal_size(12_345_678.0), "12.35MB");
    }

    #[test]
    fn proc_counters() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
eth0:    2000      10    0    0    0     0          0         0      3000      12    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(dev), (2000, 3000));
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io), (4096, 8192));
    }

    #[test]
    fn cpu_percent_is_per_core() {
        let t0 = Instant::now();
        let before = Sample {
            at: Some(t0),
            cpu_ns: 1_000_000_000,
            ..Sample::default()
        };
        let now = Sample {
            at: Some(t0 + Duration::from_millis(500)),
            cpu_ns: 1_250_000_000,
            ..Sample::default()
        };
        assert!((cpu_percent(&before, &now) - 50.0).abs() < 1e-9);
    }
}
