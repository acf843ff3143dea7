//! `rcompose top`: the processes of the services' running containers, in docker compose's table
//! (`SERVICE  #  UID  PID  PPID  C  STIME  TTY  TIME  CMD`, the columns of `ps -ef`).
//!
//! The runtime gives the container's host pids (from its cgroup); the columns come from
//! `/proc/<pid>` as `ps` computes them, seen from the host as `docker top` shows them (host pids,
//! user names from the host's `/etc/passwd`). Times are shown in UTC.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Services (default: all)
    services: Vec<String>,
}

/// `/proc`'s clock ticks per second (USER_HZ, 100 on every Linux architecture rcompose runs on).
const HZ: u64 = 100;

pub fn run(global: &GlobalOptions, args: TopArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let users = host_users();
    let boot = boot_time();
    let now = runtime::time::now_unix();
    let mut rows = Vec::new();
    for (container, info) in scope.containers(&args.services, true)? {
        if !info.state.status.is_active() {
            continue;
        }
        // A container that stopped since it was listed has no processes to show.
        let Ok(pids) = scope.engine.containers.processes(&container.id) else {
            continue;
        };
        for pid in pids {
            let Some(process) = read_process(pid) else {
                continue;
            };
            let mut row = vec![container.service.clone(), container.number.to_string()];
            row.extend(process.columns(&users, boot, now));
            rows.push(row);
        }
    }
    if !rows.is_empty() {
        output::stdout(&output::table::render_with_gap(
            &[
                "SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD",
            ],
            &rows,
            2,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `/proc/<pid>` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    pid: i32,
    ppid: i32,
    uid: u32,
    tty_nr: u64,
    /// User plus system time, in clock ticks.
    cpu_ticks: u64,
    /// Start time in clock ticks after boot.
    start_ticks: u64,
    /// The command line, or `[comm]` for a process without one.
    command: String,
}

fn read_process(pid: i32) -> Option<Process> {
    let dir = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let cmdline = std::fs::read(format!("{dir}/cmdline")).unwrap_or_default();
    parse_process(pid, &stat, &status, &cmdline)
}

fn parse_process(pid: i32, stat: &str, status: &str, cmdline: &[u8]) -> Option<Process> {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split at the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = &stat[open + 1..close];
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())?;
    let words: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|word| !word.is_empty())
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    let command = if words.is_empty() {
        format!("[{comm}]")
    } else {
        words.join(" ")
    };
    Some(Process {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        uid,
        tty_nr: number(4)?,
        cpu_ticks: number(11)? + number(12)?,
        start_ticks: number(19)?,
        command,
    })
}

impl Process {
    /// The `ps -ef` columns: UID PID PPID C STIME TTY TIME CMD.
    fn columns(&self, users: &BTreeMap<u32, String>, boot: i64, now: i64) -> Vec<String> {
        let started = boot + (self.start_ticks / HZ) as i64;
        let cpu_seconds = self.cpu_ticks / HZ;
        let elapsed = (now - started).max(1) as u64;
        vec![
            users
                .get(&self.uid)
                .cloned()
                .unwrap_or_else(|| self.uid.to_string()),
            self.pid.to_string(),
            self.ppid.to_string(),
            (self.cpu_ticks * 100 / HZ / elapsed).to_string(),
            start_time(started, now),
            tty_name(self.tty_nr),
            cpu_time(cpu_seconds),
            self.command.clone(),
        ]
    }
}

/// `ps`'s STIME: `HH:MM` for a process started today, else `MonDD`.
fn start_time(started: i64, now: i64) -> String {
    let stamp = runtime::time::format_rfc3339(started);
    if started.div_euclid(86_400) == now.div_euclid(86_400) {
        return stamp[11..16].to_string();
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = stamp[5..7].parse().unwrap_or(1);
    format!("{}{}", MONTHS[month.clamp(1, 12) - 1], &stamp[8..10])
}

/// `ps`'s TIME: cumulative CPU time as `[D-]HH:MM:SS`.
fn cpu_time(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

/// The controlling terminal's name from `tty_nr` (`pts/N`, `ttyN`), `?` for none.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".to_string(),
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".to_string(),
    }
}

/// The host's user names by uid, as `ps` on the host shows them.
fn host_users() -> BTreeMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// Boot time in Unix seconds (`btime` in `/proc/stat`).
fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_like_ps() {
        let stat = "4242 (sleep (x)) S 4200 4242 4242 34817 4242 4194560 100 0 0 0 250 130 0 0 20 0 1 0 5000 1000 50";
        let status = "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\n";
        let process = parse_process(4242, stat, status, b"sleep\x00100\x00").unwrap();
        assert_eq!(
            process,
            Process {
                pid: 4242,
                ppid: 4200,
                uid: 1000,
                tty_nr: 34817,
                cpu_ticks: 380,
                start_ticks: 5000,
                command: "sleep 100".to_string(),
            }
        );
        let kernel = parse_process(
            2,
            "2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0",
            "Uid:\t0\t0\t0\t0\n",
            b"",
        )
        .unwrap();
        assert_eq!(kernel.command, "[kthreadd]");
        let users = BTreeMap::from([(1000, "alice".to_string())]);
        // Booted at 1_000_000; started 50 s later; now 100 s after boot: 3.8 s of CPU over 50 s.
        let columns = process.columns(&users, 1_000_000, 1_000_100);
        assert_eq!(
            columns,
            [
                "alice",
                "4242",
                "4200",
                "7",
                "13:47",
                "pts/1",
                "00:00:03",
                "sleep 100"
            ]
        );
    }

    #[test]
    fn terminals_and_times() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 5), "pts/5");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
        assert_eq!(cpu_time(3661), "01:01:01");
        assert_eq!(cpu_time(90_061), "1-01:01:01");
        // 2026-11-29T09:00:00Z and a day earlier.
        let now = 1_795_942_800;
        assert_eq!(start_time(now - 60, now), "08:59");
        assert_eq!(start_time(now - 86_400, now), "Nov28");
    }
}
