//! A service's `build:` read as one build to make: its [`Recipe`], and the names the result gets.
//!
//! Everything that decides the image is in the recipe (context, Dockerfile, args as resolved,
//! target, labels, network, hosts, `/dev/shm`, named contexts, secrets, `no_cache`) and nothing
//! else is: names (`image:`, `tags`) are not. So two services whose recipes are equal share one
//! build and one image id, and a key that the builder cannot honour is an error here, before any
//! build starts, rather than a build that quietly differs from docker's.
//!
//! Pure: the project's variables come in as a lookup, and no file is read (the Dockerfile and the
//! contexts are read when the build runs).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use runtime::image::ImageRef;

use crate::project::model::{Build, Project, Service};
use crate::reconcile::plan::image_name;

/// What one build makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Recipe {
    /// The context directory (absolute).
    pub context: PathBuf,
    pub dockerfile: Dockerfile,
    /// Build args as the Dockerfile sees them: the service's `args` (a bare name takes the
    /// project's variable), then `--build-arg`.
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `labels`, added to the image's config over the Dockerfile's.
    pub labels: BTreeMap<String, String>,
    pub network: Network,
    /// `extra_hosts`: name, address.
    pub extra_hosts: Vec<(String, String)>,
    /// `shm_size` in bytes (0: the runtime's default).
    pub shm_size: u64,
    /// `additional_contexts`, by the name `COPY --from=` uses.
    pub contexts: BTreeMap<String, NamedContext>,
    /// Build secrets by id (`RUN --mount=type=secret,id=...`).
    pub secrets: BTreeMap<String, Secret>,
    pub no_cache: bool,
    /// `pull: true` or `build --pull`: base images are pulled again, not taken from the store.
    pub pull: bool,
}

/// Where the Dockerfile comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dockerfile {
    /// A file (`dockerfile`, relative to the context unless absolute).
    Path(PathBuf),
    /// `dockerfile_inline`.
    Inline(String),
}

/// The network of `RUN` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Network {
    /// Unset or `default`: the builder's own default.
    Default,
    None,
    Host,
}

/// An entry of `additional_contexts`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NamedContext {
    /// A directory (absolute: the loader resolved it against the compose file's directory, as
    /// docker compose does), read with its own `.dockerignore`.
    Dir(PathBuf),
    /// `service:NAME`: that service's image (built first when the service has `build:`).
    Service(String),
    /// `docker-image://REF`: an image of the local store.
    Image(String),
}

/// Where a build secret's content comes from.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Secret {
    /// The top-level secret's `file:`.
    File(PathBuf),
    /// The value of the top-level secret's `environment:` variable (written to a private file
    /// for the build only). Never printed.
    Value { variable: String, value: String },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Value { variable, .. } => f
                .debug_struct("Value")
                .field("variable", variable)
                .finish_non_exhaustive(),
        }
    }
}

/// A recipe and what the caller should hear about it.
#[derive(Debug)]
pub struct Read {
    pub recipe: Recipe,
    /// Keys with no local meaning, said once per service.
    pub warnings: Vec<String>,
}

/// Reads service `name`'s `build:` into a recipe. `variables` looks up the project's variables
/// (a bare `args` name, a secret's `environment:`); `build_args` are `--build-arg` values (`None`:
/// the project's variable of that name).
pub fn read(
    project: &Project,
    name: &str,
    variables: &dyn Fn(&str) -> Option<String>,
    build_args: &BTreeMap<String, Option<String>>,
    no_cache: bool,
    pull: bool,
) -> anyhow::Result<Read> {
    let Some(service) = project.services.get(name) else {
        bail!("no such service: {name}");
    };
    let Some(build) = &service.build else {
        bail!("service {name:?} has no `build:`");
    };
    let mut warnings = Vec::new();
    refuse_unsupported(name, build)?;
    for (key, set) in [
        ("cache_from", !build.cache_from.is_empty()),
        ("cache_to", !build.cache_to.is_empty()),
    ] {
        if set {
            warnings.push(format!(
                "service {name:?}: build.{key} has no meaning for rcompose's builder, which always uses its local cache"
            ));
        }
    }
    for (key, set) in [
        ("provenance", build.provenance.is_some()),
        ("sbom", build.sbom.is_some()),
    ] {
        if set {
            warnings.push(format!(
                "service {name:?}: build.{key} is ignored: attestations go with pushed images, and rcompose pushes none"
            ));
        }
    }
    let mut no_cache = no_cache || build.no_cache;
    if !build.no_cache_filter.is_empty() && !no_cache {
        warnings.push(format!(
            "service {name:?}: build.no_cache_filter: the whole build runs without the cache"
        ));
        no_cache = true;
    }
    if build.context.contains("://") || build.context.starts_with("git@") {
        bail!(
            "service {name:?}: the build context {} is remote, and remote contexts need a network; clone it and point `context` at the clone",
            build.context
        );
    }
    let context = PathBuf::from(&build.context);
    let dockerfile = match &build.dockerfile_inline {
        Some(text) => Dockerfile::Inline(text.clone()),
        None => Dockerfile::Path(context.join(build.dockerfile.as_deref().unwrap_or("Dockerfile"))),
    };
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in build.args.iter().chain(build_args) {
        match value {
            Some(value) => {
                args.insert(key.clone(), value.clone());
            }
            None => {
                if let Some(value) = variables(key) {
                    args.insert(key.clone(), value);
                }
            }
        }
    }
    let network = match build.network.as_deref() {
        None | Some("default") => Network::Default,
        Some("none") => Network::None,
        // As BuildKit: the host's network is an entitlement the compose file grants.
        Some("host") if build.entitlements.iter().any(|e| e == "network.host") => Network::Host,
        Some("host") => bail!(
            "service {name:?}: build.network host needs the network.host entitlement; add `entitlements: [network.host]` under build:"
        ),
        Some(other) => bail!(
            "service {name:?}: build.network {other:?} is not supported: RUN steps run without a network (`none`), on the host's (`host`), or on the builder's default (`default`)"
        ),
    };
    let extra_hosts = build
        .extra_hosts
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((host, address)) => Ok((host.to_owned(), address.to_owned())),
            None => bail!("service {name:?}: build.extra_hosts {entry:?}: write `host=ip`"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shm_size = match build.shm_size {
        None => 0,
        Some(size) => u64::try_from(size.bytes())
            .map_err(|_| anyhow::anyhow!("service {name:?}: build.shm_size cannot be negative"))?,
    };
    let contexts = build
        .additional_contexts
        .iter()
        .map(|(key, value)| Ok((key.clone(), named_context(project, name, key, value)?)))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let mut secrets = BTreeMap::new();
    for reference in &build.secrets {
        let id = reference
            .target
            .clone()
            .unwrap_or_else(|| reference.source.clone());
        if reference.uid.is_some() || reference.gid.is_some() || reference.mode.is_some() {
            warnings.push(format!(
                "service {name:?}: build secret {id:?}: uid, gid and mode are ignored (a RUN step's `--mount=type=secret` sets them)"
            ));
        }
        let Some(secret) = project.secrets.get(&reference.source) else {
            bail!(
                "service {name:?}: build secret {:?} is not defined in the top-level `secrets:`",
                reference.source
            );
        };
        let source = if secret.external {
            bail!(
                "service {name:?}: build secret {:?} is external: a build needs its content, from `file:` or `environment:`",
                reference.source
            );
        } else if let Some(file) = &secret.file {
            Secret::File(PathBuf::from(file))
        } else if let Some(variable) = &secret.environment {
            let Some(value) = variables(variable) else {
                bail!(
                    "service {name:?}: build secret {:?} comes from the variable {variable}, which is not set",
                    reference.source
                );
            };
            Secret::Value {
                variable: variable.clone(),
                value,
            }
        } else {
            bail!(
                "service {name:?}: build secret {:?} has neither `file:` nor `environment:`",
                reference.source
            );
        };
        secrets.insert(id, source);
    }
    Ok(Read {
        recipe: Recipe {
            context,
            dockerfile,
            args,
            target: build.target.clone(),
            labels: build.labels.clone(),
            network,
            extra_hosts,
            shm_size,
            contexts,
            secrets,
            no_cache,
            pull: pull || build.pull,
        },
        warnings,
    })
}

/// One `additional_contexts` entry.
fn named_context(
    project: &Project,
    service: &str,
    key: &str,
    value: &str,
) -> anyhow::Result<NamedContext> {
    if let Some(other) = value.strip_prefix("service:") {
        if !project.services.contains_key(other) {
            bail!(
                "service {service:?}: build.additional_contexts.{key}: no service {other:?} in the project"
            );
        }
        if other == service {
            bail!("service {service:?}: build.additional_contexts.{key} names the service itself");
        }
        return Ok(NamedContext::Service(other.to_owned()));
    }
    if let Some(reference) = value.strip_prefix("docker-image://") {
        ImageRef::parse(reference).map_err(|e| {
            anyhow::anyhow!(
                "service {service:?}: build.additional_contexts.{key}: invalid image {reference:?}: {e}"
            )
        })?;
        return Ok(NamedContext::Image(reference.to_owned()));
    }
    if value.contains("://") || value.starts_with("git@") || value.starts_with("target:") {
        bail!(
            "service {service:?}: build.additional_contexts.{key} {value:?} is not supported: use a directory, `service:NAME` or `docker-image://REF` of the local store"
        );
    }
    Ok(NamedContext::Dir(PathBuf::from(value)))
}

/// The `build:` keys that ask for what rcompose's builder cannot do: an error naming them.
fn refuse_unsupported(name: &str, build: &Build) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    if !build.ssh.is_empty() {
        keys.push("ssh (no SSH agent is forwarded to RUN steps)".to_owned());
    }
    if build.privileged {
        keys.push("privileged (RUN steps run with docker's default confinement)".to_owned());
    }
    if !build.ulimits.is_empty() {
        keys.push("ulimits".to_owned());
    }
    let host = runtime::build::resolve::Platform::host();
    let host_name = format!("{}/{}", host.os, host.arch);
    let foreign: Vec<&String> = build
        .platforms
        .iter()
        .filter(|p| p.trim_end_matches("/v8") != host_name)
        .collect();
    if !foreign.is_empty() {
        keys.push(format!(
            "platforms {foreign:?} (only this machine's, {host_name}, is built)"
        ));
    }
    for entitlement in &build.entitlements {
        // `network.host` grants the host's network, which `network: host` asks for.
        if entitlement != "network.host" {
            keys.push(format!(
                "entitlements {entitlement:?} (only `network.host` is granted)"
            ));
        }
    }
    if let Some(isolation) = build.isolation.as_deref()
        && isolation != "default"
    {
        keys.push(format!("isolation {isolation:?} (only `default` on Linux)"));
    }
    if !keys.is_empty() {
        bail!(
            "service {name:?}: build {} not supported; remove {} to build",
            keys.join(", "),
            if keys.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// A name a built image is stored under, as written and as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    pub text: String,
    pub reference: ImageRef,
}

/// The names a service's build is stored under: its image name (`image:` or
/// `<project>-<service>`), then `tags`.
pub fn names(project: &Project, name: &str, service: &Service) -> anyhow::Result<Vec<ImageName>> {
    let image = image_name(project, name, service);
    let mut names = vec![ImageName {
        reference: ImageRef::parse(&image)
            .map_err(|e| anyhow::anyhow!("service {name:?}: invalid image name {image:?}: {e}"))?,
        text: image,
    }];
    for tag in service.build.iter().flat_map(|b| &b.tags) {
        let reference = ImageRef::parse(tag)
            .map_err(|e| anyhow::anyhow!("service {name:?}: build.tags {tag:?}: {e}"))?;
        if !names.iter().any(|n| n.reference == reference) {
            names.push(ImageName {
                text: tag.clone(),
                reference,
            });
        }
    }
    Ok(names)
}

/// The services whose images `name`'s build reads (`additional_contexts: service:NAME`).
pub fn service_contexts(service: &Service) -> Vec<String> {
    service
        .build
        .iter()
        .flat_map(|b| b.additional_contexts.values())
        .filter_map(|v| v.strip_prefix("service:"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        crate::reconcile::test_project(yaml)
    }

    fn read_one(yaml: &str, service: &str) -> anyhow::Result<Read> {
        let project = project(yaml);
        let variables = |name: &str| (name == "TOKEN").then(|| "s3cret".to_owned());
        read(
            &project,
            service,
            &variables,
            &BTreeMap::new(),
            false,
            false,
        )
    }

    #[test]
    fn keys_with_a_local_meaning_are_applied() {
        let read = read_one(
            "services:\n  api:\n    build:\n      context: /src\n      labels: {a: b}\n      network: none\n      extra_hosts: [\"db=10.0.0.2\"]\n      shm_size: 128m\n      additional_contexts: {base: \"service:base\", tools: \"docker-image://busybox:latest\", dir: /other}\n      secrets: [token, {source: key, target: ssh_key}]\n      entitlements: [network.host]\n      cache_from: [type=local]\n  base:\n    build: /base\nsecrets:\n  token: {environment: TOKEN}\n  key: {file: /keys/id}\n",
            "api",
        )
        .unwrap();
        let recipe = read.recipe;
        assert_eq!(recipe.labels, [("a".into(), "b".into())].into());
        assert_eq!(recipe.network, Network::None);
        assert_eq!(recipe.extra_hosts, [("db".into(), "10.0.0.2".into())]);
        assert_eq!(recipe.shm_size, 128 << 20);
        assert_eq!(
            recipe.contexts,
            [
                ("base".into(), NamedContext::Service("base".into())),
                ("tools".into(), NamedContext::Image("busybox:latest".into())),
                ("dir".into(), NamedContext::Dir("/other".into())),
            ]
            .into()
        );
        assert_eq!(
            recipe.secrets,
            [
                (
                    "token".into(),
                    Secret::Value {
                        variable: "TOKEN".into(),
                        value: "s3cret".into()
                    }
                ),
                ("ssh_key".into(), Secret::File("/keys/id".into())),
            ]
            .into()
        );
        assert!(!format!("{recipe:?}").contains("s3cret"), "{recipe:?}");
        assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
        assert!(
            read.warnings[0].contains("cache_from"),
            "{:?}",
            read.warnings
        );
    }

    #[test]
    fn keys_without_a_local_meaning_are_errors_naming_the_service() {
        for (build, expected) in [
            ("network: bridge", "build.network \"bridge\""),
            ("network: host", "network.host entitlement"),
            ("entitlements: [security.insecure]", "security.insecure"),
            (
                "additional_contexts: {x: \"https://example.com/x.git\"}",
                "additional_contexts.x",
            ),
            (
                "additional_contexts: {x: \"service:nope\"}",
                "no service \"nope\"",
            ),
            ("secrets: [missing]", "not defined"),
        ] {
            let yaml = format!(
                "services:\n  api:\n    build:\n      context: /src\n      {build}\nsecrets:\n  other: {{file: /x}}\n"
            );
            let error = match read_one(&yaml, "api") {
                Ok(_) => panic!("{build} was accepted"),
                Err(error) => error.to_string(),
            };
            assert!(
                error.contains("service \"api\"") && error.contains(expected),
                "{build}: {error}"
            );
        }
    }

    #[test]
    fn the_host_network_is_granted_by_its_entitlement() {
        let read = read_one(
            "services:\n  api:\n    build:\n      context: /src\n      network: host\n      entitlements: [network.host]\n",
            "api",
        )
        .unwrap();
        assert_eq!(read.recipe.network, Network::Host);
        let read = read_one("services:\n  api:\n    build: /src\n", "api").unwrap();
        assert_eq!(read.recipe.network, Network::Default);
    }

    #[test]
    fn equal_builds_have_equal_recipes() {
        let project = project(
            "services:\n  a:\n    build: /src\n  b:\n    build: {context: /src}\n  c:\n    build: {context: /src, args: {X: '1'}}\n",
        );
        let variables = |_: &str| None;
        let recipe = |name| {
            read(&project, name, &variables, &BTreeMap::new(), false, false)
                .unwrap()
                .recipe
        };
        assert_eq!(recipe("a"), recipe("b"));
        assert_ne!(recipe("a"), recipe("c"));
    }
}
