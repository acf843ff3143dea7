//! Carrying out resolved stages (see [`super::resolve`]) on this runtime: each `RUN` runs in a
//! container of its own (no network, the stage's environment, user and working directory) on the
//! layers so far, its writable layer becomes a new layer (see [`super::diff`]), and the image
//! config follows the metadata instructions; the last stage becomes an image in the store.
//!
//! So far: `RUN` (shell and exec forms, heredocs: a script alone, run by the shell or by its own
//! `#!`, or fed to the command; `--mount` of binds, caches, tmpfs and secrets, see
//! [`super::mounts`]; `--network=none|default|host`), `COPY` from the build context (see
//! [`super::copy`]) and `--from` another stage or an image, `ENV`, `ARG`, `LABEL`, `WORKDIR`,
//! `USER`, `CMD`, `ENTRYPOINT`, `SHELL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`, `HEALTHCHECK` (docker's
//! config field, see `image::docker_config`), `ADD` of local files and archives (see
//! [`super::copy`]) and of URLs (see [`super::fetch`]), `ONBUILD` (triggers kept in the image's `OnBuild`, run by `resolve` in a stage
//! built on it).
//!
//! The cache: every state has a key, the hash of its parent's key (the base image's id at the
//! start) and of the step as expanded; a `RUN` adds its command, environment, user and directory,
//! a `COPY` the digest of what it copies (contents, modes, owners and paths count, times do not;
//! contents hashed once and then known by `stat`, see [`super::hashes`]). A step whose key the store remembers, with its layer still
//! there, is not run again: a changed file re-runs its `COPY` and what follows, nothing before.
//! Times in the image (its creation, its history) are those of the layers' first making, kept
//! with the cache, so a rebuild whose steps all come from the cache makes the very same image,
//! and so does one whose changed steps gave the same layers (a comment edited in a source the
//! final stage copies only the binary of): nothing downstream is recreated.
//! Base images come from the store (pulling is the registry's job).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oci_spec::image::{
    Arch, Config, History, HistoryBuilder, ImageConfiguration, Os, RootFsBuilder,
};

use super::bridge::{BuildBridge, StepBridge};
use super::copy::{Context, CopyRequest, copy_digest, write_copy_layer};
use super::diff;
use super::fetch;
use super::hashes::FileHashes;
use super::instructions::{CommandKind, CommandLine, Health, Source};
use super::mounts::{self, MountSources, RunMount};
use super::resolve::{Base, ResolvedStage, Step};
use crate::container::{ContainerSpec, NetworkMode, Rootfs, Runtime};
use crate::image::compress::Compression;
use crate::image::digest::Digest;
use crate::image::docker_config::{DockerConfig, Healthcheck as HealthConfig};
use crate::image::{AddedLayer, CachedStep, Image, ImageRef, ImageStore};
use crate::network::Attachment;

/// Why a build failed, and at which line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("line {line}: {message}")]
    Step { line: usize, message: String },
    #[error("line {line}: RUN exited with code {code}{}", tail(output))]
    RunFailed {
        line: usize,
        code: i32,
        /// The last lines of the step's output.
        output: Vec<String>,
    },
    #[error(transparent)]
    Image(#[from] crate::image::Error),
    #[error(transparent)]
    Container(#[from] crate::container::Error),
    /// Ctrl-C (or SIGTERM) during the build: the running step was ended and removed.
    #[error("interrupted")]
    Interrupted,
}

fn tail(output: &[String]) -> String {
    if output.is_empty() {
        return String::new();
    }
    format!(":\n{}", output.join("\n"))
}

/// How many lines of a failed step's output the error keeps.
const FAILED_OUTPUT_LINES: usize = 20;

/// Paths a container's runtime makes as mount points when the image lacks them: empty, they are
/// the runtime's, not the step's, and stay out of the layer (as BuildKit leaves them out).
const MOUNT_STUBS: [&str; 8] = [
    "dev",
    "proc",
    "sys",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/host.conf",
    "sbin/docker-init",
];

/// The label of a `RUN` step's container: the build process that made it (`<pid>-<start time>`),
/// so that the next build removes one whose build was killed.
const STEP_OWNER: &str = "io.rcompose.build.step-of";

fn owner_tag() -> Result<String, Error> {
    let pid = std::process::id();
    let started = crate::sys::process::start_time(pid as i32).map_err(|error| {
        crate::container::Error::from(crate::store::IoError::new(
            "read the start time in",
            "/proc/self/stat",
            error,
        ))
    })?;
    Ok(format!("{pid}-{started}"))
}

/// The builder over one store and runtime.
pub struct Builder<'a> {
    pub store: &'a ImageStore,
    pub runtime: &'a Runtime,
    /// The build context `COPY` reads from (none: `COPY` is an error).
    pub context: Option<&'a Context>,
    pub settings: Settings,
}

/// What a build is asked for beyond its Dockerfile and context.
#[derive(Debug, Default)]
pub struct Settings {
    /// `SOURCE_DATE_EPOCH`: layer timestamps and the image's creation time.
    pub epoch: Option<i64>,
    /// Run every step, using no cached layer (`--no-cache`); what is built is still remembered.
    pub no_cache: bool,
    /// Labels added to the image's config (over the Dockerfile's).
    pub labels: BTreeMap<String, String>,
    /// The network of `RUN` steps.
    pub network: StepNetwork,
    /// `/etc/hosts` entries of `RUN` steps (`extra_hosts`): name, address.
    pub extra_hosts: Vec<(String, String)>,
    /// Size of `/dev/shm` in `RUN` steps, in bytes (0: 64 MiB).
    pub shm_size: u64,
    /// Contexts `COPY --from=<name>` and `RUN --mount=from=<name>` read by name
    /// (`additional_contexts`); a name here wins over a stage or image of that name.
    pub named_contexts: BTreeMap<String, Context>,
    /// Files `RUN --mount=type=secret,id=<id>` mounts, by id.
    pub secrets: BTreeMap<String, PathBuf>,
}

/// The network of build steps.
#[derive(Debug, Clone, Default)]
pub enum StepNetwork {
    /// Loopback only: steps reach nothing outside.
    #[default]
    None,
    /// The host's network namespace (`network: host`).
    Host,
    /// An endpoint on a bridge made for the build (docker's default for builds: a way out
    /// through the bridge's NAT, when asked for; see [`super::bridge`]).
    Bridge(BuildBridge),
}

/// What a step may read: the stages of the build and those built so far, and the hashes of files
/// known from earlier builds.
struct Sources<'a> {
    stages: &'a [ResolvedStage],
    built: &'a HashMap<usize, State>,
    hashes: &'a FileHashes,
    /// The build's bridge, when steps are bridged.
    bridge: Option<&'a StepBridge<'a>>,
}

/// What the build is doing, for progress output.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A step begins (`stage` is the stage's index in the Dockerfile).
    Started { stage: usize, step: &'a Step },
    /// A line a `RUN` step printed (without its newline).
    Output {
        stage: usize,
        step: &'a Step,
        line: &'a str,
    },
    /// A step is done; `cached` when its layer came from the build cache.
    Done {
        stage: usize,
        step: &'a Step,
        cached: bool,
        elapsed: Duration,
    },
}

/// What a stage's thread tells the build: [`Progress`] with the step by its position in the
/// stage, and the stage's end.
enum StageEvent {
    Started {
        stage: usize,
        step: usize,
    },
    Output {
        stage: usize,
        step: usize,
        line: String,
    },
    Done {
        stage: usize,
        step: usize,
        cached: bool,
        elapsed: Duration,
    },
    Finished(usize, Box<Result<State, Error>>),
}

/// A layer of the image being built.
#[derive(Debug, Clone)]
struct LayerRef {
    blob: Digest,
    size: u64,
    compression: Compression,
    diff_id: Digest,
    dir: PathBuf,
}

/// A stage while it is built.
#[derive(Debug, Clone)]
struct State {
    layers: Vec<LayerRef>,
    config: Config,
    history: Vec<History>,
    /// The shell of the shell form (`SHELL`, or the base image's; default `/bin/sh -c`).
    shell: Vec<String>,
    /// The cache key of the state: the base and every step so far (see [`Builder::cache_key`]).
    key: String,
    /// Docker's fields of the config (healthcheck, `ONBUILD` triggers, `SHELL`), not in the OCI
    /// config.
    docker: DockerConfig,
    /// When the state's newest layer was first made (seconds since the epoch; the base image's
    /// creation before any): the time of its history entries and of the image, so that a
    /// rebuild from the cache makes the same image.
    time: i64,
}

fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

impl Builder<'_> {
    /// Builds `stages` (dependencies first, the target last, as [`super::resolve::resolve`] gives
    /// them) and stores the target as an image named `name`. `progress` hears of each step as it
    /// starts, prints and ends.
    pub fn build(
        &self,
        stages: &[ResolvedStage],
        name: Option<&ImageRef>,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Image, Error> {
        // Between steps, the layers made so far are held by the cache alone: keep collections off.
        let _guard = self.store.build_guard()?;
        self.remove_abandoned_steps()?;
        let hashes = FileHashes::open(self.store.root().join("filehashes"));
        let bridge = match &self.settings.network {
            StepNetwork::Bridge(bridge) => Some(StepBridge::new(bridge)),
            _ => None,
        };
        let result = self.build_stages(stages, &hashes, bridge.as_ref(), progress);
        drop(bridge);
        // Losing the table costs only reading the files again next time.
        let _ = hashes.save();
        let mut built = result?;
        let target = stages
            .last()
            .and_then(|stage| built.remove(&stage.index))
            .ok_or_else(|| Error::Step {
                line: 1,
                message: "nothing to build".into(),
            })?;
        self.commit(target, name)
    }

    /// Builds every stage, each as soon as the stages it needs are built: independent stages at
    /// the same time, on threads of their own. Their progress reaches `progress` here, in order
    /// per stage. After a failure no stage starts; those running finish; the first error is
    /// returned.
    fn build_stages(
        &self,
        stages: &[ResolvedStage],
        hashes: &FileHashes,
        bridge: Option<&StepBridge<'_>>,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<HashMap<usize, State>, Error> {
        let position: HashMap<usize, usize> = stages
            .iter()
            .enumerate()
            .map(|(position, stage)| (stage.index, position))
            .collect();
        let mut built: HashMap<usize, State> = HashMap::new();
        let mut started = vec![false; stages.len()];
        let mut running = 0;
        let mut failure: Option<Error> = None;
        std::thread::scope(|scope| {
            let (sender, events) = std::sync::mpsc::channel::<StageEvent>();
            loop {
                if failure.is_none() {
                    for (at, stage) in stages.iter().enumerate() {
                        let ready = stage
                            .needs
                            .iter()
                            .all(|need| built.contains_key(need) || !position.contains_key(need));
                        if started[at] || !ready {
                            continue;
                        }
                        started[at] = true;
                        running += 1;
                        // What the stage reads of the stages before it.
                        let inputs: HashMap<usize, State> = stage
                            .needs
                            .iter()
                            .filter_map(|need| Some((*need, built.get(need)?.clone())))
                            .collect();
                        let sender = sender.clone();
                        scope.spawn(move || {
                            let report = |event: StageEvent| {
                                let _ = sender.send(event);
                            };
                            let sources = Sources {
                                stages,
                                built: &inputs,
                                hashes,
                                bridge,
                            };
                            let result = self.build_stage(stage, &sources, &report);
                            report(StageEvent::Finished(stage.index, Box::new(result)));
                        });
                    }
                }
                if running == 0 {
                    break;
                }
                let Ok(event) = events.recv() else { break };
                match event {
                    StageEvent::Started { stage, step } => progress(Progress::Started {
                        stage,
                        step: &stages[position[&stage]].steps[step],
                    }),
                    StageEvent::Output { stage, step, line } => progress(Progress::Output {
                        stage,
                        step: &stages[position[&stage]].steps[step],
                        line: &line,
                    }),
                    StageEvent::Done {
                        stage,
                        step,
                        cached,
                        elapsed,
                    } => progress(Progress::Done {
                        stage,
                        step: &stages[position[&stage]].steps[step],
                        cached,
                        elapsed,
                    }),
                    StageEvent::Finished(index, result) => {
                        running -= 1;
                        match *result {
                            Ok(state) => {
                                built.insert(index, state);
                            }
                            Err(error) => {
                                failure.get_or_insert(error);
                            }
                        }
                    }
                }
            }
        });
        match failure {
            Some(error) => Err(error),
            None if built.len() < stages.len() => Err(Error::Step {
                line: 1,
                message: "stages depend on each other in a cycle".into(),
            }),
            None => Ok(built),
        }
    }

    /// Builds one stage on the states of the stages it needs (`inputs`), telling `report` of each
    /// step.
    fn build_stage(
        &self,
        stage: &ResolvedStage,
        sources: &Sources<'_>,
        report: &dyn Fn(StageEvent),
    ) -> Result<State, Error> {
        let mut state = match &stage.base {
            Base::Scratch => State {
                layers: Vec::new(),
                config: Config::default(),
                history: Vec::new(),
                shell: default_shell(),
                key: "scratch".into(),
                docker: DockerConfig::default(),
                time: 0,
            },
            Base::Stage(index) => sources
                .built
                .get(index)
                .cloned()
                .ok_or_else(|| Error::Step {
                    line: stage.steps.first().map_or(1, |s| s.line),
                    message: format!("stage {index} was not built before the stage on it"),
                })?,
            Base::Image(reference) => self.base(reference)?,
        };
        // SOURCE_DATE_EPOCH changes what every step writes.
        state.key = Self::cache_key(&state.key, &format!("epoch {:?}", self.settings.epoch));
        for (at, step) in stage.steps.iter().enumerate() {
            let begin = Instant::now();
            report(StageEvent::Started {
                stage: stage.index,
                step: at,
            });
            let mut output = |line: &str| {
                report(StageEvent::Output {
                    stage: stage.index,
                    step: at,
                    line: line.to_owned(),
                })
            };
            if crate::sys::interrupt::interrupted() {
                return Err(Error::Interrupted);
            }
            let cached = self.step(&mut state, step, sources, &mut output)?;
            report(StageEvent::Done {
                stage: stage.index,
                step: at,
                cached,
                elapsed: begin.elapsed(),
            });
        }
        Ok(state)
    }

    fn base(&self, reference: &str) -> Result<State, Error> {
        let image = self.store.image(reference)?;
        let dirs = image.layer_dirs().ok_or_else(|| Error::Step {
            line: 1,
            message: format!("the layers of {reference} are not unpacked"),
        })?;
        let layers = image
            .layers
            .iter()
            .zip(dirs)
            .map(|(layer, dir)| LayerRef {
                blob: layer.blob.clone(),
                size: layer.blob_size,
                compression: compression_of(&layer.media_type),
                diff_id: layer.diff_id.clone(),
                dir,
            })
            .collect();
        Ok(State {
            layers,
            config: image.config.config().clone().unwrap_or_default(),
            history: image.config.history().clone().unwrap_or_default(),
            shell: if image.docker.shell.is_empty() {
                default_shell()
            } else {
                image.docker.shell.clone()
            },
            key: image.id.to_string(),
            // The base's triggers run in the stage (see `resolve`); its image does not keep them.
            docker: DockerConfig {
                on_build: Vec::new(),
                ..image.docker.clone()
            },
            time: image
                .config
                .created()
                .as_deref()
                .and_then(crate::time::parse_rfc3339)
                .unwrap_or(0),
        })
    }

    /// Carries out one step; true if its layer came from the cache.
    fn step(
        &self,
        state: &mut State,
        step: &Step,
        sources: &Sources<'_>,
        output: &mut dyn FnMut(&str),
    ) -> Result<bool, Error> {
        let line = step.line;
        // An ARG's value counts where it is used (a RUN's environment, a word it expands in), not at
        // its declaration: changing a build arg leaves the steps between cached, as BuildKit does.
        let keyed = match &step.kind {
            CommandKind::Arg(args) => {
                let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                format!("Arg({names:?})")
            }
            kind => format!("{kind:?}"),
        };
        state.key = Self::cache_key(&state.key, &keyed);
        let config = &mut state.config;
        let created_by = match &step.kind {
            CommandKind::Run { .. } => return self.run(state, step, sources, output),
            CommandKind::Env(pairs) => {
                let mut env = config.env().clone().unwrap_or_default();
                for pair in pairs {
                    set_env(&mut env, &pair.key, &pair.value);
                }
                config.set_env(Some(env));
                format!("ENV {}", pairs_text(pairs))
            }
            CommandKind::Arg(args) => {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| match &a.default {
                        Some(value) => format!("{}={value}", a.name),
                        None => a.name.clone(),
                    })
                    .collect();
                format!("ARG {}", words.join(" "))
            }
            CommandKind::Label(pairs) => {
                let mut labels = config.labels().clone().unwrap_or_default();
                for pair in pairs {
                    labels.insert(pair.key.clone(), pair.value.clone());
                }
                config.set_labels(Some(labels));
                format!("LABEL {}", pairs_text(pairs))
            }
            CommandKind::Workdir(dir) => {
                config.set_working_dir(Some(dir.clone()));
                return self.workdir(state, step, dir);
            }
            CommandKind::User(user) => {
                config.set_user(Some(user.clone()));
                format!("USER {user}")
            }
            CommandKind::Cmd(command) => {
                let args = command_args(command, &state.shell);
                config.set_cmd(Some(args.clone()));
                format!("CMD {}", json(&args))
            }
            CommandKind::Entrypoint(command) => {
                let args = command_args(command, &state.shell);
                config.set_entrypoint(Some(args.clone()));
                // A new entrypoint resets an inherited CMD (docker's rule).
                config.set_cmd(None);
                format!("ENTRYPOINT {}", json(&args))
            }
            CommandKind::Shell(shell) => {
                state.shell = shell.clone();
                state.docker.shell = shell.clone();
                format!("SHELL {}", json(shell))
            }
            CommandKind::Expose(ports) => {
                let mut exposed = config.exposed_ports().clone().unwrap_or_default();
                for port in ports {
                    let port = if port.contains('/') {
                        port.clone()
                    } else {
                        format!("{port}/tcp")
                    };
                    if !exposed.contains(&port) {
                        exposed.push(port);
                    }
                }
                config.set_exposed_ports(Some(exposed));
                format!("EXPOSE {}", ports.join(" "))
            }
            CommandKind::Volume(volumes) => {
                let mut all = config.volumes().clone().unwrap_or_default();
                for volume in volumes {
                    if !all.contains(volume) {
                        all.push(volume.clone());
                    }
                }
                config.set_volumes(Some(all));
                format!("VOLUME {}", json(volumes))
            }
            CommandKind::StopSignal(signal) => {
                config.set_stop_signal(Some(signal.clone()));
                format!("STOPSIGNAL {signal}")
            }
            CommandKind::Maintainer(name) => format!("MAINTAINER {name}"),
            CommandKind::Copy {
                sources: copy_sources,
                dest,
                options,
            }
            | CommandKind::Add {
                sources: copy_sources,
                dest,
                options,
            } => {
                let add = matches!(step.kind, CommandKind::Add { .. });
                // `ADD <url>`: downloaded first, into scratch space that goes with `scratch`.
                let mut scratch = mounts::Prepared::default();
                let mut fetched = Vec::new();
                for source in copy_sources.iter().filter(|_| add) {
                    let Source::Path(url) = source else { continue };
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        continue;
                    }
                    let fail = |message: String| Error::Step { line, message };
                    let into = scratch
                        .scratch_dir(self.store.root())
                        .map_err(fail)?
                        .join("download");
                    let file =
                        fetch::download(url, &into, options.checksum.as_deref()).map_err(fail)?;
                    fetched.push((url.clone(), file, into));
                }
                let request = CopyRequest {
                    sources: copy_sources,
                    dest,
                    workdir: &step.workdir,
                    options,
                    add,
                    fetched: &fetched,
                };
                let from = match &options.from {
                    Some(from) => Some(self.copy_source(from, sources, line)?),
                    None => None,
                };
                return self.copy(state, step, &request, from, sources.hashes);
            }
            CommandKind::Healthcheck(health) => {
                let check =
                    health_config(health).map_err(|message| Error::Step { line, message })?;
                let words = json(&check.test);
                state.docker.healthcheck = Some(check);
                format!("HEALTHCHECK {words}")
            }
            CommandKind::Onbuild(trigger) => {
                state.docker.on_build.push(trigger.clone());
                format!("ONBUILD {trigger}")
            }
        };
        let created = self.time_of(state);
        state.history.push(history(created_by, true, created));
        Ok(false)
    }

    /// The key of a state: `parent` (the base image's id or the previous state's key) and what the
    /// step adds (the step as expanded, and what else decides its result), hashed.
    fn cache_key(parent: &str, step: &str) -> String {
        Digest::of(format!("{parent}\n{step}").as_bytes())
            .hex()
            .to_owned()
    }

    /// The time of what a step adds to `state`: `SOURCE_DATE_EPOCH`, else the state's.
    fn time_of(&self, state: &State) -> i64 {
        self.settings.epoch.unwrap_or(state.time)
    }

    /// The cached layer of the current state's step and when it was made, unless `--no-cache`.
    fn cached(&self, state: &State) -> Option<(CachedStep, i64)> {
        if self.settings.no_cache {
            return None;
        }
        self.store.cached_step(&state.key)
    }

    /// Adds a step's layer (or none) to the state: one the cache had (made at `cached`), or one
    /// made now, which the cache remembers for the key. The state's time becomes the layer's.
    fn add_layer(
        &self,
        state: &mut State,
        layer: Option<AddedLayer>,
        cached: Option<i64>,
    ) -> Result<(), Error> {
        state.time = match cached {
            Some(time) => time,
            None => {
                let now = crate::time::now_unix();
                self.store
                    .remember_step(&state.key, layer.as_ref().map(|l| &l.digest), now)?;
                now
            }
        };
        if let Some(added) = layer {
            state.layers.push(LayerRef {
                blob: added.digest.clone(),
                diff_id: added.digest,
                size: added.size,
                compression: Compression::None,
                dir: added.dir,
            });
        }
        Ok(())
    }
}

impl Builder<'_> {
    /// Runs a `RUN` step in a container on the layers so far and adds what it changed as a layer
    /// (or takes the layer from the cache: true).
    fn run(
        &self,
        state: &mut State,
        step: &Step,
        sources: &Sources<'_>,
        output: &mut dyn FnMut(&str),
    ) -> Result<bool, Error> {
        let CommandKind::Run {
            command,
            heredocs,
            mounts,
            network,
            ..
        } = &step.kind
        else {
            unreachable!("run is called for RUN steps");
        };
        let line = step.line;
        let fail = |message: String| Error::Step { line, message };
        if state.layers.is_empty() {
            return Err(fail(
                "RUN needs a root filesystem; the stage starts from scratch".into(),
            ));
        }
        let mut mounts: Vec<RunMount> = mounts
            .iter()
            .map(|spec| mounts::parse(spec))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        let script = |heredoc: &super::dockerfile::Heredoc| heredoc.text();
        let args = match (command, heredocs.as_slice()) {
            (command, []) => command_args(command, &state.shell),
            // `RUN <<EOF` alone: the heredoc is the script, run by the shell, or as a program of
            // its own when it starts with `#!`.
            (CommandLine::Shell(text), [heredoc]) if is_bare_heredoc(text) => {
                let body = script(heredoc);
                if body.starts_with("#!") {
                    mounts.push(RunMount::Script {
                        target: format!("/dev/pipes/{}", heredoc.name),
                        content: body,
                    });
                    vec![format!("/dev/pipes/{}", heredoc.name)]
                } else {
                    let mut args = state.shell.clone();
                    args.push(body);
                    args
                }
            }
            // A command with heredocs (`RUN cat <<EOF > file`): the shell reads them, as BuildKit
            // hands them over: the command line, then each content and its delimiter.
            (CommandLine::Shell(text), heredocs) => {
                let mut full = text.clone();
                for heredoc in heredocs {
                    full.push('\n');
                    full.push_str(&heredoc.content);
                    full.push_str(&heredoc.name);
                }
                let mut args = state.shell.clone();
                args.push(full);
                args
            }
            (CommandLine::Exec(_), _) => {
                return Err(fail(
                    "heredocs need the shell form of RUN (RUN cmd <<EOF), not the exec form".into(),
                ));
            }
        };
        let step_network = match network.as_deref() {
            None | Some("default") => self.settings.network.clone(),
            Some("none") => StepNetwork::None,
            Some("host") if matches!(self.settings.network, StepNetwork::Host) => StepNetwork::Host,
            Some("host") => {
                return Err(fail(
                    "RUN --network=host needs the build's network to be host (`network: host` under the service's build:, with the network.host entitlement)".into(),
                ));
            }
            Some(other) => {
                return Err(fail(format!(
                    "RUN --network={other}: none, default or host"
                )));
            }
        };
        let context_of = |from: &str| {
            self.copy_source(from, sources, line)
                .map_err(|e| e.to_string())
        };
        let prepared = mounts::prepare(
            &mounts,
            &MountSources {
                root: self.store.root(),
                context: self.context,
                from: &context_of,
                secrets: &self.settings.secrets,
                hashes: sources.hashes,
                workdir: &step.workdir,
            },
        )
        .map_err(fail)?;
        let user = state.config.user().clone().unwrap_or_default();
        let created_by = match command {
            CommandLine::Shell(text) => format!("RUN {} {text}", state.shell.join(" ")),
            CommandLine::Exec(items) => format!("RUN {}", json(items)),
        };
        // What decides the result besides the step: the command as run, its environment (ARGs
        // included), user and directory, the network, and what bind mounts show.
        state.key = Self::cache_key(
            &state.key,
            &format!(
                "{args:?} {:?} {user:?} {:?} {}\n{}",
                step.env,
                step.workdir,
                match step_network {
                    StepNetwork::None => "none",
                    StepNetwork::Host => "host",
                    StepNetwork::Bridge(_) => "bridge",
                },
                prepared.key
            ),
        );
        if let Some((cached, time)) = self.cached(state) {
            let layer = match cached {
                CachedStep::Layer(layer) => Some(layer),
                CachedStep::NoLayer => None,
            };
            let empty = layer.is_none();
            self.add_layer(state, layer, Some(time))?;
            let created = self.time_of(state);
            state.history.push(history(created_by, empty, created));
            return Ok(true);
        }
        let spec = ContainerSpec {
            rootfs: Rootfs::Layers(state.layers.iter().map(|l| l.dir.clone()).collect()),
            args: args.clone(),
            env: step.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: step.workdir.clone(),
            user,
            network: match step_network {
                StepNetwork::None => NetworkMode::None,
                StepNetwork::Host => NetworkMode::Host,
                StepNetwork::Bridge(_) => NetworkMode::Networks(vec![Attachment {
                    network: sources
                        .bridge
                        .ok_or_else(|| fail("no bridge for the step".into()))?
                        .name()
                        .map_err(|e| fail(format!("the build's network: {e}")))?,
                    ..Attachment::default()
                }]),
            },
            hosts: (!self.settings.extra_hosts.is_empty()).then(|| self.hosts_file()),
            shm_size: self.settings.shm_size,
            mounts: prepared.mounts.clone(),
            labels: BTreeMap::from([(STEP_OWNER.to_owned(), owner_tag()?)]),
            ..ContainerSpec::default()
        };
        let id = self.runtime.create(spec)?;
        let outcome = self.run_container(&id, line, output);
        let targets: Vec<&str> = prepared.mounts.iter().map(|m| m.target.as_str()).collect();
        let layer = match outcome {
            Ok(()) => self.capture(&id, &targets, &state.layers),
            Err(error) => Err(error),
        };
        self.runtime.remove(&id, true)?;
        let layer = layer?;
        let empty = layer.is_none();
        self.add_layer(state, layer, None)?;
        let created = self.time_of(state);
        state.history.push(history(created_by, empty, created));
        Ok(false)
    }

    /// Runs the step's container to its end, passing each line it prints to `output` as it comes.
    fn run_container(
        &self,
        id: &str,
        line: usize,
        output: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let mut log = crate::container::log::Tail::new(self.runtime.log_path(id));
        let mut last = std::collections::VecDeque::with_capacity(FAILED_OUTPUT_LINES);
        let mut relay = |log: &mut crate::container::log::Tail| {
            for entry in log.read_new() {
                let text = entry.log.strip_suffix('\n').unwrap_or(&entry.log);
                output(text);
                if last.len() == FAILED_OUTPUT_LINES {
                    last.pop_front();
                }
                last.push_back(text.to_owned());
            }
        };
        self.runtime.start(id)?;
        let state = loop {
            if crate::sys::interrupt::interrupted() {
                // Its caller removes it.
                let _ = self.runtime.kill(id, libc::SIGKILL);
                return Err(Error::Interrupted);
            }
            match self.runtime.wait(id, Some(Duration::from_millis(100))) {
                Ok(state) => break state,
                Err(crate::container::Error::Timeout(_)) => relay(&mut log),
                Err(error) => return Err(error.into()),
            }
        };
        relay(&mut log);
        let code = state.exit_code.unwrap_or(0);
        if code == 0 {
            return Ok(());
        }
        Err(Error::RunFailed {
            line,
            code,
            output: last.into_iter().collect(),
        })
    }

    /// Ends and removes the step containers of builds whose process is gone (killed mid-step, or
    /// ended by a second Ctrl-C): their commands would otherwise run on, and their records and
    /// writable layers stay forever.
    fn remove_abandoned_steps(&self) -> Result<(), Error> {
        for info in self.runtime.list()? {
            let Some(owner) = info.record.spec.labels.get(STEP_OWNER) else {
                continue;
            };
            let mut parts = owner.split('-').map(str::parse::<u64>);
            if let (Some(Ok(pid)), Some(Ok(started))) = (parts.next(), parts.next())
                && crate::sys::process::is_alive(pid as i32, started)
            {
                continue;
            }
            match self.runtime.remove(&info.record.id, true) {
                Ok(()) | Err(crate::container::Error::NotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// `/etc/hosts` of a step with `extra_hosts`: localhost, then the entries.
    fn hosts_file(&self) -> String {
        let mut text =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (name, address) in &self.settings.extra_hosts {
            text.push_str(&format!("{address}\t{name}\n"));
        }
        text
    }

    /// The container's writable layer as a layer of the store (unpacked, so the next step can
    /// stack on it), or `None` when the step changed nothing.
    ///
    /// The runtime's mount points stay out of it, and so do the `--mount` targets (`mounts`) and
    /// their parents that the step's layers below (`lower`) lacked and that are left empty.
    fn capture(
        &self,
        id: &str,
        mounts: &[&str],
        lower: &[LayerRef],
    ) -> Result<Option<AddedLayer>, Error> {
        let upper = crate::container::Paths::new(self.runtime.root(), id).upper();
        let remove_if_empty = |path: &std::path::Path| {
            let empty = match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => fs::read_dir(path).is_ok_and(|mut d| d.next().is_none()),
                Ok(m) => m.is_file() && m.len() == 0,
                Err(_) => false,
            };
            empty
                && fs::remove_dir(path)
                    .or_else(|_| fs::remove_file(path))
                    .is_ok()
        };
        for stub in MOUNT_STUBS {
            remove_if_empty(&upper.join(stub));
        }
        let lower: Vec<PathBuf> = lower.iter().map(|l| l.dir.clone()).collect();
        for target in mounts {
            let mut relative = crate::path::clean_relative(target);
            while !relative.is_empty() && !super::copy::exists_in(&lower, &relative) {
                if !remove_if_empty(&upper.join(&relative)) {
                    break;
                }
                relative = relative
                    .rsplit_once('/')
                    .map_or(String::new(), |(parent, _)| parent.to_owned());
            }
        }
        if fs::read_dir(&upper)
            .map_err(io_error(&upper))?
            .next()
            .is_none()
        {
            return Ok(None);
        }
        let epoch = self.settings.epoch;
        let added = self
            .store
            .add_layer(|out| diff::write_layer(&upper, out, epoch).map(drop))?;
        Ok(Some(added))
    }

    /// Adds the layer `write` writes to the store; an error of its own (a message) is the step's,
    /// at `line`.
    fn write_layer(
        &self,
        line: usize,
        write: impl FnOnce(&mut dyn std::io::Write) -> Result<(), String>,
    ) -> Result<AddedLayer, Error> {
        let mut failure = None;
        let added = self.store.add_layer(|out| {
            write(out).map_err(|message| {
                failure = Some(message.clone());
                std::io::Error::other(message)
            })
        });
        match (added, failure) {
            (Ok(added), _) => Ok(added),
            (Err(_), Some(message)) => Err(Error::Step { line, message }),
            (Err(error), None) => Err(error.into()),
        }
    }

    /// `WORKDIR`: the directory is made in the image when it is missing (as BuildKit makes it,
    /// owned by the stage's user), a layer of its own; true when nothing was to be made or the
    /// layer came from the cache.
    fn workdir(&self, state: &mut State, step: &Step, dir: &str) -> Result<bool, Error> {
        let fail = |message: String| Error::Step {
            line: step.line,
            message,
        };
        let dirs: Vec<PathBuf> = state.layers.iter().map(|l| l.dir.clone()).collect();
        let missing = super::copy::missing_workdir(&dirs, dir).map_err(fail)?;
        let created_by = format!("WORKDIR {dir}");
        if missing.is_empty() {
            let created = self.time_of(state);
            state.history.push(history(created_by, true, created));
            return Ok(true);
        }
        let user = state.config.user().clone().unwrap_or_default();
        state.key = Self::cache_key(&state.key, &format!("mkdir {missing:?} {user:?}"));
        let hit = match self.cached(state) {
            Some((CachedStep::Layer(layer), time)) => Some((layer, time)),
            _ => None,
        };
        let (layer, time) = match hit {
            Some((layer, time)) => (layer, Some(time)),
            None => {
                let mtime = self.settings.epoch.unwrap_or_else(crate::time::now_unix);
                let added = self.write_layer(step.line, |out| {
                    super::copy::write_dirs_layer(&dirs, &missing, &user, out, mtime)
                })?;
                (added, None)
            }
        };
        self.add_layer(state, Some(layer), time)?;
        let created = self.time_of(state);
        state.history.push(history(created_by, false, created));
        Ok(time.is_some())
    }

    /// What `COPY --from=<from>` copies from: a named context, a stage built before (by name or
    /// index) or an image of the store. (The cache key of such a copy is the content it copies, as for the context.)
    fn copy_source(
        &self,
        from: &str,
        sources: &Sources<'_>,
        line: usize,
    ) -> Result<Context, Error> {
        if let Some(named) = self.settings.named_contexts.get(from) {
            return Ok(named.clone());
        }
        let stage = sources
            .stages
            .iter()
            .find(|stage| stage.name.as_deref() == Some(from.to_ascii_lowercase().as_str()))
            .map(|stage| stage.index)
            .or_else(|| from.parse::<usize>().ok());
        if let Some(index) = stage {
            let state = sources.built.get(&index).ok_or_else(|| Error::Step {
                line,
                message: format!("COPY --from={from}: that stage is not built before this one"),
            })?;
            let dirs = state.layers.iter().map(|l| l.dir.clone()).collect();
            return Ok(Context::layers(dirs));
        }
        let image = self.base(from)?;
        let dirs = image.layers.iter().map(|l| l.dir.clone()).collect();
        Ok(Context::layers(dirs))
    }

    /// Adds the layer of a `COPY` from the build context, or from `from` (a stage's or image's
    /// files).
    fn copy(
        &self,
        state: &mut State,
        step: &Step,
        request: &CopyRequest<'_>,
        from: Option<Context>,
        hashes: &FileHashes,
    ) -> Result<bool, Error> {
        let line = step.line;
        let instruction = if request.add { "ADD" } else { "COPY" };
        let fail = |message: String| Error::Step { line, message };
        let context = match &from {
            Some(context) => context,
            None => self
                .context
                .ok_or_else(|| fail(format!("{instruction} needs a build context")))?,
        };
        let dirs: Vec<PathBuf> = state.layers.iter().map(|l| l.dir.clone()).collect();
        // The content: paths, modes, owners and contents count, times do not.
        let content = copy_digest(context, request, &dirs, hashes).map_err(fail)?;
        state.key = Self::cache_key(&state.key, &format!("{content} {:?}", step.workdir));
        let words: Vec<String> = request
            .sources
            .iter()
            .map(|s| match s {
                Source::Path(path) => path.clone(),
                Source::Inline { name, .. } => format!("<<{name}"),
            })
            .collect();
        let created_by = format!("{instruction} {} {}", words.join(" "), request.dest);
        let cached = match self.cached(state) {
            Some((CachedStep::Layer(layer), time)) => Some((layer, time)),
            _ => None,
        };
        let hit = cached.as_ref().map(|(_, time)| *time);
        let layer = match cached {
            Some((layer, _)) => layer,
            None => self.write_layer(line, |out| {
                write_copy_layer(context, request, &dirs, out, self.settings.epoch)
            })?,
        };
        self.add_layer(state, Some(layer), hit)?;
        let created = self.time_of(state);
        state.history.push(history(created_by, false, created));
        Ok(hit.is_some())
    }

    /// Stores the built stage as an image.
    fn commit(&self, state: State, name: Option<&ImageRef>) -> Result<Image, Error> {
        // The newest layer's time (see `State::time`); now for an image of no layer at all.
        let time = match self.time_of(&state) {
            0 => crate::time::now_unix(),
            time => time,
        };
        let created = crate::time::format_rfc3339(time);
        let (os, arch) = crate::image::archive::host_platform();
        let config = (|| -> Result<ImageConfiguration, oci_spec::OciSpecError> {
            let mut config = ImageConfiguration::default();
            config.set_created(Some(created.clone()));
            config.set_os(Os::from(os));
            config.set_architecture(Arch::from(arch));
            let mut inner = state.config.clone();
            if !self.settings.labels.is_empty() {
                let mut labels = inner.labels().clone().unwrap_or_default();
                labels.extend(self.settings.labels.clone());
                inner.set_labels(Some(labels));
            }
            config.set_config(Some(inner));
            config.set_rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(
                        state
                            .layers
                            .iter()
                            .map(|l| l.diff_id.to_string())
                            .collect::<Vec<_>>(),
                    )
                    .build()?,
            );
            config.set_history(Some(state.history.clone()));
            Ok(config)
        })()
        .map_err(|e| Error::Step {
            line: 1,
            message: format!("cannot make the image config: {e}"),
        })?;
        let bytes = serde_json::to_vec(&config)
            .and_then(|bytes| match state.docker == DockerConfig::default() {
                true => Ok(bytes),
                false => crate::image::docker_config::write(&bytes, &state.docker),
            })
            .map_err(|e| Error::Step {
                line: 1,
                message: format!("cannot write the image config: {e}"),
            })?;
        let layers: Vec<(Digest, u64, Compression, Digest)> = state
            .layers
            .iter()
            .map(|l| (l.blob.clone(), l.size, l.compression, l.diff_id.clone()))
            .collect();
        let id = self.store.add_image(&bytes, &layers, name)?;
        Ok(self.store.image(&id.to_string())?)
    }
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Step {
        line: 1,
        message: format!("read {}: {error}", path.display()),
    }
}

/// Whether a shell-form command is a heredoc marker alone (`<<EOF`, `<<-"EOF"`).
fn is_bare_heredoc(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("<<") && !text.contains(char::is_whitespace)
}

/// A command line as the config and the container take it: the exec form as is, the shell form
/// after the stage's shell.
fn command_args(command: &CommandLine, shell: &[String]) -> Vec<String> {
    match command {
        CommandLine::Exec(items) => items.clone(),
        CommandLine::Shell(text) => {
            let mut args = shell.to_vec();
            args.push(text.clone());
            args
        }
    }
}

/// `ENV`/`LABEL` pairs as the history records them: `KEY=VALUE` words.
fn pairs_text(pairs: &[super::instructions::Pair]) -> String {
    let words: Vec<String> = pairs
        .iter()
        .map(|p| format!("{}={}", p.key, p.value))
        .collect();
    words.join(" ")
}

fn json(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// Sets `KEY=VALUE` in a config env, in place when the key is there.
fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

fn history(created_by: String, empty_layer: bool, created: i64) -> History {
    let created = crate::time::format_rfc3339(created);
    let mut builder = HistoryBuilder::default()
        .created(created)
        .created_by(created_by)
        .comment("buildkit.dockerfile.v0".to_owned());
    if empty_layer {
        builder = builder.empty_layer(true);
    }
    builder.build().unwrap_or_default()
}

fn compression_of(media_type: &str) -> Compression {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Compression::Gzip
    } else if media_type.ends_with("+zstd") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A `HEALTHCHECK` as docker's config holds it: the test with its kind, durations in nanoseconds.
fn health_config(health: &Health) -> Result<HealthConfig, String> {
    let Health::Check {
        command,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    } = health
    else {
        return Ok(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        });
    };
    // The shell form is `CMD-SHELL` whatever the stage's `SHELL`, as docker records it.
    let test = match command {
        CommandLine::Exec(items) => [vec!["CMD".to_owned()], items.clone()].concat(),
        CommandLine::Shell(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
    };
    let duration = |name: &str, value: &Option<String>| -> Result<i64, String> {
        let Some(value) = value else {
            return Ok(0);
        };
        let nanos = crate::time::parse_duration(value)
            .map_err(|_| format!("HEALTHCHECK --{name}={value}: a duration like 30s or 1m30s"))?;
        if nanos != 0 && nanos < 1_000_000 {
            return Err(format!("HEALTHCHECK --{name} cannot be less than 1ms"));
        }
        Ok(nanos)
    };
    Ok(HealthConfig {
        test,
        interval: duration("interval", interval)?,
        timeout: duration("timeout", timeout)?,
        start_period: duration("start-period", start_period)?,
        start_interval: duration("start-interval", start_interval)?,
        retries: retries.map_or(0, i64::from),
    })
}
