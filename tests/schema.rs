//! The typed model against the Compose Specification's JSON schema: every attribute the schema
//! defines is a field of the model, and the model accepts no key the schema lacks.
//!
//! A struct's accepted keys are read from serde's own message for an unknown key ("unknown field
//! `x`, expected one of `a`, `b`"), so this checks what deserialization really accepts, renames and
//! all. The schema is `../shared/compose-spec/compose-spec.json`; it is test data, not vendored.

use std::collections::BTreeSet;
use std::fmt::Debug;

mod common;

use rcompose::project::model::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

const BOGUS_KEY: &str = "zz_not_a_compose_key";

/// The keys a model type accepts, in declaration order, from serde's "unknown field" message.
fn declared_keys<T: DeserializeOwned + Debug>() -> Vec<String> {
    let mut document = Map::new();
    document.insert(BOGUS_KEY.to_owned(), Value::Null);
    let error = match serde_json::from_value::<T>(Value::Object(document)) {
        Ok(parsed) => panic!(
            "{} accepted an unknown key: {parsed:?}",
            std::any::type_name::<T>()
        ),
        Err(error) => error.to_string(),
    };
    let prefix = format!("unknown field `{BOGUS_KEY}`, expected ");
    let Some(expected) = error.strip_prefix(&prefix) else {
        panic!(
            "{}: not serde's unknown-field message: {error}",
            std::any::type_name::<T>()
        );
    };
    // "`a`", "`a` or `b`", "one of `a`, `b`, `c`": the names are the back-quoted words.
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The keys a model type accepts.
fn accepted_keys<T: DeserializeOwned + Debug>() -> BTreeSet<String> {
    declared_keys::<T>().into_iter().collect()
}

/// The nearest object definition at or below `node`: through `$ref`, `oneOf`/`anyOf` branches,
/// array `items` and `patternProperties` values (so `services.*.depends_on` finds the long form).
fn find_object<'a>(schema: &'a Value, node: &'a Value) -> Option<&'a Map<String, Value>> {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let target = schema.pointer(reference.trim_start_matches('#'))?;
        return find_object(schema, target);
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        return Some(properties);
    }
    let branches = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|key| node.get(*key).and_then(Value::as_array))
        .flatten();
    let items = node.get("items").into_iter();
    let patterns = node
        .get("patternProperties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|map| map.values());
    branches
        .chain(items)
        .chain(patterns)
        .find_map(|child| find_object(schema, child))
}

/// The property names of the object definition at `pointer` (a JSON pointer into the schema).
fn schema_keys(schema: &Value, pointer: &str) -> BTreeSet<String> {
    let node = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("schema has no {pointer}"));
    let properties =
        find_object(schema, node).unwrap_or_else(|| panic!("schema {pointer} defines no object"));
    properties.keys().cloned().collect()
}

/// Asserts the model type accepts exactly the keys the schema defines at `pointer`, declared in
/// alphabetical order (the order `docker compose config` prints them in).
fn check<T: DeserializeOwned + Debug>(schema: &Value, pointer: &str) -> usize {
    let expected = schema_keys(schema, pointer);
    let declared = declared_keys::<T>();
    let accepted: BTreeSet<String> = declared.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&accepted).collect();
    let extra: Vec<_> = accepted.difference(&expected).collect();
    let name = std::any::type_name::<T>();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name} vs schema {pointer}:\n  in the schema, not accepted by the model: {missing:?}\n  \
         accepted by the model, not in the schema: {extra:?}"
    );
    assert!(
        declared.is_sorted(),
        "{name}: fields are not declared in alphabetical order: {declared:?}"
    );
    expected.len()
}

#[test]
fn every_service_attribute_is_a_model_field() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    assert_eq!(
        check::<Service>(&schema, "/$defs/service"),
        93,
        "the schema has 93 service attributes"
    );
    // `extends` is consumed by the loader, but it is part of the model all the same.
    assert!(accepted_keys::<Service>().contains("extends"));
}

#[test]
fn top_level_elements_are_model_fields_except_version_and_include() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    let mut expected = schema_keys(&schema, "");
    // The loader consumes `version` (obsolete) and `include` (merged in) before the typed stage.
    for consumed in ["version", "include"] {
        assert!(
            expected.remove(consumed),
            "the schema has a top-level `{consumed}`"
        );
    }
    let accepted = accepted_keys::<Project>();
    assert!(!accepted.contains("version") && !accepted.contains("include"));
    assert_eq!(accepted, expected);
    // Unlike the other types, the project prints in docker compose's order, `name` first.
    let order = [
        "name", "services", "networks", "volumes", "secrets", "configs", "models",
    ];
    assert_eq!(declared_keys::<Project>(), order);
}

#[test]
fn top_level_definitions_match() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    check::<Network>(&schema, "/$defs/network");
    check::<Ipam>(&schema, "/$defs/network/properties/ipam");
    check::<IpamPool>(&schema, "/$defs/network/properties/ipam/properties/config");
    check::<Volume>(&schema, "/$defs/volume");
    check::<Secret>(&schema, "/$defs/secret");
    check::<Config>(&schema, "/$defs/config");
    check::<Model>(&schema, "/$defs/model");
}

#[test]
fn deploy_healthcheck_build_and_develop_match() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    check::<Deploy>(&schema, "/$defs/deployment");
    let deployment = "/$defs/deployment/properties";
    check::<UpdateConfig>(&schema, &format!("{deployment}/update_config"));
    check::<UpdateConfig>(&schema, &format!("{deployment}/rollback_config"));
    check::<Resources>(&schema, &format!("{deployment}/resources"));
    check::<Limits>(
        &schema,
        &format!("{deployment}/resources/properties/limits"),
    );
    check::<Reservations>(
        &schema,
        &format!("{deployment}/resources/properties/reservations"),
    );
    check::<RestartPolicy>(&schema, &format!("{deployment}/restart_policy"));
    check::<Placement>(&schema, &format!("{deployment}/placement"));
    check::<PlacementPreference>(
        &schema,
        &format!("{deployment}/placement/properties/preferences"),
    );
    check::<GenericResource>(&schema, "/$defs/generic_resources");
    check::<DiscreteResourceSpec>(
        &schema,
        "/$defs/generic_resources/items/properties/discrete_resource_spec",
    );
    check::<DeviceRequest>(&schema, "/$defs/devices");
    check::<DeviceRequest>(&schema, "/$defs/gpus");
    check::<Healthcheck>(&schema, "/$defs/healthcheck");
    check::<Build>(&schema, "/$defs/service/properties/build");
    check::<Develop>(&schema, "/$defs/development");
    check::<WatchRule>(&schema, "/$defs/development/properties/watch");
}

#[test]
fn service_sub_structures_match() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    let service = "/$defs/service/properties";
    check::<BlkioConfig>(&schema, &format!("{service}/blkio_config"));
    check::<BlkioLimit>(&schema, "/$defs/blkio_limit");
    check::<BlkioWeight>(&schema, "/$defs/blkio_weight");
    check::<CredentialSpec>(&schema, &format!("{service}/credential_spec"));
    check::<DependsOn>(&schema, &format!("{service}/depends_on"));
    check::<Device>(&schema, &format!("{service}/devices"));
    check::<Extends>(&schema, &format!("{service}/extends"));
    check::<Provider>(&schema, &format!("{service}/provider"));
    check::<Logging>(&schema, &format!("{service}/logging"));
    check::<ServiceModel>(&schema, &format!("{service}/models"));
    check::<ServiceNetwork>(&schema, &format!("{service}/networks"));
    check::<Port>(&schema, &format!("{service}/ports"));
    check::<ServiceVolume>(&schema, &format!("{service}/volumes"));
    let mount = format!("{service}/volumes/items/oneOf/1/properties");
    check::<BindOptions>(&schema, &format!("{mount}/bind"));
    check::<VolumeOptions>(&schema, &format!("{mount}/volume"));
    check::<TmpfsOptions>(&schema, &format!("{mount}/tmpfs"));
    check::<ImageOptions>(&schema, &format!("{mount}/image"));
    check::<Hook>(&schema, "/$defs/service_hook");
    check::<PreStartHook>(&schema, "/$defs/pre_start_hook");
    check::<EnvFile>(&schema, "/$defs/env_file");
    check::<FileReference>(&schema, "/$defs/service_config_or_secret");
    check::<UlimitRange>(&schema, "/$defs/ulimits");
}

#[test]
fn accepted_keys_reads_every_serde_message_form() {
    // One field ("expected `a`"), two ("`a` or `b`"), many ("one of `a`, `b`, `c`").
    assert_eq!(
        accepted_keys::<ImageOptions>(),
        BTreeSet::from(["subpath".to_owned()])
    );
    assert_eq!(
        accepted_keys::<UlimitRange>(),
        BTreeSet::from(["hard".to_owned(), "soft".to_owned()])
    );
    assert_eq!(accepted_keys::<CredentialSpec>().len(), 3);
}

#[test]
fn check_fails_on_a_missing_or_an_extra_key() {
    let schema = serde_json::json!({
        "$defs": {
            "missing": {"properties": {"subpath": {}, "another": {}}},
            "extra": {"type": "object", "properties": {}},
            "nested": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/image"}]},
            "image": {"properties": {"subpath": {}}}
        }
    });
    let outcome = |pointer: &'static str| {
        let schema = schema.clone();
        std::panic::catch_unwind(move || check::<ImageOptions>(&schema, pointer)).is_ok()
    };
    assert!(!outcome("/$defs/missing"));
    assert!(!outcome("/$defs/extra"));
    assert!(outcome("/$defs/nested"));
}
