//! What most lifecycle commands start from: the loaded project, the engine, and the project's
//! containers as the runtime has them.

use anyhow::Context;
use runtime::container::Info;

use crate::cli::GlobalOptions;
use crate::engine::Engine;
use crate::output;
use crate::project::{self, Loaded};
use crate::reconcile::observe;
use crate::reconcile::snapshot::ObservedContainer;

/// A loaded project and the engine to act on it.
pub struct Scope {
    pub loaded: Loaded,
    pub engine: Engine,
}

impl Scope {
    /// Loads the project (services named on the command line enable their profiles) and opens the
    /// engine. Loader warnings are printed here.
    pub fn open(global: &GlobalOptions, services: &[String]) -> anyhow::Result<Scope> {
        let options = super::load_options(global, services, true)?;
        let loaded = match project::load(options) {
            Ok(loaded) => loaded,
            Err(problems) if problems.exit_code() == output::EXIT_NO_CONFIG => {
                let Some(found) = files_of_containers(global)? else {
                    return Err(problems.into());
                };
                output::status(&format!(
                    "no compose file here: project {} from {} (the files its containers were made from)",
                    found.project_name.as_deref().unwrap_or_default(),
                    found
                        .files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                project::load(super::load_options(&found, services, true)?)?
            }
            Err(problems) => return Err(problems.into()),
        };
        output::warnings(&loaded.warnings);
        let engine = Engine::open(global)?;
        Ok(Scope { loaded, engine })
    }

    /// Takes the project's lock, then repairs what killed commands left under the state root (see
    /// [`recover`]): commands that change a project (`up`, `create`, `down`, `run` and the lifecycle
    /// verbs) run one at a time per project, so two `up`s never race to create the same container,
    /// and each starts from a state that an `up` killed at any moment (kill -9) left repaired.
    pub fn lock(&self) -> anyhow::Result<runtime::store::lock::Lock> {
        let dir = self.engine.root.join("projects");
        runtime::store::private_dir(&dir)?;
        let path = dir.join(format!("{}.lock", self.loaded.project.name));
        let lock = runtime::store::lock::Lock::exclusive(&path)?;
        recover(&self.engine);
        Ok(lock)
    }

    /// The project's containers (one-offs included when `oneoff`), in service then number order,
    /// limited to `services` when some are named.
    pub fn containers(
        &self,
        services: &[String],
        oneoff: bool,
    ) -> anyhow::Result<Vec<(ObservedContainer, Info)>> {
        let infos = self
            .engine
            .containers
            .list()
            .context("cannot list containers")?;
        let mut found: Vec<(ObservedContainer, Info)> = infos
            .into_iter()
            .filter_map(|info| {
                observe::decode(&info, &self.loaded.project.name).map(|observed| (observed, info))
            })
            .filter(|(observed, _)| oneoff || !observed.oneoff)
            .filter(|(observed, _)| services.is_empty() || services.contains(&observed.service))
            .collect();
        found.sort_by(|a, b| (&a.0.service, a.0.number).cmp(&(&b.0.service, b.0.number)));
        Ok(found)
    }

    /// Fails with docker compose's message for a service name the project does not have.
    pub fn check_services(&self, services: &[String]) -> anyhow::Result<()> {
        for name in services {
            if !self.loaded.project.services.contains_key(name) {
                anyhow::bail!("no such service: {name}");
            }
        }
        Ok(())
    }
}

/// Repairs what commands killed half-way left under the state root: half-created or half-removed
/// containers, dead monitors, namespace files and endpoints without a container, network and volume
/// directories without a record. What cannot be repaired is a warning, not a failure: the command
/// goes on, and the planner sees what remains.
pub fn recover(engine: &Engine) {
    let mut warnings: Vec<String> = engine
        .containers
        .recover()
        .into_iter()
        .map(|error| format!("recovery: {error}"))
        .collect();
    if let Err(error) = engine.volumes.recover() {
        warnings.push(format!("recovery: {error}"));
    }
    output::warnings(&warnings);
}

/// Progress lines aligned for the resources a plan touches.
pub fn plan_progress(plan: &crate::reconcile::plan::Plan) -> crate::output::progress::Progress {
    let names: Vec<String> = plan
        .actions
        .iter()
        .map(|action| action.target.to_string())
        .collect();
    // Targets print as "container NAME"; alignment is on the name.
    crate::output::progress::Progress::new(
        names
            .iter()
            .map(|n| n.split_once(' ').map_or(n.as_str(), |(_, name)| name)),
        false,
    )
}

/// With no compose file found but a project name given (`-p`, `COMPOSE_PROJECT_NAME`), as
/// `rcompose -p demo down` from another directory: the compose files and directory the project's
/// containers were made from (their labels), when those files are still there.
fn files_of_containers(global: &GlobalOptions) -> anyhow::Result<Option<GlobalOptions>> {
    let Some(name) = global
        .project_name
        .clone()
        .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok())
        .filter(|name| !name.is_empty())
    else {
        return Ok(None);
    };
    let engine = Engine::open(global)?;
    let infos = engine.containers.list().context("cannot list containers")?;
    let Some(labels) = infos
        .iter()
        .map(|info| &info.record.spec.labels)
        .find(|labels| labels.get(crate::labels::PROJECT) == Some(&name))
    else {
        return Ok(None);
    };
    let dir = std::path::PathBuf::from(
        labels
            .get(crate::labels::WORKING_DIR)
            .cloned()
            .unwrap_or_default(),
    );
    let files: Vec<std::path::PathBuf> = labels
        .get(crate::labels::CONFIG_FILES)
        .map(|list| {
            list.split(',')
                .filter(|f| !f.is_empty())
                .map(|f| dir.join(f))
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() || !files.iter().all(|f| f.is_file()) {
        return Ok(None);
    }
    Ok(Some(GlobalOptions {
        files,
        project_name: Some(name),
        project_directory: Some(dir),
        ..global.clone()
    }))
}
