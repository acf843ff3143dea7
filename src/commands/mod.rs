//! One module per verb. Each is thin: it parses its flags, loads the project, calls the layer that does
//! the work and hands the result to `output`.

pub mod attach;
pub mod build;
pub mod builder;
pub mod config;
pub mod control;
#[cfg(feature = "kubernetes")]
pub mod convert;
pub mod cp;
pub mod down;
pub mod events;
pub mod exec;
pub mod image;
pub mod images;
pub mod login;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod port;
pub mod port_check;
pub mod ps;
pub mod pull;
pub mod push;
pub mod run;
pub mod scope;
pub mod stats;
pub mod time_filter;
pub mod top;
pub mod up;
pub mod version;
pub mod volume;
pub mod wait;
pub mod watch;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command, GlobalOptions};
use crate::project;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    crate::output::configure(global.ansi);
    crate::output::progress::configure(global.progress);
    match cli.command {
        Command::Config(args) => config::run(&global, args),
        Command::Up(args) => up::run(&global, args),
        Command::Build(args) => build::run(&global, args),
        Command::Builder(args) => builder::run(&global, args),
        Command::Create(args) => up::create(&global, args),
        Command::Scale(args) => up::scale(&global, args),
        Command::Down(args) => down::run(&global, args),
        Command::Ps(args) => ps::run(&global, args),
        Command::Ls(args) => ls::run(&global, args),
        Command::Images(args) => images::run(&global, args),
        Command::Port(args) => port::run(&global, args),
        Command::Logs(args) => logs::run(&global, args),
        Command::Exec(args) => exec::run(&global, args),
        Command::Run(args) => run::run(&global, args),
        Command::Attach(args) => attach::run(&global, args),
        Command::Top(args) => top::run(&global, args),
        Command::Wait(args) => wait::run(&global, args),
        Command::Cp(args) => cp::run(&global, args),
        Command::Stats(args) => stats::run(&global, args),
        Command::Events(args) => events::run(&global, args),
        Command::Pause(args) => pause::pause(&global, args),
        Command::Unpause(args) => pause::unpause(&global, args),
        Command::Start(args) => control::start(&global, args),
        Command::Stop(args) => control::stop(&global, args),
        Command::Restart(args) => control::restart(&global, args),
        Command::Kill(args) => control::kill(&global, args),
        Command::Rm(args) => control::rm(&global, args),
        Command::Version(args) => version::run(args),
        Command::Image(args) => image::run(&global, args),
        Command::Pull(args) => pull::run(&global, args),
        Command::Push(args) => push::run(&global, args),
        Command::Login(args) => login::login(&global, args),
        Command::Logout(args) => login::logout(args),
        Command::Volume(args) => volume::run(&global, args),
        Command::Volumes(args) => volume::volumes(&global, args),
        Command::Watch(args) => watch::run(&global, args),
        #[cfg(feature = "kubernetes")]
        Command::Convert(args) => convert::run(&global, args),
    }
}

/// What `project::load` needs, from the global options, the process environment and the working
/// directory. `services` are the services named on the command line.
pub fn load_options(
    global: &GlobalOptions,
    services: &[String],
    interpolate: bool,
) -> anyhow::Result<project::LoadOptions> {
    let working_dir = std::env::current_dir().context("cannot determine the current directory")?;
    let stdin = if global.files.iter().any(|f| f.as_os_str() == "-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read the compose file from standard input")?;
        Some(text)
    } else {
        None
    };
    Ok(project::LoadOptions {
        files: global.files.clone(),
        project_name: global.project_name.clone(),
        project_directory: global.project_directory.clone(),
        env_files: global.env_files.clone(),
        profiles: global.profiles.clone(),
        services: services.to_vec(),
        working_dir,
        shell: std::env::vars().collect(),
        stdin,
        interpolate,
    })
}
