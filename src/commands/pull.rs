//! `rcompose pull`, `image pull`, and the pulls other commands make: `up` pulling what its services'
//! `pull_policy` asks for before it plans, and the builder pulling a missing base image
//! ([`ensure_image`]). The work is `runtime::registry::pull`; this module decides what to pull and
//! why (a pure function, [`pull_reason`]) and prints progress.
//!
//! `pull_policy`: `missing` (the default; `if_not_present` is normalized to it) pulls an image the
//! store lacks; `always` pulls every time; `never` never pulls (a missing image is then an error at
//! create); `build` builds instead; `daily`, `weekly` and `every_<duration>` pull when the last pull
//! of that name is older than that. The time of the last pull of a name is a file's modification
//! time under `<root>/registry/pulled/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use runtime::image::{Image, ImageRef, ImageStore};
use runtime::registry::{self, Progress, Pulled, Settings};

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::progress::Progress as View;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Services whose images to pull (all when none)
    services: Vec<String>,
    /// Pull what it can and ignore images that fail
    #[arg(long)]
    ignore_pull_failures: bool,
    /// Also pull the images of the services they depend on
    #[arg(long)]
    include_deps: bool,
    /// Apply this pull policy (`missing` or `always`) instead of each service's
    #[arg(long, value_name = "POLICY")]
    policy: Option<String>,
    /// Pull without printing progress
    #[arg(short, long)]
    quiet: bool,
    /// Ignore images that can be built
    #[arg(long)]
    ignore_buildable: bool,
}

/// Why an image is pulled, or `None` to leave it. Pure: `present` is whether the store has the
/// image, `age` the seconds since its name was last pulled (if ever).
pub fn pull_reason(
    policy: Option<&str>,
    buildable: bool,
    present: bool,
    age: Option<i64>,
) -> anyhow::Result<Option<String>> {
    let policy = policy.unwrap_or("missing");
    let every = |seconds: i64, label: &str| match age {
        _ if !present => Some("not in the store".to_owned()),
        None => Some(format!("pull_policy: {label}, never pulled")),
        Some(age) if age >= seconds => {
            Some(format!("pull_policy: {label}, last pulled {}s ago", age))
        }
        Some(_) => None,
    };
    Ok(match policy {
        "missing" | "if_not_present" if present || buildable => None,
        "missing" | "if_not_present" => Some("not in the store".to_owned()),
        "always" => Some("pull_policy: always".to_owned()),
        "never" | "build" => None,
        "daily" => every(86_400, "daily"),
        "weekly" => every(7 * 86_400, "weekly"),
        "refresh" => None,
        other => match other.strip_prefix("every_") {
            Some(duration) => {
                let nanos = runtime::time::parse_duration(duration)
                    .map_err(|error| anyhow::anyhow!("invalid pull_policy {other:?}: {error:?}"))?;
                every(nanos / 1_000_000_000, other)
            }
            None => bail!(
                "invalid pull_policy {other:?}: use always, missing, never, build, daily, weekly or every_<duration>"
            ),
        },
    })
}

fn pulled_record(root: &Path, reference: &ImageRef) -> std::path::PathBuf {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(reference.to_string().as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    root.join("registry").join("pulled").join(hex)
}

/// Seconds since `reference` was last pulled, if it ever was.
fn last_pulled(root: &Path, reference: &ImageRef) -> Option<i64> {
    let modified = std::fs::metadata(pulled_record(root, reference))
        .and_then(|m| m.modified())
        .ok()?;
    Some(modified.elapsed().map_or(0, |age| age.as_secs() as i64))
}

fn record_pull(root: &Path, reference: &ImageRef) -> anyhow::Result<()> {
    let path = pulled_record(root, reference);
    let dir = path.parent().expect("the record has a directory");
    runtime::store::private_dir(&root.join("registry"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Without fsync: a record lost to a power cut only makes the next policy check pull again,
    // and two fsyncs at the end of every pull cost more than that on a busy disk.
    runtime::store::atomic::write_volatile(&path, reference.to_string().as_bytes())?;
    Ok(())
}

/// Pulls `reference` into the store, reporting layers to `view` (if any); records the pull time.
fn pull_one(
    store: &ImageStore,
    root: &Path,
    reference: &ImageRef,
    view: Option<&View>,
) -> anyhow::Result<Pulled> {
    let settings = Settings::load(root)?;
    let name = reference.familiar();
    let total = Mutex::new(Total::default());
    let report = |progress: Progress| {
        let Some(view) = view else { return };
        if let Some((current, bytes, rate)) = total
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .update(&progress)
        {
            view.transfer("Image", &name, "Pulling", current, bytes, rate);
        }
        match progress {
            Progress::Fallback { endpoint, error } => {
                output::warnings(&[format!(
                    "{name}: {endpoint} failed ({error}); trying the next"
                )]);
            }
            Progress::Bytes {
                digest,
                done,
                total,
            } => view.layer(
                digest.short(),
                &name,
                "Downloading",
                Some((done, total)),
                false,
            ),
            Progress::Done { digest } => {
                view.layer(digest.short(), &name, "Pull complete", None, true)
            }
            Progress::Exists { digest } => {
                view.layer(digest.short(), &name, "Already exists", None, true)
            }
            Progress::Resolved { .. } | Progress::Mounted { .. } | Progress::Downloading { .. } => {
            }
        }
    };
    let pulled = registry::pull(store, &settings, reference, &report)
        .with_context(|| format!("cannot pull {name}"))?;
    record_pull(root, reference)?;
    Ok(pulled)
}

/// The bytes of one image's pull, all layers together, for its progress line.
#[derive(Default)]
struct Total {
    /// Bytes of the layers to download, and when that was known.
    bytes: u64,
    started: Option<Instant>,
    /// Bytes received per layer.
    layers: BTreeMap<String, u64>,
    /// The percentage last shown (a line every 5%, not every read).
    shown: Option<u64>,
}

impl Total {
    /// Takes in a progress event; returns the bytes received, the bytes in all and the rate (bytes
    /// a second) when the image's line is due.
    fn update(&mut self, progress: &Progress) -> Option<(u64, u64, u64)> {
        match progress {
            Progress::Downloading { bytes, .. } => {
                self.bytes = *bytes;
                self.started = Some(Instant::now());
                return None;
            }
            Progress::Bytes { digest, done, .. } => {
                self.layers.insert(digest.to_string(), *done);
            }
            _ => return None,
        }
        let started = self.started?;
        let current: u64 = self.layers.values().sum();
        let percent = (current.min(self.bytes) * 100).checked_div(self.bytes)?;
        if self
            .shown
            .is_some_and(|shown| percent < shown + 5 && percent < 100)
        {
            return None;
        }
        self.shown = Some(percent);
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        Some((current, self.bytes, (current as f64 / seconds) as u64))
    }
}

/// The image `reference` from the store, pulled first if the store lacks it: for the builder's base
/// images (`FROM`, `COPY --from`) and anything else that needs an image by name. Progress goes to
/// standard error.
pub fn ensure_image(store: &ImageStore, root: &Path, reference: &str) -> anyhow::Result<Image> {
    if let Ok(image) = store.image(reference) {
        return Ok(image);
    }
    pull_image(store, root, reference)
}

/// The image `reference` pulled from its registry now (`build --pull`), with progress on standard
/// error.
pub fn pull_image(store: &ImageStore, root: &Path, reference: &str) -> anyhow::Result<Image> {
    let name = ImageRef::parse(reference)?;
    let view = View::new([name.familiar().as_str()], false);
    let started = Instant::now();
    view.start("Image", &name.familiar(), "Pulling");
    if let Err(error) = pull_one(store, root, &name, Some(&view)) {
        view.done("Image", &name.familiar(), "Error", started.elapsed());
        return Err(error);
    }
    view.done("Image", &name.familiar(), "Pulled", started.elapsed());
    Ok(store.image(reference)?)
}

/// One image to pull, for the services that use it.
struct Wanted {
    reference: ImageRef,
    reason: String,
    services: Vec<String>,
}

/// Which images of `services` (with their dependencies if asked) to pull, and why.
fn wanted(
    scope: &Scope,
    services: &[String],
    with_dependencies: bool,
    policy_override: Option<&str>,
    ignore_buildable: bool,
) -> anyhow::Result<Vec<Wanted>> {
    let project = &scope.loaded.project;
    let mut selected: Vec<String> = if services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        services.to_vec()
    };
    if with_dependencies {
        selected = crate::graph::ServiceGraph::new(project)
            .with_dependencies(&selected)
            .into_iter()
            .collect();
    }
    // The images the project's builds make (`build:` with `image:`): a service that only names one
    // gets it from that build, not from a registry, as with docker compose.
    let built: BTreeSet<String> = project
        .services
        .values()
        .filter(|service| service.build.is_some())
        .filter_map(|service| service.image.as_deref())
        .filter_map(|image| ImageRef::parse(image).ok())
        .map(|reference| reference.to_string())
        .collect();
    let mut by_image: BTreeMap<String, Wanted> = BTreeMap::new();
    for name in selected {
        let service = &project.services[&name];
        let Some(image) = &service.image else {
            continue;
        };
        let reference =
            ImageRef::parse(image).with_context(|| format!("service {name:?}: image {image:?}"))?;
        let buildable = service.build.is_some() || built.contains(&reference.to_string());
        if buildable && ignore_buildable {
            continue;
        }
        let present = scope.engine.images.image(image).is_ok();
        let age = last_pulled(&scope.engine.root, &reference);
        let policy = policy_override.or(service.pull_policy.as_deref());
        let Some(reason) = pull_reason(policy, buildable, present, age)
            .with_context(|| format!("service {name:?}"))?
        else {
            continue;
        };
        by_image
            .entry(reference.to_string())
            .or_insert_with(|| Wanted {
                reference,
                reason,
                services: Vec::new(),
            })
            .services
            .push(name);
    }
    Ok(by_image.into_values().collect())
}

/// Pulls every wanted image at once (up to `COMPOSE_PARALLEL_LIMIT` threads); returns the failures.
fn pull_all(scope: &Scope, wanted: &[Wanted], view: &View) -> Vec<(String, anyhow::Error)> {
    let limit = std::env::var("COMPOSE_PARALLEL_LIMIT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(16);
    let queue = Mutex::new(wanted.iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|threads| {
        for _ in 0..limit.min(wanted.len()) {
            threads.spawn(|| {
                loop {
                    let Some(item) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    let name = item.reference.familiar();
                    let started = Instant::now();
                    view.start("Image", &name, &format!("Pulling ({})", item.reason));
                    match pull_one(
                        &scope.engine.images,
                        &scope.engine.root,
                        &item.reference,
                        Some(view),
                    ) {
                        Ok(_) => view.done("Image", &name, "Pulled", started.elapsed()),
                        Err(error) => {
                            view.done("Image", &name, "Error", started.elapsed());
                            failures.lock().expect("failures").push((name, error));
                        }
                    }
                }
            });
        }
    });
    failures.into_inner().expect("failures")
}

/// `rcompose pull`.
pub fn run(global: &GlobalOptions, args: PullArgs) -> anyhow::Result<ExitCode> {
    if let Some(policy) = &args.policy
        && !matches!(policy.as_str(), "missing" | "always" | "if_not_present")
    {
        bail!("invalid --policy {policy:?}: use missing or always");
    }
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let wanted = wanted(
        &scope,
        &args.services,
        args.include_deps,
        Some(args.policy.as_deref().unwrap_or("always")),
        args.ignore_buildable,
    )?;
    let names: Vec<String> = wanted.iter().map(|w| w.reference.familiar()).collect();
    let view = View::new(names.iter().map(String::as_str), args.quiet);
    let failures = pull_all(&scope, &wanted, &view);
    let mut fatal = Vec::new();
    let mut warnings = Vec::new();
    for (name, error) in failures {
        let buildable = wanted
            .iter()
            .find(|w| w.reference.familiar() == name)
            .is_some_and(|w| {
                w.services
                    .iter()
                    .all(|s| scope.loaded.project.services[s].build.is_some())
            });
        if args.ignore_pull_failures || buildable {
            warnings.push(format!("{error:#}"));
        } else {
            fatal.push(format!("{error:#}"));
        }
    }
    output::warnings(&warnings);
    if !fatal.is_empty() {
        bail!("{}", fatal.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `up` pulls before it plans: `pull` is `up --pull` (`always`, `missing`, `never`), else each
/// service's `pull_policy`. With `dry_run`, only says what it would pull and why.
pub fn pull_for_up(
    scope: &Scope,
    services: &[String],
    pull: Option<&str>,
    with_dependencies: bool,
    dry_run: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if let Some(policy) = pull
        && !matches!(
            policy,
            "always" | "missing" | "never" | "build" | "if_not_present"
        )
    {
        bail!("invalid --pull {policy:?}: use always, missing or never");
    }
    let wanted = wanted(scope, services, with_dependencies, pull, false)?;
    if wanted.is_empty() {
        return Ok(());
    }
    if dry_run {
        let text: String = wanted
            .iter()
            .map(|w| format!("pull {}: {}\n", w.reference.familiar(), w.reason))
            .collect();
        output::stdout(&text)?;
        return Ok(());
    }
    let names: Vec<String> = wanted.iter().map(|w| w.reference.familiar()).collect();
    let view = View::new(names.iter().map(String::as_str), quiet);
    let failures = pull_all(scope, &wanted, &view);
    if let Some((_, error)) = failures.into_iter().next() {
        return Err(error);
    }
    Ok(())
}

/// `rcompose image pull NAME`: docker's output.
pub fn image_pull(
    store: &ImageStore,
    root: &Path,
    name: &str,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let reference = ImageRef::parse(name)?;
    if !quiet {
        let what = reference
            .tag()
            .map(str::to_owned)
            .or_else(|| reference.digest().map(|d| d.to_string()))
            .unwrap_or_default();
        output::status(&format!(
            "{what}: Pulling from {}",
            reference.familiar_repository()
        ));
    }
    let lines = Mutex::new(());
    let pulled = {
        let settings = Settings::load(root)?;
        let report = |progress: Progress| {
            if quiet {
                return;
            }
            let _guard = lines.lock();
            match progress {
                Progress::Exists { digest } => {
                    output::status(&format!("{}: Already exists", digest.short()))
                }
                Progress::Done { digest } => {
                    output::status(&format!("{}: Pull complete", digest.short()))
                }
                Progress::Fallback { endpoint, error } => {
                    output::warnings(&[format!("{endpoint} failed ({error}); trying the next")])
                }
                _ => {}
            }
        };
        registry::pull(store, &settings, &reference, &report)
            .with_context(|| format!("cannot pull {}", reference.familiar()))?
    };
    record_pull(root, &reference)?;
    if !quiet {
        output::status(&format!("Digest: {}", pulled.digest));
        output::status(&format!(
            "Status: {} for {}",
            if pulled.up_to_date {
                "Image is up to date"
            } else {
                "Downloaded newer image"
            },
            reference.familiar()
        ));
    }
    output::stdout(&format!("{}\n", reference.familiar()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide_as_docker_compose() {
        let reason =
            |policy, buildable, present, age| pull_reason(policy, buildable, present, age).unwrap();
        assert_eq!(
            reason(None, false, false, None).as_deref(),
            Some("not in the store")
        );
        assert_eq!(reason(None, false, true, None), None);
        assert_eq!(reason(None, true, false, None), None, "built instead");
        assert_eq!(reason(Some("if_not_present"), false, true, None), None);
        assert_eq!(
            reason(Some("always"), false, true, Some(1)).as_deref(),
            Some("pull_policy: always")
        );
        assert_eq!(reason(Some("never"), false, false, None), None);
        assert_eq!(reason(Some("build"), true, false, None), None);
        assert_eq!(reason(Some("daily"), false, true, Some(3_600)), None);
        assert!(reason(Some("daily"), false, true, Some(90_000)).is_some());
        assert!(reason(Some("weekly"), false, true, None).is_some());
        assert_eq!(reason(Some("every_2h"), false, true, Some(3_600)), None);
        assert!(reason(Some("every_2h"), false, true, Some(7_300)).is_some());
        assert!(pull_reason(Some("sometimes"), false, true, None).is_err());
    }
}
