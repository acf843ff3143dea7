//! Round trips of canonical documents, and the errors of bad ones.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::project::units::{ByteSize, Duration};

/// A canonical project as the loader produces it, every key in the order the model prints it.
fn canonical_project() -> Value {
    serde_json::from_str(CANONICAL_PROJECT).expect("CANONICAL_PROJECT is valid JSON")
}

const CANONICAL_PROJECT: &str = r#"{
        "name": "demo",
        "services": {
            "db": {
                "deploy": {
                    "endpoint_mode": "vip",
                    "labels": {"tier": "data"},
                    "mode": "replicated",
                    "placement": {
                        "constraints": ["node.role==manager"],
                        "max_replicas_per_node": 1,
                        "preferences": [{"spread": "node.labels.zone"}]
                    },
                    "replicas": 2,
                    "resources": {
                        "limits": {"cpus": 0.5, "memory": "536870912", "pids": 100},
                        "reservations": {
                            "cpus": 2,
                            "devices": [{
                                "capabilities": ["gpu"],
                                "count": -1,
                                "device_ids": ["0"],
                                "driver": "nvidia",
                                "options": {"virtualization": "false"}
                            }],
                            "generic_resources": [{"discrete_resource_spec": {"kind": "SSD", "value": 2}}],
                            "memory": "268435456"
                        }
                    },
                    "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "2m0s"},
                    "rollback_config": {"order": "stop-first", "parallelism": 1},
                    "update_config": {
                        "delay": "10s",
                        "failure_action": "rollback",
                        "max_failure_ratio": 0.25,
                        "monitor": "1m0s",
                        "order": "start-first",
                        "parallelism": 2
                    }
                },
                "environment": {"PGDATA": "/data", "POSTGRES_PASSWORD": null},
                "healthcheck": {
                    "interval": "10s",
                    "retries": 5,
                    "start_interval": "1s",
                    "start_period": "30s",
                    "test": ["CMD-SHELL", "pg_isready -U postgres"],
                    "timeout": "5s"
                },
                "image": "postgres:16",
                "networks": {"back": {"aliases": ["database"], "ipv4_address": "172.20.0.5", "priority": 100}},
                "secrets": [{"gid": "0", "mode": "0440", "source": "db_password", "target": "/run/secrets/db_password", "uid": "999"}],
                "volumes": [
                    {"source": "pgdata", "target": "/var/lib/postgresql/data", "type": "volume", "volume": {"nocopy": true, "subpath": "16"}}
                ]
            },
            "web": {
                "annotations": {"com.example.note": "x"},
                "attach": false,
                "blkio_config": {
                    "device_read_bps": [{"path": "/dev/sda", "rate": "12582912"}],
                    "weight": 300,
                    "weight_device": [{"path": "/dev/sda", "weight": 400}]
                },
                "build": {
                    "additional_contexts": {"resources": "/srv/resources"},
                    "args": {"GIT_COMMIT": null, "VERSION": "1.0"},
                    "cache_from": ["type=registry,ref=demo/web:cache"],
                    "context": "/srv/demo/web",
                    "dockerfile": "Dockerfile",
                    "labels": {"org.opencontainers.image.title": "web"},
                    "no_cache": true,
                    "platforms": ["linux/amd64"],
                    "provenance": "mode=max",
                    "pull": true,
                    "sbom": true,
                    "secrets": [{"source": "npm_token", "target": "npm"}],
                    "shm_size": "268435456",
                    "ssh": ["default", "deploy=/home/me/.ssh/id_ed25519"],
                    "tags": ["demo/web:latest"],
                    "target": "prod",
                    "ulimits": {"nofile": {"hard": 40000, "soft": 20000}}
                },
                "cap_add": ["NET_ADMIN"],
                "cgroup": "private",
                "command": ["npm", "start"],
                "configs": [{"mode": "0444", "source": "nginx_conf", "target": "/etc/nginx/nginx.conf"}],
                "cpus": 1.5,
                "depends_on": {
                    "cache": {"condition": "service_started", "required": false},
                    "db": {"condition": "service_healthy", "required": true, "restart": true}
                },
                "develop": {
                    "watch": [
                        {"action": "sync", "ignore": ["node_modules/"], "path": "/srv/demo/web/src", "target": "/app/src"},
                        {"action": "sync+exec", "exec": {"command": ["kill", "-HUP", "1"], "user": "root"}, "path": "/srv/demo/web/conf", "target": "/app/conf"},
                        {"action": "rebuild", "path": "/srv/demo/web/package.json"}
                    ]
                },
                "devices": [{"permissions": "rwm", "source": "/dev/fuse", "target": "/dev/fuse"}],
                "dns": ["8.8.8.8"],
                "entrypoint": [],
                "env_file": [{"path": "/srv/demo/web.env", "required": true}, {"format": "raw", "path": "/srv/demo/extra.env", "required": false}],
                "environment": {"NODE_ENV": "production"},
                "expose": ["3000", "9000-9010/udp"],
                "extra_hosts": ["host.docker.internal=host-gateway"],
                "gpus": [{"count": -1}],
                "group_add": ["audio", "1000"],
                "healthcheck": {"disable": true},
                "image": "demo/web:latest",
                "init": true,
                "labels": {"com.example.team": "web"},
                "logging": {"driver": "json-file", "options": {"max-file": "3", "max-size": "10m"}},
                "mem_limit": "1073741824",
                "memswap_limit": -1,
                "models": {"embed": null, "llm": {"endpoint_var": "LLM_URL", "model_var": "LLM_MODEL"}},
                "networks": {"back": null, "front": {"gw_priority": 1, "mac_address": "02:42:ac:11:00:02"}},
                "oom_score_adj": -500,
                "pids_limit": -1,
                "ports": [
                    {"host_ip": "127.0.0.1", "mode": "ingress", "protocol": "tcp", "published": "8080", "target": 80},
                    {"app_protocol": "http", "mode": "host", "name": "web-alt", "protocol": "udp", "published": "8000-8010", "target": 8000},
                    {"target": 9229}
                ],
                "post_start": [{"command": ["/bin/sh", "-c", "echo started"], "environment": {"A": "1"}, "privileged": true}],
                "pre_start": [{"command": ["migrate"], "image": "demo/migrate", "per_replica": true}],
                "pre_stop": [{"command": ["drain"], "working_dir": "/app"}],
                "privileged": true,
                "profiles": ["frontend"],
                "pull_policy": "missing",
                "read_only": true,
                "restart": "unless-stopped",
                "scale": 2,
                "security_opt": ["no-new-privileges:true"],
                "shm_size": "67108864",
                "stop_grace_period": "1m30s",
                "stop_signal": "SIGQUIT",
                "sysctls": {"net.core.somaxconn": "1024"},
                "tmpfs": ["/run"],
                "tty": true,
                "ulimits": {"nofile": {"hard": 40000, "soft": 20000}, "nproc": 65535},
                "user": "1000:1000",
                "volumes": [
                    {"bind": {"create_host_path": true, "propagation": "rprivate", "recursive": "readonly", "selinux": "z"}, "read_only": true, "source": "/srv/demo/web/static", "target": "/app/static", "type": "bind"},
                    {"target": "/cache", "tmpfs": {"mode": 1777, "size": "67108864"}, "type": "tmpfs"},
                    {"image": {"subpath": "assets"}, "source": "demo/assets:1", "target": "/assets", "type": "image"}
                ],
                "volumes_from": ["db:ro"],
                "working_dir": "/app"
            }
        },
        "networks": {
            "back": {
                "driver": "bridge",
                "driver_opts": {"com.docker.network.bridge.name": "br-back"},
                "enable_ipv6": true,
                "internal": true,
                "ipam": {
                    "config": [{"aux_addresses": {"router": "172.20.0.2"}, "gateway": "172.20.0.1", "ip_range": "172.20.0.0/25", "subnet": "172.20.0.0/16"}],
                    "driver": "default",
                    "options": {"foo": "bar"}
                },
                "labels": {"tier": "back"},
                "name": "demo_back"
            },
            "front": {"external": true, "name": "shared_front"}
        },
        "volumes": {
            "pgdata": {"driver": "local", "driver_opts": {"type": "tmpfs"}, "labels": {"backup": "daily"}, "name": "demo_pgdata"}
        },
        "secrets": {
            "db_password": {"file": "/srv/demo/db_password.txt", "name": "demo_db_password"},
            "npm_token": {"environment": "NPM_TOKEN", "name": "demo_npm_token"}
        },
        "configs": {
            "nginx_conf": {"content": "events {}", "name": "demo_nginx_conf"},
            "shared": {"external": true, "name": "shared"}
        },
        "models": {
            "llm": {"context_size": 4096, "model": "ai/smollm2", "runtime_flags": ["--verbose"]}
        }
    }"#;

/// Deserializes `value` as `T`, or the error message.
fn parse<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|error| error.to_string())
}

fn parse_ok<T: DeserializeOwned>(value: Value) -> T {
    parse(value).unwrap_or_else(|error| panic!("should deserialize: {error}"))
}

fn parse_err<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> String {
    match parse::<T>(value) {
        Ok(parsed) => panic!("should not deserialize, got {parsed:?}"),
        Err(error) => error,
    }
}

/// A service document with `key: value` and nothing else.
fn service_with(key: &str, value: Value) -> Value {
    let mut service = serde_json::Map::new();
    service.insert(key.to_owned(), value);
    Value::Object(service)
}

#[test]
fn canonical_project_round_trips_in_declared_order() {
    let input = canonical_project();
    let project: Project = parse_ok(input.clone());
    // Compare texts: `Value` equality ignores key order, and the order is what is tested here.
    let printed = serde_json::to_string_pretty(&project).unwrap();
    assert_eq!(printed, serde_json::to_string_pretty(&input).unwrap());
    let again: Project = parse_ok(serde_json::from_str(&printed).unwrap());
    assert_eq!(again, project);
}

#[test]
fn canonical_project_has_the_expected_values() {
    let project: Project = parse_ok(canonical_project());
    let web = &project.services["web"];
    assert_eq!(
        web.command.as_deref(),
        Some(&["npm".to_owned(), "start".to_owned()][..])
    );
    assert_eq!(web.entrypoint, Some(vec![]));
    assert_eq!(web.cpus, Some(1.5));
    assert_eq!(web.mem_limit, Some(ByteSize::from_bytes(1 << 30)));
    assert_eq!(web.memswap_limit, Some(ByteSize::from_bytes(-1)));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(90)));
    assert_eq!(web.depends_on["db"].condition, Condition::ServiceHealthy);
    assert!(web.depends_on["db"].restart);
    assert!(!web.depends_on["cache"].required);
    // `gpus: all` prints as the request it stands for.
    let Some(Gpus::Devices(gpus)) = &web.gpus else {
        panic!("expected device requests")
    };
    assert_eq!(gpus[0].count, Some(DeviceCount::All));
    assert_eq!(web.ulimits["nproc"], Ulimit::Single(65535));
    assert_eq!(web.ulimits["nofile"].soft(), 20000);
    assert_eq!(web.ulimits["nofile"].hard(), 40000);
    assert_eq!(web.networks["back"], None);
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[1].published.as_deref(), Some("8000-8010"));
    assert_eq!(web.volumes[0].kind, VolumeType::Bind);
    assert_eq!(
        web.volumes[0].bind.as_ref().and_then(|bind| bind.selinux),
        Some(SeLinux::Shared)
    );
    assert_eq!(
        web.volumes[1].tmpfs.as_ref().and_then(|tmpfs| tmpfs.size),
        Some(ByteSize::from_bytes(64 << 20))
    );
    assert_eq!(
        web.develop.as_ref().map(|develop| develop.watch[1].action),
        Some(WatchAction::SyncExec)
    );
    assert_eq!(web.configs[0].mode, Some(0o444));
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.args["GIT_COMMIT"], None);
    assert_eq!(
        build.provenance,
        Some(BoolOrString::String("mode=max".into()))
    );
    assert_eq!(build.sbom, Some(BoolOrString::Bool(true)));
    let db = &project.services["db"];
    assert_eq!(db.environment["POSTGRES_PASSWORD"], None);
    assert_eq!(db.secrets[0].mode, Some(0o440));
    let deploy = db.deploy.as_ref().unwrap();
    let resources = deploy.resources.as_ref().unwrap();
    assert_eq!(
        resources.limits.as_ref().and_then(|limits| limits.memory),
        Some(ByteSize::from_bytes(512 << 20))
    );
    assert_eq!(
        resources.reservations.as_ref().map(|r| r.devices[0].count),
        Some(Some(DeviceCount::All))
    );
    assert_eq!(
        deploy.update_config.as_ref().and_then(|u| u.order),
        Some(UpdateOrder::StartFirst)
    );
    assert_eq!(
        deploy.restart_policy.as_ref().and_then(|r| r.window),
        Some(Duration::from_secs(120))
    );
    assert!(project.networks["front"].external);
    assert_eq!(project.models["llm"].model, "ai/smollm2");
}

#[test]
fn name_is_printed_first_and_empty_collections_are_not_printed() {
    let project = Project {
        name: "p".into(),
        ..Project::default()
    };
    assert_eq!(
        serde_json::to_string(&project).unwrap(),
        r#"{"name":"p","services":{}}"#
    );
    let service: Service = parse_ok(json!({"image": "nginx"}));
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        r#"{"image":"nginx"}"#
    );
}

#[test]
fn explicit_empty_command_and_null_networks_are_printed() {
    let service: Service =
        parse_ok(json!({"command": [], "entrypoint": null, "networks": {"default": null}}));
    assert_eq!(service.command, Some(vec![]));
    assert_eq!(service.entrypoint, None);
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        r#"{"command":[],"networks":{"default":null}}"#
    );
}

#[test]
fn null_top_level_networks_and_volumes_are_defaults() {
    let project: Project =
        parse_ok(json!({"name": "p", "networks": {"default": null}, "volumes": {"data": null}}));
    assert_eq!(project.networks["default"], Network::default());
    assert_eq!(project.volumes["data"], Volume::default());
}

#[test]
fn unknown_keys_are_rejected_with_serde_message() {
    let error = parse_err::<Service>(json!({"imagee": "nginx"}));
    assert!(
        error.starts_with("unknown field `imagee`, expected one of `annotations`, `attach`, "),
        "{error}"
    );
    let error = parse_err::<Project>(json!({"name": "p", "version": "3"}));
    assert!(
        error.starts_with("unknown field `version`, expected one of `name`, `services`"),
        "{error}"
    );
    let error = parse_err::<Healthcheck>(json!({"intervl": "1s"}));
    assert_eq!(
        error,
        "unknown field `intervl`, expected one of `disable`, `interval`, `retries`, `start_interval`, \
         `start_period`, `test`, `timeout`"
    );
    let error = parse_err::<Project>(
        json!({"name": "p", "services": {"web": {"build": {"context": ".", "dockerfil": "x"}}}}),
    );
    assert!(
        error.starts_with("unknown field `dockerfil`, expected one of "),
        "{error}"
    );
    let error =
        parse_err::<Service>(json!({"ulimits": {"nofile": {"soft": 1, "hard": 2, "max": 3}}}));
    assert!(
        error.starts_with("unknown field `max`, expected `hard` or `soft`"),
        "{error}"
    );
    let error = parse_err::<Service>(json!({"gpus": [{"count": 1, "gpu": true}]}));
    assert!(
        error.starts_with("unknown field `gpu`, expected one of `capabilities`"),
        "{error}"
    );
    let error = parse_err::<Service>(json!({"x-custom": 1}));
    assert!(error.starts_with("unknown field `x-custom`"), "{error}");
}

#[test]
fn wrong_types_are_rejected() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "image",
            json!(["nginx"]),
            "invalid type: sequence, expected a string",
        ),
        (
            "ports",
            json!("80:80"),
            "invalid type: string \"80:80\", expected a sequence",
        ),
        (
            "command",
            json!("npm start"),
            "invalid type: string \"npm start\", expected a sequence",
        ),
        (
            "privileged",
            json!("maybe"),
            "invalid value: string \"maybe\", expected a boolean (true or false)",
        ),
        (
            "privileged",
            json!(1),
            "invalid value: integer `1`, expected a boolean (true or false)",
        ),
        (
            "cpus",
            json!("lots"),
            "invalid value: string \"lots\", expected a number",
        ),
        (
            "cpus",
            json!(true),
            "invalid type: boolean `true`, expected a number",
        ),
        (
            "scale",
            json!(-1),
            "invalid value: integer `-1`, expected a non-negative integer",
        ),
        (
            "scale",
            json!(1.5),
            "invalid value: floating point `1.5`, expected a non-negative integer",
        ),
        (
            "environment",
            json!("A=1"),
            "invalid type: string \"A=1\", expected a map of strings or a list of KEY=VALUE strings",
        ),
        (
            "labels",
            json!({"a": {"b": 1}}),
            "invalid type: map, expected a string",
        ),
        (
            "mem_limit",
            json!("lots"),
            "invalid size \"lots\": expected a number of bytes",
        ),
        (
            "stop_grace_period",
            json!("10x"),
            "invalid duration \"10x\": unknown unit \"x\"",
        ),
        (
            "stop_grace_period",
            json!(10),
            "invalid duration \"10\": missing unit",
        ),
        (
            "cgroup",
            json!("shared"),
            "unknown variant `shared`, expected `host` or `private`",
        ),
        (
            "depends_on",
            json!({"db": {"condition": "service_ready", "required": true}}),
            "unknown variant `service_ready`",
        ),
        (
            "depends_on",
            json!({"db": {"condition": "service_started"}}),
            "missing field `required`",
        ),
        (
            "volumes",
            json!([{"type": "disk", "target": "/x"}]),
            "unknown variant `disk`, expected one of `bind`, `volume`",
        ),
        ("volumes", json!([{"target": "/x"}]), "missing field `type`"),
        (
            "ports",
            json!([{"target": 70000}]),
            "invalid value: integer `70000`, expected an integer from 0 to 65535",
        ),
        (
            "ports",
            json!([{"published": "80"}]),
            "missing field `target`",
        ),
        (
            "ulimits",
            json!({"nofile": "many"}),
            "invalid value: string \"many\", expected an integer or a map with soft and hard",
        ),
        (
            "ulimits",
            json!({"nofile": {"soft": 1}}),
            "missing field `hard`",
        ),
        (
            "gpus",
            json!("some"),
            "invalid value: string \"some\", expected \"all\" or a list of device requests",
        ),
        (
            "secrets",
            json!([{"source": "s", "mode": "rw"}]),
            "invalid value: string \"rw\", expected a file mode",
        ),
        (
            "develop",
            json!({"watch": [{"path": "."}]}),
            "missing field `action`",
        ),
        (
            "develop",
            json!({"watch": [{"path": ".", "action": "copy"}]}),
            "unknown variant `copy`",
        ),
        (
            "deploy",
            json!({"update_config": {"order": "random"}}),
            "unknown variant `random`, expected `stop-first` or `start-first`",
        ),
        (
            "deploy",
            json!({"resources": {"reservations": {"devices": [{"count": "some"}]}}}),
            "invalid value: string \"some\", expected \"all\" or a number of devices",
        ),
        (
            "post_start",
            json!([{"user": "root"}]),
            "missing field `command`",
        ),
        (
            "extends",
            json!("base"),
            "invalid type: string \"base\", expected struct Extends",
        ),
    ];
    for (key, value, expected) in cases {
        let error = parse_err::<Service>(service_with(key, value.clone()));
        assert!(
            error.starts_with(expected),
            "{key}: {value}\n  got:      {error}\n  expected: {expected}"
        );
    }
}

#[test]
fn scalars_are_read_in_either_spelling() {
    let service: Service = parse_ok(json!({
        "cpus": "0.5",
        "cpu_rt_runtime": "950000",
        "user": 1000,
        "oom_score_adj": "-200",
        "privileged": "true",
        "tty": "False",
        "scale": "3",
        "expose": [80, "443"],
        "group_add": [1000],
        "ports": [{"target": "80", "published": 8080}],
        "secrets": [{"source": "s", "uid": 1000, "gid": 1000, "mode": 288}],
        "configs": [{"source": "c", "mode": "440"}],
        "labels": {"count": 3, "enabled": true, "ratio": 0.5},
        "mem_limit": "512m",
        "shm_size": "1gb",
        "ulimits": {"nofile": "1024", "core": {"soft": "0", "hard": -1}},
        "attach": "false",
        "blkio_config": {"weight": "300", "device_write_iops": [{"path": "/dev/sda", "rate": "1000"}]}
    }));
    assert_eq!(service.cpus, Some(0.5));
    assert_eq!(service.cpu_rt_runtime, Some(950_000));
    assert_eq!(service.user.as_deref(), Some("1000"));
    assert_eq!(service.oom_score_adj, Some(-200));
    assert!(service.privileged);
    assert!(!service.tty);
    assert_eq!(service.scale, Some(3));
    assert_eq!(service.expose, ["80", "443"]);
    assert_eq!(service.group_add, ["1000"]);
    assert_eq!(service.ports[0].target, 80);
    assert_eq!(service.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(service.secrets[0].uid.as_deref(), Some("1000"));
    assert_eq!(service.secrets[0].mode, Some(0o440));
    assert_eq!(service.configs[0].mode, Some(0o440));
    assert_eq!(service.labels["count"], "3");
    assert_eq!(service.labels["enabled"], "true");
    assert_eq!(service.labels["ratio"], "0.5");
    assert_eq!(service.mem_limit, Some(ByteSize::from_bytes(512 << 20)));
    assert_eq!(service.shm_size, Some(ByteSize::from_bytes(1 << 30)));
    assert_eq!(service.ulimits["nofile"], Ulimit::Single(1024));
    assert_eq!(
        service.ulimits["core"],
        Ulimit::SoftHard(UlimitRange { soft: 0, hard: -1 })
    );
    assert_eq!(service.attach, Some(false));
    let blkio = service.blkio_config.as_ref().unwrap();
    assert_eq!(blkio.weight, Some(300));
    assert_eq!(blkio.device_write_iops[0].rate, ByteSize::from_bytes(1000));
    // Printed in the canonical spelling.
    let printed = serde_json::to_value(&service).unwrap();
    assert_eq!(printed["cpus"], json!(0.5));
    assert_eq!(printed["user"], json!("1000"));
    assert_eq!(printed["mem_limit"], json!("536870912"));
    assert_eq!(printed["secrets"][0]["mode"], json!("0440"));
    assert_eq!(printed["ulimits"]["nofile"], json!(1024));
    assert_eq!(printed.get("tty"), None);
}

#[test]
fn whole_cpus_print_as_integers() {
    let service: Service =
        parse_ok(json!({"cpus": 2.0, "deploy": {"resources": {"limits": {"cpus": "4"}}}}));
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        r#"{"cpus":2,"deploy":{"resources":{"limits":{"cpus":4}}}}"#
    );
}

#[test]
fn string_or_list_and_list_or_dict_accept_both_forms() {
    let service: Service = parse_ok(json!({
        "dns": "1.1.1.1",
        "dns_search": ["a.example", "b.example"],
        "tmpfs": "/run",
        "label_file": "./labels",
        "environment": ["A=1", "B", "C=x=y"],
        "labels": ["a=1", "b"],
        "sysctls": null,
        "develop": {"watch": [{"action": "sync", "path": "/src", "ignore": "*.tmp", "include": ["*.js"]}]},
        "provider": {"type": "awesomecloud", "options": {"size": 1, "tags": ["a", "b"]}},
        "build": {"context": ".", "ssh": ["default", "key=/k"], "no_cache_filter": "deps"}
    }));
    assert_eq!(service.dns, ["1.1.1.1"]);
    assert_eq!(service.dns_search, ["a.example", "b.example"]);
    assert_eq!(service.tmpfs, ["/run"]);
    assert_eq!(service.label_file, ["./labels"]);
    assert_eq!(service.environment["A"].as_deref(), Some("1"));
    assert_eq!(service.environment["B"], None);
    assert_eq!(service.environment["C"].as_deref(), Some("x=y"));
    assert_eq!(service.labels["b"], "");
    assert!(service.sysctls.is_empty());
    let watch = &service.develop.as_ref().unwrap().watch[0];
    assert_eq!(watch.ignore, ["*.tmp"]);
    assert_eq!(watch.include, ["*.js"]);
    let provider = service.provider.as_ref().unwrap();
    assert_eq!(provider.kind, "awesomecloud");
    assert_eq!(provider.options["size"], ["1"]);
    assert_eq!(provider.options["tags"], ["a", "b"]);
    let build = service.build.as_ref().unwrap();
    assert_eq!(build.ssh["default"], None);
    assert_eq!(build.ssh["key"].as_deref(), Some("/k"));
    assert_eq!(build.no_cache_filter, ["deps"]);
}

#[test]
fn gpus_and_device_counts() {
    let service: Service = parse_ok(
        json!({"gpus": [{"count": 2, "driver": "nvidia"}, {"count": -1}, {"count": "3"}]}),
    );
    let Some(Gpus::Devices(devices)) = &service.gpus else {
        panic!("expected devices")
    };
    assert_eq!(devices[0].count, Some(DeviceCount::Count(2)));
    assert_eq!(devices[1].count, Some(DeviceCount::All));
    assert_eq!(devices[2].count, Some(DeviceCount::Count(3)));
    let all: Service = parse_ok(json!({"gpus": "all"}));
    assert_eq!(all.gpus, Some(Gpus::All));
    assert_eq!(
        serde_json::to_string(&all).unwrap(),
        r#"{"gpus":[{"count":-1}]}"#
    );
    assert_eq!(
        serde_json::to_string(&service).unwrap(),
        r#"{"gpus":[{"count":2,"driver":"nvidia"},{"count":-1},{"count":3}]}"#
    );
}
