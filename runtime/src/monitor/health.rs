//! Healthchecks, run by the monitor so that a container's health is kept up to date with no CLI
//! running (docker's semantics: a probe every `interval` (`start_interval` during `start_period`),
//! each in the container through the exec helper, killed after `timeout`; `retries` failures in a
//! row make it unhealthy, failures during the start period do not count, one success makes it
//! healthy). The last five results are kept with their output, as `docker inspect` shows them.

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::container::spec::Healthcheck;
use crate::container::state::{Health, HealthResult, now_rfc3339_nanos};
use crate::sys::process::{self as p, Exit};

/// Output kept per probe, as docker keeps it.
const MAX_OUTPUT: usize = 4096;

/// A probe in flight.
struct Probe {
    pid: i32,
    output: fs::File,
    collected: Vec<u8>,
    started_at: String,
    deadline: Instant,
    timed_out: bool,
    /// Asked for ahead of the schedule ([`Checker::probe_now`]).
    extra: bool,
}

/// A finished probe: its result, and whether it was an extra one (see [`Checker::record`]).
pub(super) struct Probed {
    pub result: HealthResult,
    pub extra: bool,
}

/// The schedule and the probe in flight for one run of the container.
pub(super) struct Checker {
    spec: Healthcheck,
    started: Instant,
    next: Instant,
    probe: Option<Probe>,
    /// While an extra probe is due (asked for ahead of the schedule): when the schedule's next
    /// probe is, which the extra one does not move.
    scheduled: Option<Instant>,
}

impl Checker {
    pub(super) fn new(spec: Healthcheck) -> Self {
        let now = Instant::now();
        let mut checker = Self {
            spec,
            started: now,
            next: now,
            probe: None,
            scheduled: None,
        };
        checker.next = now + checker.period(now);
        checker
    }

    fn in_start_period(&self, now: Instant) -> bool {
        now.duration_since(self.started) < Duration::from_millis(self.spec.start_period_ms)
    }

    fn period(&self, now: Instant) -> Duration {
        let ms = if self.in_start_period(now) && self.spec.start_interval_ms > 0 {
            self.spec.start_interval_ms
        } else {
            self.spec.interval_ms
        };
        Duration::from_millis(ms.max(10))
    }

    /// Makes the next probe due at once (unless one runs): a CLI waiting for the container to be
    /// healthy asks for it rather than waiting for the schedule, and reads the recorded result, so
    /// what it sees and what `ps` shows are the same probes.
    pub(super) fn probe_now(&mut self) {
        let now = Instant::now();
        if self.probe.is_none() && self.next > now {
            self.scheduled.get_or_insert(self.next);
            self.next = now;
        }
    }

    /// The probe's output pipe, to poll (-1 when none runs).
    pub(super) fn fd(&self) -> i32 {
        self.probe
            .as_ref()
            .map_or(-1, |probe| probe.output.as_raw_fd())
    }

    /// How long the monitor may sleep before [`Checker::tick`] has work.
    pub(super) fn timeout(&self) -> Duration {
        let now = Instant::now();
        match &self.probe {
            Some(probe) if !probe.timed_out => probe.deadline.saturating_duration_since(now),
            Some(_) => Duration::from_millis(100),
            None => self.next.saturating_duration_since(now),
        }
    }

    /// Starts a probe when one is due (`launch` spawns it and returns its pid and output pipe), and
    /// kills one past its timeout. `paused` skips a due probe.
    pub(super) fn tick(
        &mut self,
        paused: bool,
        launch: impl FnOnce(&[String]) -> io::Result<(i32, fs::File)>,
    ) -> Option<HealthResult> {
        let now = Instant::now();
        if let Some(probe) = &mut self.probe {
            if !probe.timed_out && now >= probe.deadline {
                // SIGTERM: the exec helper forwards it to the probe and exits with it.
                probe.timed_out = true;
                let _ = p::kill(probe.pid, libc::SIGTERM);
            }
            return None;
        }
        if now < self.next {
            return None;
        }
        let scheduled = self.scheduled.take();
        let extra = scheduled.is_some();
        self.next = scheduled.unwrap_or_else(|| now + self.period(now));
        if paused {
            return None;
        }
        let started_at = now_rfc3339_nanos();
        match launch(&self.spec.test) {
            Ok((pid, output)) => {
                let _ = p::set_nonblocking(output.as_raw_fd(), true);
                self.probe = Some(Probe {
                    pid,
                    output,
                    collected: Vec::new(),
                    started_at,
                    deadline: now + Duration::from_millis(self.spec.timeout_ms.max(10)),
                    timed_out: false,
                    extra,
                });
                None
            }
            Err(error) => Some(HealthResult {
                start: started_at,
                end: now_rfc3339_nanos(),
                exit_code: -1,
                output: format!("cannot run the healthcheck: {error}"),
            }),
        }
    }

    /// Reads what the probe printed so far.
    pub(super) fn read_output(&mut self) {
        let Some(probe) = &mut self.probe else { return };
        let mut buffer = [0u8; 4096];
        while let Ok(n) = probe.output.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let room = MAX_OUTPUT.saturating_sub(probe.collected.len());
            probe.collected.extend_from_slice(&buffer[..n.min(room)]);
        }
    }

    /// Claims a reaped child if it is the probe; returns its result.
    pub(super) fn reaped(&mut self, pid: i32, exit: Exit) -> Option<Probed> {
        if self.probe.as_ref().is_none_or(|probe| probe.pid != pid) {
            return None;
        }
        self.read_output();
        let probe = self.probe.take()?;
        let mut output = String::from_utf8_lossy(&probe.collected).into_owned();
        let exit_code = if probe.timed_out {
            output = format!(
                "Health check exceeded timeout ({}ms){}{output}",
                self.spec.timeout_ms,
                if output.is_empty() { "" } else { ": " }
            );
            -1
        } else {
            exit.code()
        };
        Some(Probed {
            result: HealthResult {
                start: probe.started_at,
                end: now_rfc3339_nanos(),
                exit_code,
                output,
            },
            extra: probe.extra,
        })
    }

    /// Applies a result to the health record (docker's rules). An extra probe (one a waiting CLI
    /// asked for ahead of the schedule, to see a starting container healthy at once) counts when it
    /// passes; its failure while the container starts does not count towards `retries`, which
    /// docker's schedule alone would not have run.
    pub(super) fn record(&self, health: &mut Health, result: HealthResult, extra: bool) {
        if result.exit_code == 0 {
            health.status = "healthy".into();
            health.failing_streak = 0;
        } else if extra && health.status == "starting" {
            // Logged only.
        } else if !self.in_start_period(Instant::now()) || health.status != "starting" {
            health.failing_streak += 1;
            if health.failing_streak >= self.spec.retries.max(1) {
                health.status = "unhealthy".into();
            }
        }
        health.log.push(result);
        if health.log.len() > 5 {
            health.log.remove(0);
        }
    }

    /// Kills a probe still running (the container is gone).
    pub(super) fn stop(&mut self) {
        if let Some(probe) = self.probe.take() {
            let _ = p::kill(probe.pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(interval_ms: u64, retries: u32) -> Checker {
        Checker::new(Healthcheck {
            test: vec!["true".into()],
            interval_ms,
            timeout_ms: 10_000,
            retries,
            start_period_ms: 0,
            start_interval_ms: 0,
        })
    }

    /// Launches the due probe (as pid `pid`) and finishes it with `code`.
    fn probe(checker: &mut Checker, pid: i32, code: i32) -> Probed {
        let launched = checker.tick(false, |_| Ok((pid, fs::File::open("/dev/null")?)));
        assert!(launched.is_none(), "the probe did not launch");
        checker.reaped(pid, Exit::Code(code)).expect("the probe")
    }

    fn record(checker: &Checker, health: &mut Health, probed: Probed) {
        checker.record(health, probed.result, probed.extra);
    }

    #[test]
    fn extra_probes_do_not_move_the_schedule_nor_count_failures_while_starting() {
        let mut checker = checker(60_000, 1);
        let scheduled = checker.next;
        let mut health = Health {
            status: "starting".into(),
            ..Health::default()
        };
        // Asked for ahead of the schedule: it runs at once, and the schedule stays.
        checker.probe_now();
        let probed = probe(&mut checker, 101, 1);
        assert!(probed.extra);
        assert_eq!(checker.next, scheduled);
        record(&checker, &mut health, probed);
        assert_eq!(
            (health.status.as_str(), health.failing_streak),
            ("starting", 0)
        );
        assert_eq!(health.log.len(), 1, "an extra probe is logged");
        // A passing extra probe makes it healthy at once.
        checker.probe_now();
        let probed = probe(&mut checker, 102, 0);
        record(&checker, &mut health, probed);
        assert_eq!(health.status, "healthy");
        // The schedule's probes count as docker counts them: retries 1, one failure.
        checker.next = Instant::now();
        let probed = probe(&mut checker, 103, 1);
        assert!(!probed.extra);
        record(&checker, &mut health, probed);
        assert_eq!(health.status, "unhealthy");
    }

    #[test]
    fn a_scheduled_failure_counts_while_starting() {
        let mut checker = checker(10, 2);
        let mut health = Health {
            status: "starting".into(),
            ..Health::default()
        };
        for (pid, status) in [(201, "starting"), (202, "unhealthy")] {
            checker.next = Instant::now();
            let probed = probe(&mut checker, pid, 1);
            record(&checker, &mut health, probed);
            assert_eq!(health.status, status);
        }
    }
}
