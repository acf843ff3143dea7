//! The command line as the user types it (clap derive): global options that docker compose has, and one
//! subcommand per verb. Resolving these into a project happens in `project::options`, not here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::output::progress::ProgressMode;

/// A Compose-style multi-container orchestrator with its own embedded container runtime.
#[derive(Debug, Parser)]
#[command(name = "rcompose", version, about, max_term_width = 110)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that every command accepts, with docker compose's names; as with docker compose they come
/// before the command (`rcompose -f a.yaml -p demo up`), which keeps `-f` free for `logs -f`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOptions {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", id = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable; default: `.env` in the project directory)
    #[arg(long = "env-file", id = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", id = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// State directory for images, containers, networks and volumes
    #[arg(long, env = "RCOMPOSE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Control when to print ANSI control characters
    #[arg(long, value_enum, default_value_t = AnsiMode::Auto, env = "COMPOSE_ANSI")]
    pub ansi: AnsiMode,
    /// Set the type of progress output
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, env = "COMPOSE_PROGRESS")]
    pub progress: ProgressMode,
}

/// When colours and other ANSI sequences are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnsiMode {
    Never,
    Always,
    Auto,
}

/// The verbs. Only commands that work exist.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(commands::config::ConfigArgs),
    /// Create and start containers
    Up(commands::up::UpArgs),
    /// Build or rebuild services
    Build(commands::build::BuildArgs),
    /// Creates containers for a service (without starting them)
    Create(commands::up::CreateArgs),
    /// Scale services
    Scale(commands::up::ScaleArgs),
    /// Stop and remove containers (and volumes with -v)
    Down(commands::down::DownArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// List running compose projects
    Ls(commands::ls::LsArgs),
    /// Print the public port for a port binding
    Port(commands::port::PortArgs),
    /// View output from containers
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::exec::ExecArgs),
    /// Run a one-off command on a service
    Run(commands::run::RunArgs),
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(commands::attach::AttachArgs),
    /// Display the running processes
    Top(commands::top::TopArgs),
    /// Block until containers of all (or specified) services stop, then print their exit codes
    Wait(commands::wait::WaitArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::stats::StatsArgs),
    /// Receive real time events from containers
    Events(commands::events::EventsArgs),
    /// Pause services
    Pause(commands::pause::PauseArgs),
    /// Unpause services
    Unpause(commands::pause::PauseArgs),
    /// Start services
    Start(commands::control::StartArgs),
    /// Stop services
    Stop(commands::control::StopArgs),
    /// Restart service containers
    Restart(commands::control::RestartArgs),
    /// Force stop service containers
    Kill(commands::control::KillArgs),
    /// Removes stopped service containers
    Rm(commands::control::RmArgs),
    /// List images used by the created containers
    Images(commands::images::ImagesArgs),
    /// Show the rcompose version information
    Version(commands::version::VersionArgs),
    /// Pull service images
    Pull(commands::pull::PullArgs),
    /// Push service images
    Push(commands::push::PushArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Manage images (import, load, save, ls, inspect, rm, tag, prune, history, pull, push)
    Image(commands::image::ImageArgs),
    /// Manage the build cache (prune)
    Builder(commands::builder::BuilderArgs),
    /// Manage volumes (create, ls, inspect, rm, prune)
    Volume(commands::volume::VolumeArgs),
    /// List the project's volumes
    Volumes(commands::volume::VolumesArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(commands::watch::WatchArgs),
    /// Convert the project into another platform's objects (kubernetes)
    #[cfg(feature = "kubernetes")]
    Convert(commands::convert::ConvertArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's flags are consistent (no clashing short options, ...).
    #[test]
    fn command_line_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
