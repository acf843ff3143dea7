//! Credentials as docker keeps them: `config.json` in `DOCKER_CONFIG` or `~/.docker`.
//!
//! Lookup order for a registry, as docker's CLI: `credHelpers[<key>]`, else `credsStore`, each run as
//! `docker-credential-<name> get` with the server's key on stdin; else `auths[<key>]` with a base64
//! `user:password` in `auth` (or `username`/`password`) and possibly an `identitytoken` (an OAuth
//! refresh token, used in the bearer flow instead of the password). Keys are compared by host, so
//! `https://registry.example/v1/` matches `registry.example`; Docker Hub's key is
//! `https://index.docker.io/v1/`.
//!
//! `login` stores where docker would: in the helper if one is configured for the registry, else in
//! `auths` (the file rewritten atomically, mode 0600, its other keys kept); `logout` erases.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::Error;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (basic auth, or the bearer flow's token request).
    Basic { username: String, password: String },
    /// An identity token (refresh token) for the bearer flow.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// The directory of docker's config: `DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".docker"))
}

fn config_path() -> Result<PathBuf, Error> {
    config_dir()
        .map(|dir| dir.join("config.json"))
        .ok_or_else(|| Error::Credentials("neither DOCKER_CONFIG nor HOME is set".to_owned()))
}

fn read_config() -> Result<Map<String, Value>, Error> {
    let path = config_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::Credentials(format!(
                "{}: not a JSON object",
                path.display()
            ))),
            Err(error) => Err(Error::Credentials(format!("{}: {error}", path.display()))),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(error) => Err(crate::store::IoError::new("read", path, error).into()),
    }
}

/// The host part of a config key (`https://index.docker.io/v1/` -> `index.docker.io`).
fn key_host(key: &str) -> &str {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// The helper configured for `key`, if any.
fn helper_for(config: &Map<String, Value>, key: &str) -> Option<String> {
    let host = key_host(key);
    if let Some(Value::Object(helpers)) = config.get("credHelpers")
        && let Some((_, Value::String(helper))) =
            helpers.iter().find(|(name, _)| key_host(name) == host)
    {
        return Some(helper.clone());
    }
    match config.get("credsStore") {
        Some(Value::String(store)) if !store.is_empty() => Some(store.clone()),
        _ => None,
    }
}

/// The credentials docker would use for the registry filed under `key`.
pub fn lookup(key: &str) -> Result<Option<Credential>, Error> {
    let config = read_config()?;
    if let Some(helper) = helper_for(&config, key) {
        return helper_get(&helper, key);
    }
    let host = key_host(key);
    let Some(Value::Object(auths)) = config.get("auths") else {
        return Ok(None);
    };
    let Some((_, Value::Object(entry))) = auths
        .iter()
        .find(|(name, _)| name.as_str() == key)
        .or_else(|| auths.iter().find(|(name, _)| key_host(name) == host))
    else {
        return Ok(None);
    };
    let text = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    if let Some(token) = text("identitytoken") {
        return Ok(Some(Credential::IdentityToken(token)));
    }
    if let Some(auth) = text("auth") {
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Error::Credentials(format!("the auth of {key} in config.json is not base64"))
            })?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            Error::Credentials(format!(
                "the auth of {key} in config.json is not user:password"
            ))
        })?;
        return Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Some(Credential::Basic { username, password })),
        _ => Ok(None),
    }
}

fn helper_command(helper: &str, action: &str) -> Command {
    let mut command = Command::new(format!("docker-credential-{helper}"));
    command
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(bool, String), Error> {
    let mut child = helper_command(helper, action).spawn().map_err(|error| {
        Error::Credentials(format!(
            "cannot run docker-credential-{helper} (configured in config.json): {error}"
        ))
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let output = child.wait_with_output().map_err(|error| {
        Error::Credentials(format!("docker-credential-{helper} {action}: {error}"))
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credential>, Error> {
    let (ok, text) = run_helper(helper, "get", key.as_bytes())?;
    if !ok {
        // The protocol's answer for "nothing stored".
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::Credentials(format!(
            "docker-credential-{helper} get {key}: {}",
            text.trim()
        )));
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| Error::Credentials(format!("docker-credential-{helper} get: {error}")))?;
    let username = value["Username"].as_str().unwrap_or_default().to_owned();
    let secret = value["Secret"].as_str().unwrap_or_default().to_owned();
    Ok(match (username.as_str(), secret.is_empty()) {
        (_, true) => None,
        ("<token>", false) => Some(Credential::IdentityToken(secret)),
        (_, false) => Some(Credential::Basic {
            username,
            password: secret,
        }),
    })
}

/// Stores credentials for the registry filed under `key`, where docker would; returns where.
pub fn store(key: &str, username: &str, password: &str) -> Result<String, Error> {
    let mut config = read_config()?;
    if let Some(helper) = helper_for(&config, key) {
        let input = json!({"ServerURL": key, "Username": username, "Secret": password});
        let (ok, text) = run_helper(&helper, "store", input.to_string().as_bytes())?;
        if !ok {
            return Err(Error::Credentials(format!(
                "docker-credential-{helper} store: {}",
                text.trim()
            )));
        }
        return Ok(format!("docker-credential-{helper}"));
    }
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().expect("made an object above");
    auths.retain(|name, _| name == key || key_host(name) != key_host(key));
    auths.insert(
        key.to_owned(),
        json!({"auth": STANDARD.encode(format!("{username}:{password}"))}),
    );
    write_config(&config)
}

/// Erases the credentials of `key`; returns whether there were any.
pub fn erase(key: &str) -> Result<bool, Error> {
    let mut config = read_config()?;
    if let Some(helper) = helper_for(&config, key) {
        let (ok, text) = run_helper(&helper, "erase", key.as_bytes())?;
        if !ok && !text.contains("credentials not found") {
            return Err(Error::Credentials(format!(
                "docker-credential-{helper} erase: {}",
                text.trim()
            )));
        }
        return Ok(ok);
    }
    let Some(Value::Object(auths)) = config.get_mut("auths") else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|name, _| key_host(name) != key_host(key));
    if auths.len() == before {
        return Ok(false);
    }
    write_config(&config)?;
    Ok(true)
}

fn write_config(config: &Map<String, Value>) -> Result<String, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(crate::store::ctx("create directory", dir))?;
    }
    let bytes = serde_json::to_vec_pretty(config)
        .map_err(|error| Error::Credentials(format!("cannot write config.json: {error}")))?;
    let temp = crate::store::atomic::temp_sibling(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(crate::store::ctx("create", &temp))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(crate::store::ctx("write", &temp))?;
    std::fs::rename(&temp, &path).map_err(crate::store::ctx("rename into place", &path))?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_host() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(key_host("registry.example:5000"), "registry.example:5000");
        assert_eq!(key_host("http://registry.example/"), "registry.example");
    }
}
