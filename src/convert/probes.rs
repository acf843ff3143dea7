//! `healthcheck` as probes. Readiness is what Compose's `healthy` means to others (a Service sends
//! traffic, and `depends_on: service_healthy` waits, only once it passes); liveness restarts a
//! container that stays unhealthy, as a restart policy with an autoheal would. `start_period`
//! becomes a startup probe: its failures do not count, like Compose's start period, and it ends at
//! the first success. Kubernetes ignores an image's HEALTHCHECK, so a service that relies on it gets
//! no probe, and that is reported.

use k8s_openapi::api::core::v1::{Container, ExecAction, Probe};

use super::container::seconds;
use crate::project::model::Service;
use crate::project::units::Duration;

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u64 = 3;
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);

impl super::Converter<'_> {
    pub(super) fn probes(&mut self, name: &str, service: &Service, container: &mut Container) {
        let Some(check) = &service.healthcheck else {
            return;
        };
        if check.disable || check.test.first().map(String::as_str) == Some("NONE") {
            return;
        }
        let Some(command) = probe_command(&check.test) else {
            self.report.not_carried(
                name,
                "healthcheck",
                "no test: the image's HEALTHCHECK is not known here and Kubernetes ignores it",
            );
            return;
        };
        let retries =
            i32::try_from(check.retries.unwrap_or(DEFAULT_RETRIES).max(1)).unwrap_or(i32::MAX);
        let probe = Probe {
            exec: Some(ExecAction {
                command: Some(command),
            }),
            period_seconds: Some(seconds(check.interval.unwrap_or(DEFAULT_INTERVAL)).max(1)),
            timeout_seconds: Some(seconds(check.timeout.unwrap_or(DEFAULT_TIMEOUT)).max(1)),
            failure_threshold: Some(retries),
            ..Probe::default()
        };
        if let Some(start_period) = check.start_period.filter(|d| d.as_nanos() > 0) {
            let interval = seconds(check.start_interval.unwrap_or(DEFAULT_START_INTERVAL)).max(1);
            let attempts = (seconds(start_period) + interval - 1) / interval;
            container.startup_probe = Some(Probe {
                period_seconds: Some(interval),
                failure_threshold: Some(attempts.max(1).saturating_add(retries)),
                ..probe.clone()
            });
        }
        container.readiness_probe = Some(probe.clone());
        container.liveness_probe = Some(probe);
    }
}

/// The probe's command: `CMD` runs its arguments, `CMD-SHELL` its string in `/bin/sh -c`.
fn probe_command(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        (kind, rest) if kind == "CMD-SHELL" && !rest.is_empty() => Some(vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            rest.join(" "),
        ]),
        _ => None,
    }
}
