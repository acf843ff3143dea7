//! Planner tests: a project from YAML, a snapshot written in code, and the plan's text.

use std::collections::BTreeMap;

use super::plan::{DownOptions, PlanOptions, Recreate, RemoveImages, plan, plan_down};
use super::snapshot::{ObservedContainer, ObservedResource, Snapshot, State};
use crate::hash;
use crate::project::model::Project;

fn project(yaml: &str) -> Project {
    crate::reconcile::test_project(yaml)
}

/// A running container of `service` created from the service as `project` defines it now.
fn running(project: &Project, service: &str, number: u32) -> ObservedContainer {
    let definition = &project.services[service];
    ObservedContainer {
        id: format!("{service}{number}id"),
        name: format!("demo-{service}-{number}"),
        service: service.to_string(),
        number,
        oneoff: false,
        state: State::Running,
        config_hash: hash::container_hash(project, definition),
        config: Some(hash::container_config(project, definition)),
        image_id: None,
    }
}

fn resources(names: &[&str]) -> BTreeMap<String, ObservedResource> {
    names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                ObservedResource {
                    name: n.to_string(),
                    config_hash: None,
                },
            )
        })
        .collect()
}

fn up() -> PlanOptions {
    PlanOptions {
        start: true,
        ..PlanOptions::default()
    }
}

fn check(project: &Project, snapshot: &Snapshot, options: &PlanOptions, expected: &str) {
    let actual = plan(project, snapshot, options).expect("plan").to_string();
    assert_eq!(actual, expected, "\n--- actual\n{actual}");
}

const APP: &str = "
services:
  db:
    image: postgres
    volumes: [data:/var/lib/postgresql/data]
    healthcheck: {test: pg_isready}
  web:
    image: nginx
    environment: {LOG: info}
    depends_on:
      db: {condition: service_healthy, restart: true}
  worker:
    image: busybox
    depends_on: [web]
volumes:
  data:
";

#[test]
fn a_fresh_project_is_created_in_dependency_order() {
    let project = project(APP);
    check(
        &project,
        &Snapshot::default(),
        &up(),
        "#1 create network demo_default: not found
#2 create volume demo_data: not found
#3 create container demo-db-1: no container (after #1, #2)
#4 start container demo-db-1: created (after #3)
#5 create container demo-web-1: no container (after #1)
#6 wait healthy container demo-db-1: web depends on it (after #4)
#7 start container demo-web-1: created (after #5, #6)
#8 create container demo-worker-1: no container (after #1)
#9 start container demo-worker-1: created (after #7, #8)
",
    );
}

#[test]
fn nothing_changed_means_nothing_to_do() {
    let project = project(APP);
    let snapshot = Snapshot {
        containers: vec![
            running(&project, "db", 1),
            running(&project, "web", 1),
            running(&project, "worker", 1),
        ],
        networks: resources(&["demo_default"]),
        volumes: resources(&["demo_data"]),
        images: BTreeMap::new(),
    };
    check(&project, &snapshot, &up(), "");
}

#[test]
fn a_changed_setting_recreates_that_service_and_restarts_its_restart_dependents() {
    let before = project(APP);
    let after = project(
        &APP.replace("image: postgres", "image: postgres:16")
            .replace("LOG: info", "LOG: debug"),
    );
    let snapshot = Snapshot {
        containers: vec![
            running(&before, "db", 1),
            running(&before, "web", 1),
            running(&before, "worker", 1),
        ],
        networks: resources(&["demo_default"]),
        volumes: resources(&["demo_data"]),
        images: BTreeMap::new(),
    };
    check(
        &after,
        &snapshot,
        &up(),
        "#1 stop container demo-db-1: image changed
#2 remove container demo-db-1: image changed (after #1)
#3 create container demo-db-1: image changed (after #2)
#4 start container demo-db-1: recreated (after #3)
#5 stop container demo-web-1: environment.LOG changed
#6 remove container demo-web-1: environment.LOG changed (after #5)
#7 create container demo-web-1: environment.LOG changed (after #6)
#8 wait healthy container demo-db-1: web depends on it (after #4)
#9 start container demo-web-1: recreated (after #7, #8)
",
    );
    // The worker depends on web without `restart: true`: it is left alone.
}

#[test]
fn a_dependency_recreated_restarts_dependents_that_ask_for_it() {
    let before = project(APP);
    let after = project(&APP.replace("image: postgres", "image: postgres:16"));
    let snapshot = Snapshot {
        containers: vec![
            running(&before, "db", 1),
            running(&before, "web", 1),
            running(&before, "worker", 1),
        ],
        networks: resources(&["demo_default"]),
        volumes: resources(&["demo_data"]),
        images: BTreeMap::new(),
    };
    let text = plan(&after, &snapshot, &up()).unwrap().to_string();
    assert!(
        text.ends_with("#5 wait healthy container demo-db-1: web depends on it (after #4)\n#6 restart container demo-web-1: dependency db was recreated (after #5)\n"),
        "{text}"
    );
}

#[test]
fn scale_up_and_down() {
    let project = project("services:\n  api:\n    image: busybox\n    deploy: {replicas: 2}\n");
    let mut three = running(&project, "api", 3);
    three.state = State::Exited(1);
    let snapshot = Snapshot {
        containers: vec![running(&project, "api", 1), three],
        networks: resources(&["demo_default"]),
        ..Snapshot::default()
    };
    check(
        &project,
        &snapshot,
        &up(),
        "#1 remove container demo-api-3: scale down to 2
#2 create container demo-api-2: scale up to 2
#3 start container demo-api-2: created (after #2)
",
    );
    let mut options = up();
    options.scale.insert("api".to_string(), 1);
    let snapshot = Snapshot {
        containers: vec![running(&project, "api", 1), running(&project, "api", 2)],
        ..snapshot
    };
    check(
        &project,
        &snapshot,
        &options,
        "#1 stop container demo-api-2: scale down to 1
#2 remove container demo-api-2: scale down to 1 (after #1)
",
    );
}

#[test]
fn a_finished_one_shot_is_not_run_again_but_a_failed_one_is() {
    let project = project(
        "services:\n  migrate:\n    image: busybox\n  app:\n    image: busybox\n    restart: always\n",
    );
    let mut migrate = running(&project, "migrate", 1);
    migrate.state = State::Exited(0);
    let mut app = running(&project, "app", 1);
    app.state = State::Exited(0);
    let snapshot = Snapshot {
        containers: vec![migrate.clone(), app],
        networks: resources(&["demo_default"]),
        ..Snapshot::default()
    };
    check(
        &project,
        &snapshot,
        &up(),
        "#1 start container demo-app-1: exited with code 0\n",
    );
    // Stopped (by `stop`, Ctrl-C) rather than ended on its own: a service like any other, started
    // again whatever its code.
    let mut stopped = migrate.clone();
    stopped.state = State::Stopped(0);
    let with_stopped = Snapshot {
        containers: vec![stopped, running(&project, "app", 1)],
        ..snapshot.clone()
    };
    check(
        &project,
        &with_stopped,
        &up(),
        "#1 start container demo-migrate-1: stopped\n",
    );
    migrate.state = State::Exited(2);
    let snapshot = Snapshot {
        containers: vec![migrate],
        ..snapshot
    };
    let text = plan(&project, &snapshot, &up()).unwrap().to_string();
    assert!(
        text.contains("start container demo-migrate-1: exited with code 2"),
        "{text}"
    );
}

#[test]
fn orphans_are_reported_or_removed() {
    let project = project("services:\n  web:\n    image: nginx\n");
    let old = ObservedContainer {
        service: "old".to_string(),
        name: "demo-old-1".to_string(),
        ..running(&project, "web", 1)
    };
    let snapshot = Snapshot {
        containers: vec![running(&project, "web", 1), old],
        networks: resources(&["demo_default"]),
        ..Snapshot::default()
    };
    let text = plan(&project, &snapshot, &up()).unwrap().to_string();
    assert_eq!(
        text,
        "warning: Found orphan containers ([demo-old-1]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n"
    );
    let options = PlanOptions {
        remove_orphans: true,
        ..up()
    };
    check(
        &project,
        &snapshot,
        &options,
        "#1 stop container demo-old-1: orphan: its service is no longer in the project
#2 remove container demo-old-1: orphan: its service is no longer in the project (after #1)
",
    );
    // A service the files define but the active profiles leave out has no orphans, and
    // --remove-orphans leaves its containers alone.
    let options = PlanOptions {
        disabled_services: ["old".to_string()].into(),
        ..options
    };
    check(&project, &snapshot, &options, "");
}

#[test]
fn recreate_policies_and_service_selection() {
    let project = project(APP);
    let snapshot = Snapshot {
        containers: vec![running(&project, "db", 1), running(&project, "web", 1)],
        networks: resources(&["demo_default"]),
        volumes: resources(&["demo_data"]),
        images: BTreeMap::new(),
    };
    let options = PlanOptions {
        services: vec!["web".to_string()],
        no_deps: true,
        recreate: Recreate::Force,
        ..up()
    };
    check(
        &project,
        &snapshot,
        &options,
        "#1 stop container demo-web-1: --force-recreate
#2 remove container demo-web-1: --force-recreate (after #1)
#3 create container demo-web-1: --force-recreate (after #2)
#4 start container demo-web-1: recreated (after #3)
",
    );
    // --force-recreate of a named service leaves its dependency alone unless
    // --always-recreate-deps (docker compose's two strategies).
    let options = PlanOptions {
        services: vec!["web".to_string()],
        recreate: Recreate::Force,
        ..up()
    };
    let text = plan(&project, &snapshot, &options).unwrap().to_string();
    assert!(!text.contains("stop container demo-db-1"), "{text}");
    let options = PlanOptions {
        recreate_dependencies: Recreate::Force,
        ..options
    };
    let text = plan(&project, &snapshot, &options).unwrap().to_string();
    assert!(
        text.contains("#1 stop container demo-db-1: --always-recreate-deps"),
        "{text}"
    );
    let changed = self::project(&APP.replace("LOG: info", "LOG: debug"));
    let options = PlanOptions {
        recreate: Recreate::Never,
        services: vec!["web".to_string()],
        ..up()
    };
    check(&changed, &snapshot, &options, "");
    let options = PlanOptions {
        services: vec!["nope".to_string()],
        ..up()
    };
    assert_eq!(
        plan(&project, &snapshot, &options).unwrap_err().to_string(),
        "no such service: nope"
    );
}

#[test]
fn a_missing_external_network_is_an_error() {
    let project = project(
        "services:\n  web:\n    image: nginx\n    networks: [shared]\nnetworks:\n  shared:\n    external: true\n",
    );
    let error = plan(&project, &Snapshot::default(), &up()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "network shared declared as external, but could not be found (looked for \"shared\")"
    );
}

#[test]
fn networks_and_volumes_whose_configuration_changed_are_kept_with_a_warning() {
    let project = project(APP);
    let changed = |name: &str, hash: Option<&str>| {
        (
            name.to_string(),
            ObservedResource {
                name: name.to_string(),
                config_hash: hash.map(str::to_string),
            },
        )
    };
    let mut snapshot = Snapshot {
        containers: ["db", "web", "worker"]
            .iter()
            .map(|s| running(&project, s, 1))
            .collect(),
        networks: BTreeMap::from([changed("demo_default", Some("old"))]),
        volumes: BTreeMap::from([changed("demo_data", Some("old"))]),
        ..Snapshot::default()
    };
    let warnings = plan(&project, &snapshot, &up()).expect("plan").warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("network demo_default exists but its configuration changed"));
    assert!(warnings[1].starts_with("volume demo_data exists but doesn't match"));
    // Made elsewhere (no hash label): taken as it is.
    snapshot.networks = BTreeMap::from([changed("demo_default", None)]);
    snapshot.volumes = BTreeMap::from([changed("demo_data", None)]);
    let warnings = plan(&project, &snapshot, &up()).expect("plan").warnings;
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn down_stops_dependents_first_then_removes_then_volumes() {
    let project = project(APP);
    let mut worker = running(&project, "worker", 1);
    worker.state = State::Exited(0);
    let snapshot = Snapshot {
        containers: vec![
            running(&project, "db", 1),
            running(&project, "web", 1),
            worker,
        ],
        networks: resources(&["demo_default"]),
        volumes: BTreeMap::from([
            (
                "demo_data".to_string(),
                ObservedResource {
                    name: "demo_data".to_string(),
                    config_hash: Some("h".to_string()),
                },
            ),
            (
                "demo-web-1_0123".to_string(),
                ObservedResource {
                    name: "demo-web-1_0123".to_string(),
                    config_hash: None,
                },
            ),
        ]),
        images: BTreeMap::new(),
    };
    let plan = plan_down(
        &project,
        &snapshot,
        &DownOptions {
            volumes: true,
            remove_orphans: false,
            images: None,
        },
    );
    assert_eq!(
        plan.to_string(),
        "#1 stop container demo-web-1: down
#2 stop container demo-db-1: down (after #1)
#3 remove container demo-worker-1: down
#4 remove container demo-web-1: down (after #1)
#5 remove container demo-db-1: down (after #2)
#6 remove network demo_default: down (after #3, #4, #5)
#7 remove volume demo_data: down -v (after #3, #4, #5)
#8 remove volume demo-web-1_0123: anonymous volume of the project (after #3, #4, #5)
"
    );
}

#[test]
fn one_off_containers_are_not_replicas_but_down_removes_them() {
    let project = project(APP);
    let mut one_off = running(&project, "web", 1);
    one_off.id = "runid".to_string();
    one_off.name = "demo-web-run-0123456789ab".to_string();
    one_off.oneoff = true;
    let mut containers: Vec<ObservedContainer> = ["db", "web", "worker"]
        .iter()
        .map(|s| running(&project, s, 1))
        .collect();
    containers.push(one_off);
    let snapshot = Snapshot {
        containers,
        networks: resources(&["demo_default"]),
        volumes: resources(&["demo_data"]),
        images: BTreeMap::new(),
    };
    // `up`: the one-off neither counts as web's replica nor is scaled away.
    check(&project, &snapshot, &up(), "");
    let plan = plan_down(&project, &snapshot, &DownOptions::default()).to_string();
    assert!(
        plan.contains("stop container demo-web-run-0123456789ab: down")
            && plan.contains("remove container demo-web-run-0123456789ab: down"),
        "{plan}"
    );
}

#[test]
fn a_volumes_from_user_is_created_after_the_containers_it_borrows_from() {
    let project = project(
        "services:\n  data:\n    image: x\n    volumes: [/shared]\n  app:\n    image: x\n    volumes_from: [data]\n  other:\n    image: x\n    volumes_from: [\"container:demo-data-1:ro\"]\n    depends_on: [data]\n",
    );
    let snapshot = Snapshot {
        networks: resources(&["demo_default"]),
        ..Snapshot::default()
    };
    check(
        &project,
        &snapshot,
        &up(),
        "#1 create container demo-data-1: no container\n\
         #2 start container demo-data-1: created (after #1)\n\
         #3 create container demo-app-1: no container (after #1)\n\
         #4 start container demo-app-1: created (after #2, #3)\n\
         #5 create container demo-other-1: no container (after #1)\n\
         #6 start container demo-other-1: created (after #2, #5)\n",
    );
}

#[test]
fn down_rmi_removes_images_after_the_containers_all_or_only_untagged_ones() {
    let project = project(
        "
services:
  web:
    image: nginx
  api:
    image: nginx
  worker:
    build: .
  job:
    build: .
    image: demo/job:1
  gone:
    build: .
",
    );
    let snapshot = Snapshot {
        containers: vec![running(&project, "web", 1)],
        // `demo-gone` is not in the store: nothing to remove.
        images: BTreeMap::from([
            ("nginx".to_string(), "sha256:1".to_string()),
            ("demo-worker".to_string(), "sha256:2".to_string()),
            ("demo/job:1".to_string(), "sha256:3".to_string()),
        ]),
        ..Snapshot::default()
    };
    let down = |images| {
        plan_down(
            &project,
            &snapshot,
            &DownOptions {
                images,
                ..DownOptions::default()
            },
        )
        .to_string()
    };
    assert_eq!(
        down(Some(RemoveImages::All)),
        "#1 stop container demo-web-1: down
#2 remove container demo-web-1: down (after #1)
#3 remove image nginx: down --rmi all (after #2)
#4 remove image demo/job:1: down --rmi all (after #2, #3)
#5 remove image demo-worker: down --rmi all (after #2, #4)
"
    );
    assert_eq!(
        down(Some(RemoveImages::Local)),
        "#1 stop container demo-web-1: down
#2 remove container demo-web-1: down (after #1)
#3 remove image demo-worker: down --rmi local: no custom tag (after #2)
"
    );
    assert!(!down(None).contains("image"));
}
