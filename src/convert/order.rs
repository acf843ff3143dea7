//! `depends_on` as init containers, so the start order holds in the cluster. A dependency with a
//! ClusterIP Service is waited for by connecting to its first TCP port (a Service routes only to
//! ready pods, and readiness is the healthcheck, so this is `service_healthy`; without a healthcheck
//! a started pod is ready, which is `service_started`). One with a headless Service is waited for
//! by name: headless DNS answers only with ready pods. `service_completed_successfully` waits for
//! the dependency's Job with `kubectl wait`, through a ServiceAccount allowed to read Jobs.
//! `pre_start` hooks follow the waits, as init containers too.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, SecurityContext, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::container::service_ports;
use crate::project::model::{Condition, Service};

/// The image of the init containers that wait by name or port (`sh`, `nc`, `nslookup`).
pub const WAIT_IMAGE: &str = "busybox:1.37";
/// The image of the init containers that wait for a Job.
pub const KUBECTL_IMAGE: &str = "registry.k8s.io/kubectl:v1.34.1";
/// The ServiceAccount, Role and RoleBinding that let a pod wait for Jobs.
const JOB_WAITER: &str = "rcompose-job-waiter";

impl super::Converter<'_> {
    pub(super) fn dependency_waits(&mut self, name: &str, service: &Service, pod: &mut PodSpec) {
        let mut waits = Vec::new();
        for (dependency, depends_on) in &service.depends_on {
            // A sidecar's host runs in the same pod: there is nothing to wait for.
            if self.sidecar_host(service) == Some(dependency.as_str()) {
                continue;
            }
            let Some(target) = self.project.services.get(dependency) else {
                self.report.not_carried(
                    name,
                    "depends_on",
                    &format!(
                        "{dependency} is not converted (not enabled), so it is not waited for"
                    ),
                );
                continue;
            };
            let k8s = self.names.service(dependency).to_string();
            if depends_on.restart {
                self.report.not_carried(
                    name,
                    "depends_on",
                    &format!(
                        "{dependency}: restart: pods are not restarted when a dependency is updated"
                    ),
                );
            }
            if target.provider.is_some() {
                continue;
            }
            if depends_on.condition == Condition::ServiceCompletedSuccessfully {
                pod.service_account_name = Some(JOB_WAITER.to_string());
                waits.push(Container {
                    name: format!("wait-for-{k8s}"),
                    image: Some(KUBECTL_IMAGE.to_string()),
                    args: Some(vec![
                        "wait".to_string(),
                        "--for=condition=complete".to_string(),
                        "--timeout=-1s".to_string(),
                        format!("job/{k8s}"),
                    ]),
                    ..Container::default()
                });
                continue;
            }
            if depends_on.condition == Condition::ServiceHealthy
                && target
                    .healthcheck
                    .as_ref()
                    .is_none_or(|h| h.test.is_empty())
            {
                self.report.changed(
                    name,
                    "depends_on",
                    &format!("{dependency}: service_healthy waits until it runs: its health check is the image's, which Kubernetes ignores"),
                );
            }
            if target.network_mode.as_deref() == Some("none") {
                self.report.not_carried(
                    name,
                    "depends_on",
                    &format!("{dependency} has no network to be waited for on"),
                );
                continue;
            }
            let tcp = service_ports(target)
                .into_iter()
                .find(|(_, protocol)| protocol == "TCP")
                .map(|(port, _)| port);
            let script = match tcp {
                Some(port) if !self.is_headless(target) => format!(
                    "until nc -z -w 2 {k8s} {port}; do echo waiting for {k8s}:{port}; sleep 2; done"
                ),
                _ => format!(
                    "domain=$(sed -n 's/^search \\([^ ]*\\).*/\\1/p' /etc/resolv.conf); until nslookup {k8s}.$domain >/dev/null 2>&1; do echo waiting for {k8s}; sleep 2; done"
                ),
            };
            waits.push(Container {
                name: format!("wait-for-{k8s}"),
                image: Some(WAIT_IMAGE.to_string()),
                command: Some(vec!["/bin/sh".to_string(), "-c".to_string(), script]),
                ..Container::default()
            });
        }
        waits.extend(self.pre_start_hooks(name, service));
        if !waits.is_empty() {
            pod.init_containers = Some(waits);
        }
    }

    /// `pre_start` hooks as init containers after the waits, in the hook's image (default: the
    /// service's). An init container runs once per pod, so once per replica.
    fn pre_start_hooks(&mut self, name: &str, service: &Service) -> Vec<Container> {
        let image = service
            .image
            .clone()
            .unwrap_or_else(|| format!("{}-{name}", self.project.name));
        let replicas = super::workload::replicas(service);
        let mut hooks = Vec::new();
        for (index, hook) in service.pre_start.iter().enumerate() {
            if !hook.per_replica && replicas > 1 {
                self.report.changed(
                    name,
                    "pre_start",
                    &format!(
                        "hook {index} runs in every pod ({replicas} replicas), not once per service"
                    ),
                );
            }
            let user = hook.user.as_deref().and_then(|u| u.parse::<i64>().ok());
            if hook.user.is_some() && user.is_none() {
                self.report.not_carried(
                    name,
                    "pre_start",
                    &format!(
                        "hook {index}: user {:?} (Kubernetes takes numeric ids)",
                        hook.user.as_deref().unwrap_or_default()
                    ),
                );
            }
            let security_context = (hook.privileged || user.is_some()).then(|| SecurityContext {
                privileged: hook.privileged.then_some(true),
                run_as_user: user,
                ..SecurityContext::default()
            });
            let env: Vec<EnvVar> = hook
                .environment
                .iter()
                .filter_map(|(key, value)| {
                    value.as_ref().map(|value| EnvVar {
                        name: key.clone(),
                        value: Some(value.clone()),
                        value_from: None,
                    })
                })
                .collect();
            hooks.push(Container {
                name: format!("pre-start-{index}"),
                image: Some(hook.image.clone().unwrap_or_else(|| image.clone())),
                args: hook.command.clone().filter(|c| !c.is_empty()),
                env: (!env.is_empty()).then_some(env),
                working_dir: hook.working_dir.clone(),
                security_context,
                ..Container::default()
            });
        }
        hooks
    }

    /// The ServiceAccount, Role and RoleBinding the Job waits run as, when there is one.
    pub(super) fn dependency_wait_access(&mut self) -> anyhow::Result<()> {
        let waits_for_jobs = self.project.services.values().any(|service| {
            service
                .depends_on
                .values()
                .any(|d| d.condition == Condition::ServiceCompletedSuccessfully)
        });
        if !waits_for_jobs {
            return Ok(());
        }
        let namespace = self
            .options
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        if self.options.namespace.is_none() {
            self.report.project_changed(
                &format!("rolebinding {JOB_WAITER}"),
                "namespace",
                "its subject is in namespace \"default\" (pass --namespace, or let kustomize's namespace set it)",
            );
        }
        let meta = self.meta(JOB_WAITER, Default::default());
        self.push(
            ServiceAccount {
                metadata: meta.clone(),
                ..ServiceAccount::default()
            },
            "depends_on (service_completed_successfully)",
        )?;
        self.push(
            Role {
                metadata: meta.clone(),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["batch".to_string()]),
                    resources: Some(vec!["jobs".to_string()]),
                    verbs: vec!["get".to_string(), "list".to_string(), "watch".to_string()],
                    ..PolicyRule::default()
                }]),
            },
            "depends_on (service_completed_successfully)",
        )?;
        self.push(
            RoleBinding {
                metadata: meta,
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".to_string()),
                    kind: "Role".to_string(),
                    name: JOB_WAITER.to_string(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".to_string(),
                    name: JOB_WAITER.to_string(),
                    namespace: Some(namespace),
                    api_group: None,
                }]),
            },
            "depends_on (service_completed_successfully)",
        )
    }
}
