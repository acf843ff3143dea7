//! `rcompose port SERVICE PRIVATE_PORT`: the host address a container port is published on, as the
//! container's monitor bound it (so an ephemeral port shows the kernel's choice), printed as docker
//! compose does: `HOST_IP:PORT`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use runtime::network::proxy::Protocol;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The service
    service: String,
    /// The container's port
    private_port: u16,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// Index of the container if the service has multiple replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
}

pub fn run(global: &GlobalOptions, args: PortArgs) -> anyhow::Result<ExitCode> {
    let protocol = match args.protocol.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => bail!("invalid protocol {other:?}: use tcp or udp"),
    };
    let scope = Scope::open(global, &[])?;
    scope.check_services(std::slice::from_ref(&args.service))?;
    let index = args.index.max(1);
    let containers = scope.containers(std::slice::from_ref(&args.service), false)?;
    let Some((observed, info)) = containers
        .iter()
        .find(|(observed, info)| observed.number == index && info.state.status.is_active())
    else {
        bail!(
            "service {:?} is not running container #{index}",
            args.service
        );
    };
    let published = scope
        .engine
        .containers
        .published_ports(&info.record.id)
        .with_context(|| format!("cannot read the ports of {}", observed.name))?;
    let Some(port) = published
        .iter()
        .find(|p| p.container_port == args.private_port && p.protocol == protocol)
    else {
        bail!(
            "no port {}/{protocol} for container {}",
            args.private_port,
            observed.name
        );
    };
    output::stdout(&format!("{}:{}\n", port.host_ip, port.host_port))?;
    Ok(ExitCode::SUCCESS)
}
