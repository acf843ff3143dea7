//! One blocking HTTP session with a registry for one repository: ureq over rustls (the system's roots),
//! plain HTTP only where `resolve` allows it.
//!
//! Every request goes through [`Session::send`], which owns the two recoveries of the protocol:
//! - a 401 is answered once per kind: the challenge (`auth`) gives a header, and the request is sent
//!   again; a bearer token that expired or lacks a scope (`insufficient_scope`) gets a fresh one; a
//!   401 that credentials do not fix is [`Error::Unauthorized`];
//! - 429, 5xx and broken connections are retried with exponential backoff (`Retry-After` when the
//!   registry gives a short one), so a flaky link or a registry restarting does not fail a pull.
//!   Bodies are re-opened for each attempt (a file, or a stream made again), never buffered.
//!
//! Redirects (blob downloads go to storage backends) are followed without the `Authorization`
//! header, which belongs to the registry alone.

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{self, Response};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use super::Error;
use super::auth::{self, Challenge};
use super::credentials::{self, Credential};
use super::resolve::Endpoint;

/// Attempts for a request that fails transiently (the first one included).
const ATTEMPTS: u32 = 5;
/// Largest manifest or JSON document read into memory (distribution refuses manifests over 4 MiB).
pub const JSON_LIMIT: u64 = 8 << 20;

/// What a request sends.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A file, sent with its length.
    File(&'a Path),
    /// A stream of unknown length (sent chunked), made again for each attempt.
    Stream(&'a (dyn Fn() -> Result<Box<dyn Read + Send>, Error> + Sync)),
}

/// A session with one registry, for one repository and a set of token scopes.
pub struct Session {
    agent: Agent,
    pub endpoint: Endpoint,
    pub repository: String,
    scopes: Vec<String>,
    credential: Option<Credential>,
    authorization: Mutex<Option<String>>,
}

fn agent() -> Agent {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .user_agent(concat!("rcompose/", env!("CARGO_PKG_VERSION")))
        // Never decompress: blobs are verified as the registry stores them.
        .accept_encoding("identity")
        .build()
        .into()
}

impl Session {
    /// Opens a session for `repository` with `actions` (`pull`, `push`) on it and the `extra` token
    /// scopes, and pings `/v2/` (which authenticates, if the registry asks).
    pub fn open(
        endpoint: &Endpoint,
        repository: &str,
        actions: &str,
        extra: &[String],
    ) -> Result<Self, Error> {
        let credential = credentials::lookup(&endpoint.credential_key)?;
        let mut scopes = vec![format!("repository:{repository}:{actions}")];
        scopes.extend(extra.iter().cloned());
        let session = Session {
            agent: agent(),
            endpoint: endpoint.clone(),
            repository: repository.to_owned(),
            scopes,
            credential,
            authorization: Mutex::new(None),
        };
        let ping = format!("{}/v2/", endpoint.base);
        let response = session.send("GET", &ping, &[], &Payload::Empty)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(status_error(&ping, response));
        }
        Ok(session)
    }

    /// `<base>/v2/<repository>/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.endpoint.base, self.repository)
    }

    /// Resolves a `Location` header against the registry's base.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.endpoint.base)
        } else {
            format!("{}/{location}", self.endpoint.base)
        }
    }

    /// Sends a request, authenticating and retrying as the module doc says.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
    ) -> Result<Response<Body>, Error> {
        let mut attempt = 0;
        let mut authenticated = 0;
        loop {
            let sent_authorization = self.current_authorization();
            let result = self.call(method, url, headers, payload, sent_authorization.as_deref());
            let response = match result? {
                Ok(response) => response,
                Err(error) => {
                    if attempt + 1 < ATTEMPTS && is_transient_ureq(&error) {
                        backoff(attempt, None);
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Connection {
                        url: url.to_owned(),
                        message: error.to_string(),
                    });
                }
            };
            let status = response.status().as_u16();
            if status == 401 {
                authenticated += 1;
                if authenticated > 2 {
                    return Err(self.unauthorized(response));
                }
                let challenge = response
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(Challenge::parse);
                let Some(challenge) = challenge else {
                    return Err(self.unauthorized(response));
                };
                if challenge == Challenge::Basic && sent_authorization.is_some() {
                    return Err(self.unauthorized(response));
                }
                self.authenticate(&challenge)?;
                continue;
            }
            if (status == 429 || matches!(status, 500 | 502 | 503 | 504)) && attempt + 1 < ATTEMPTS
            {
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .filter(|seconds| *seconds <= 30)
                    .map(Duration::from_secs);
                backoff(attempt, retry_after);
                attempt += 1;
                continue;
            }
            return Ok(response);
        }
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
        authorization: Option<&str>,
    ) -> Result<Result<Response<Body>, ureq::Error>, Error> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        if let Some(authorization) = authorization {
            builder = builder.header(http::header::AUTHORIZATION, authorization);
        }
        let invalid =
            |error: http::Error| Error::Invalid(format!("request {method} {url}: {error}"));
        match payload {
            Payload::Empty => {
                let request = builder.body(()).map_err(invalid)?;
                Ok(self.agent.run(request))
            }
            Payload::Bytes(bytes) => {
                let request = builder.body(*bytes).map_err(invalid)?;
                Ok(self.agent.run(request))
            }
            Payload::File(path) => {
                let file = std::fs::File::open(path).map_err(crate::store::ctx("open", path))?;
                let request = builder.body(file).map_err(invalid)?;
                Ok(self.agent.run(request))
            }
            Payload::Stream(open) => {
                let mut reader = open()?;
                let request = builder
                    .body(SendBody::from_reader(&mut reader))
                    .map_err(invalid)?;
                Ok(self.agent.run(request))
            }
        }
    }

    /// Gets the header that answers `challenge`.
    fn authenticate(&self, challenge: &Challenge) -> Result<(), Error> {
        let header = match challenge {
            Challenge::Basic => match &self.credential {
                Some(Credential::Basic { username, password }) => {
                    auth::basic_header(username, password)
                }
                _ => {
                    return Err(Error::Unauthorized {
                        registry: self.endpoint.registry.clone(),
                        message: "the registry needs a login".to_owned(),
                    });
                }
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
                ..
            } => {
                let mut scopes = self.scopes.clone();
                if let Some(scope) = scope
                    && !scopes.contains(scope)
                {
                    scopes.push(scope.clone());
                }
                format!("Bearer {}", self.token(realm, service.as_deref(), &scopes)?)
            }
        };
        *self
            .authorization
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(header);
        Ok(())
    }

    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, Error> {
        let auth::TokenRequest { url, form, header } =
            auth::token_request(realm, service, scopes, self.credential.as_ref());
        let connection = |error: ureq::Error| Error::Connection {
            url: realm.to_owned(),
            message: error.to_string(),
        };
        let mut attempt = 0;
        loop {
            let result = match &form {
                Some(form) => self
                    .agent
                    .post(&url)
                    .send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                None => {
                    let mut request = self.agent.get(&url);
                    if let Some(header) = &header {
                        request = request.header("Authorization", header);
                    }
                    request.call()
                }
            };
            let response = match result {
                Err(error) if attempt + 1 < ATTEMPTS && is_transient_ureq(&error) => {
                    backoff(attempt, None);
                    attempt += 1;
                    continue;
                }
                other => other.map_err(connection)?,
            };
            let status = response.status().as_u16();
            if matches!(status, 429 | 500 | 502 | 503 | 504) && attempt + 1 < ATTEMPTS {
                backoff(attempt, None);
                attempt += 1;
                continue;
            }
            let body = read_json_body(&url, response, status)?;
            if status == 401 || status == 403 {
                return Err(Error::Unauthorized {
                    registry: self.endpoint.registry.clone(),
                    message: format!(
                        "the token server refused {}{}",
                        if self.credential.is_some() {
                            "the credentials"
                        } else {
                            "an anonymous token"
                        },
                        error_detail(&body).map_or(String::new(), |d| format!(" ({d})"))
                    ),
                });
            }
            if status != 200 {
                return Err(Error::Status {
                    url: realm.to_owned(),
                    status,
                    message: error_detail(&body).unwrap_or_default(),
                });
            }
            return auth::token_from(&body).ok_or_else(|| {
                Error::Invalid(format!("the token server {realm} answered without a token"))
            });
        }
    }

    fn unauthorized(&self, response: Response<Body>) -> Error {
        let had_credentials = self.credential.is_some();
        let body = read_json_body("", response, 401).unwrap_or_default();
        let detail = error_detail(&body).unwrap_or_default();
        Error::Unauthorized {
            registry: self.endpoint.registry.clone(),
            message: match (had_credentials, detail.is_empty()) {
                (true, true) => "wrong user name or password".to_owned(),
                (true, false) => format!("wrong user name or password ({detail})"),
                (false, true) => "the registry needs a login".to_owned(),
                (false, false) => format!("the registry needs a login ({detail})"),
            },
        }
    }
}

/// Reads a small body (an error document, a token).
pub fn read_json_body(url: &str, response: Response<Body>, _status: u16) -> Result<Vec<u8>, Error> {
    response
        .into_body()
        .with_config()
        .limit(JSON_LIMIT)
        .read_to_vec()
        .map_err(|error| Error::Connection {
            url: url.to_owned(),
            message: error.to_string(),
        })
}

/// The message of a distribution error document (`{"errors":[{"code":..,"message":..}]}`).
pub fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = value["errors"].as_array()?;
    let texts: Vec<String> = errors
        .iter()
        .map(|error| {
            let code = error["code"].as_str().unwrap_or_default();
            let message = error["message"].as_str().unwrap_or_default();
            match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("{code}: {message}"),
                (false, true) => code.to_owned(),
                _ => message.to_owned(),
            }
        })
        .filter(|text| !text.is_empty())
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// An unexpected status as an error, with the registry's own message.
pub fn status_error(url: &str, response: Response<Body>) -> Error {
    let status = response.status().as_u16();
    let body = read_json_body(url, response, status).unwrap_or_default();
    Error::Status {
        url: url.to_owned(),
        status,
        message: error_detail(&body).unwrap_or_default(),
    }
}

fn is_transient_ureq(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// Waits before attempt `attempt + 1`: 250 ms doubling, or what the registry asked for.
pub fn backoff(attempt: u32, asked: Option<Duration>) {
    let delay = asked.unwrap_or_else(|| Duration::from_millis(250 << attempt.min(5)));
    std::thread::sleep(delay);
}

/// Checks credentials against a registry, as `docker login` does: a ping that must authenticate.
pub fn check_login(endpoint: &Endpoint, credential: &Credential) -> Result<(), Error> {
    let session = Session {
        agent: agent(),
        endpoint: endpoint.clone(),
        repository: String::new(),
        scopes: Vec::new(),
        credential: Some(credential.clone()),
        authorization: Mutex::new(None),
    };
    let ping = format!("{}/v2/", endpoint.base);
    let response = session.send("GET", &ping, &[], &Payload::Empty)?;
    match response.status().as_u16() {
        200 => Ok(()),
        _ => Err(status_error(&ping, response)),
    }
}
