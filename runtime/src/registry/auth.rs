//! Registry authentication: the `WWW-Authenticate` challenge of a 401, and the header that answers it.
//!
//! `Basic` is answered with the credentials directly. `Bearer realm=..,service=..,scope=..` (Docker
//! Hub's flow, the distribution token spec) is answered with a token from the realm for the scopes
//! the session needs plus the one the challenge names (a push that mounts from another repository
//! needs `pull` there): a GET with basic credentials (or none: anonymous tokens), or, with an identity
//! token, the OAuth POST with `grant_type=refresh_token`. A later 401 (an expired token,
//! `insufficient_scope`) asks again.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::credentials::Credential;

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        error: Option<String>,
    },
}

impl Challenge {
    /// Parses a header value (`Bearer realm="https://auth",service="registry",scope="..."`).
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Self::Basic),
            "bearer" => {
                let params = parse_params(rest);
                Some(Self::Bearer {
                    realm: params.get("realm")?.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                    error: params.get("error").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas and escaped quotes.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    params
}

/// The `Authorization` header for basic auth.
pub fn basic_header(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

/// How to ask a token server for a token.
pub struct TokenRequest {
    pub url: String,
    /// For an identity token: the OAuth form to POST (otherwise a GET).
    pub form: Option<Vec<(String, String)>>,
    /// The basic `Authorization` header of a GET with a user name and password.
    pub header: Option<String>,
}

/// The token request for a bearer challenge.
pub fn token_request(
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credential: Option<&Credential>,
) -> TokenRequest {
    match credential {
        Some(Credential::IdentityToken(token)) => {
            let mut form = vec![
                ("grant_type".to_owned(), "refresh_token".to_owned()),
                ("refresh_token".to_owned(), token.clone()),
                ("client_id".to_owned(), "rcompose".to_owned()),
                ("scope".to_owned(), scopes.join(" ")),
            ];
            if let Some(service) = service {
                form.push(("service".to_owned(), service.to_owned()));
            }
            TokenRequest {
                url: realm.to_owned(),
                form: Some(form),
                header: None,
            }
        }
        _ => {
            let mut url = realm.to_owned();
            let mut separator = if url.contains('?') { '&' } else { '?' };
            let mut add = |key: &str, value: &str| {
                url.push(separator);
                url.push_str(key);
                url.push('=');
                url.push_str(&encode(value));
                separator = '&';
            };
            if let Some(service) = service {
                add("service", service);
            }
            for scope in scopes {
                add("scope", scope);
            }
            let header = match credential {
                Some(Credential::Basic { username, password }) => {
                    Some(basic_header(username, password))
                }
                _ => None,
            };
            TokenRequest {
                url,
                form: None,
                header,
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The token of a token server's JSON answer (`token`, or OAuth's `access_token`).
pub fn token_from(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["token", "access_token"]
        .iter()
        .find_map(|key| value[key].as_str().filter(|t| !t.is_empty()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenges() {
        let challenge = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            challenge,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".to_owned(),
                service: Some("registry.docker.io".to_owned()),
                scope: Some("repository:library/redis:pull".to_owned()),
                error: Some("insufficient_scope".to_owned()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn token_requests_carry_service_scopes_and_credentials() {
        let scopes = vec![
            "repository:app:pull,push".to_owned(),
            "repository:base:pull".to_owned(),
        ];
        let credential = Credential::Basic {
            username: "u".to_owned(),
            password: "p".to_owned(),
        };
        let TokenRequest { url, form, header } = token_request(
            "http://127.0.0.1:1/token",
            Some("reg"),
            &scopes,
            Some(&credential),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:1/token?service=reg&scope=repository%3Aapp%3Apull%2Cpush&scope=repository%3Abase%3Apull"
        );
        assert!(form.is_none());
        assert_eq!(header.unwrap(), "Basic dTpw");
        let TokenRequest { form, header, .. } = token_request(
            "https://auth",
            None,
            &scopes,
            Some(&Credential::IdentityToken("t".to_owned())),
        );
        assert!(header.is_none());
        assert!(
            form.unwrap()
                .contains(&("grant_type".to_owned(), "refresh_token".to_owned()))
        );
        assert_eq!(
            token_from(br#"{"access_token":"abc"}"#).as_deref(),
            Some("abc")
        );
    }
}
