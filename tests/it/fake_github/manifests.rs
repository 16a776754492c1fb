//! GitHub's App-manifest flow ("Registering a GitHub App from a manifest"):
//!
//! - `POST /settings/apps/new?state=…` (or `/organizations/{org}/settings/apps/new`)
//!   with the form field `manifest`: GitHub shows the App's page and, once the person
//!   clicks Create, makes the App and redirects to the manifest's `redirect_url` with
//!   `?code=…&state=…`. The fake makes it at once and answers that 302. A manifest
//!   without `url` or `hook_attributes.url` is 422; a name already taken is 422.
//! - `POST /app-manifests/{code}/conversions` (no authentication: the code is the
//!   credential): 201 with the App, its `client_id`, `client_secret`,
//!   `webhook_secret` and `pem` (the private key), for a code it issued within the
//!   hour; any other code, and a code already traded, is 404. Codes work once.
//!
//! The App's key is `tests/data/github/manifest-app-key.pem`. Once the test installs
//! the App ([`FakeGithub::install_manifest_app`]), the fake accepts only JWTs signed
//! with that key for it.

use super::json;
use super::server::{Answer, Shared};
use super::{FakeGithub, Inner};
use axum::http::Method;
use rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRIVATE_KEY: &str = include_str!("../../data/github/manifest-app-key.pem");
const PUBLIC_KEY: &str = include_str!("../../data/github/manifest-app-key.pub.pem");
/// GitHub's codes expire after an hour.
const CODE_LIFETIME: Duration = Duration::from_secs(3600);

/// An App made from a manifest, as the test sees it.
#[derive(Clone, Debug)]
pub struct ManifestApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// The account it was made for: an organization, or the person (`ada`).
    pub owner: String,
    /// The manifest as posted.
    pub manifest: Value,
    /// The `state` the form was posted with, handed back in the redirect.
    pub state: String,
    pub client_id: String,
    pub webhook_secret: String,
    pub pem: String,
    /// Whether its code was traded for it.
    pub converted: bool,
}

#[derive(Default)]
pub(super) struct Manifests {
    /// Codes not yet traded, with the App each stands for and when it was issued.
    codes: HashMap<String, (u64, Instant)>,
    made: Vec<ManifestApp>,
    /// Apps installed by the test: their JWTs must be signed with their key.
    installed: Vec<u64>,
}

impl Manifests {
    /// The slug of the App made from a manifest as `app_id`, if it was.
    pub(in crate::fake_github) fn slug_of(&self, app_id: u64) -> Option<String> {
        self.made
            .iter()
            .find(|a| a.id == app_id)
            .map(|a| a.slug.clone())
    }

    /// Whether a JWT for `app_id` is signed with that App's key (any JWT is, for an
    /// App the fake did not make from a manifest).
    pub(super) fn signed_by(&self, token: &str, app_id: u64) -> bool {
        if !self.installed.contains(&app_id) {
            return true;
        }
        let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()) else {
            return false;
        };
        let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
    }
}

/// The manifest flow's routes; None for every other request.
pub(super) fn serve(
    state: &Arc<Shared>,
    method: &Method,
    segments: &[&str],
    query: &str,
    body: &[u8],
) -> Option<Answer> {
    if method != Method::POST {
        return None;
    }
    match segments {
        ["settings", "apps", "new"] => Some(make_app(state, None, query, body)),
        ["organizations", org, "settings", "apps", "new"] => {
            Some(make_app(state, Some(org), query, body))
        }
        ["app-manifests", code, "conversions"] => Some(convert(state, code)),
        _ => None,
    }
}

fn field(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

/// GitHub's slug of an App's name: lower case, every other character a dash.
fn slug_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn make_app(state: &Arc<Shared>, org: Option<&str>, query: &str, body: &[u8]) -> Answer {
    let Some(manifest) =
        field(body, "manifest").and_then(|m| serde_json::from_str::<Value>(&m).ok())
    else {
        return Answer::error(422, "Invalid manifest");
    };
    let (Some(_), Some(_), Some(redirect)) = (
        manifest["url"].as_str(),
        manifest["hook_attributes"]["url"].as_str(),
        manifest["redirect_url"].as_str(),
    ) else {
        return Answer::error(
            422,
            "Validation Failed: url and hook_attributes.url are required",
        );
    };
    let name = manifest["name"].as_str().unwrap_or("app").to_owned();
    let slug = slug_of(&name);
    let mut inner = state.inner();
    if inner.manifests.made.iter().any(|a| a.slug == slug) {
        return Answer::error(422, "Name is already in use");
    }
    let id = inner.next_id();
    let code = random_hex(20);
    let setup_state = field(query.as_bytes(), "state").unwrap_or_default();
    inner
        .manifests
        .codes
        .insert(code.clone(), (id, Instant::now()));
    inner.manifests.made.push(ManifestApp {
        id,
        slug,
        name,
        owner: org.unwrap_or("ada").to_owned(),
        manifest: manifest.clone(),
        state: setup_state.clone(),
        client_id: format!("Iv23li{}", random_hex(14)),
        webhook_secret: random_hex(40),
        pem: PRIVATE_KEY.to_owned(),
        converted: false,
    });
    let location =
        url::Url::parse_with_params(redirect, [("code", &code), ("state", &setup_state)])
            .map(String::from)
            .unwrap_or_default();
    let mut answer = Answer::json(302, json!({}));
    answer.headers.push(("location".into(), location));
    answer
}

fn convert(state: &Arc<Shared>, code: &str) -> Answer {
    let mut inner = state.inner();
    let Some((id, issued)) = inner.manifests.codes.remove(code) else {
        return Answer::not_found();
    };
    if issued.elapsed() > CODE_LIFETIME {
        return Answer::not_found();
    }
    let origin = state.origin.clone();
    let Some(app) = inner.manifests.made.iter_mut().find(|a| a.id == id) else {
        return Answer::not_found();
    };
    app.converted = true;
    let app = app.clone();
    Answer::json(201, conversion(&origin, &mut inner, &app))
}

/// GitHub's documented answer: the App, with its credentials.
fn conversion(origin: &str, inner: &mut Inner, app: &ManifestApp) -> Value {
    let owner_id = inner.user_id(&app.owner);
    let now = json::now();
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_kwDO{:08}", app.id),
        "client_id": app.client_id,
        "owner": json::user(origin, &app.owner, owner_id),
        "name": app.name,
        "description": app.manifest["description"],
        "external_url": app.manifest["url"],
        "html_url": format!("{origin}/apps/{}", app.slug),
        "created_at": now,
        "updated_at": now,
        "permissions": app.manifest["default_permissions"],
        "events": app.manifest["default_events"],
        "installations_count": 0,
        "client_secret": random_hex(40),
        "webhook_secret": app.webhook_secret,
        "pem": app.pem,
    })
}

impl FakeGithub {
    /// Every App made from a manifest, in order.
    pub fn manifest_apps(&self) -> Vec<ManifestApp> {
        self.inner().manifests.made.clone()
    }

    /// The person installs the App made from a manifest on the fake's repositories
    /// (as `installation_id`): from now on it mints installation tokens, with JWTs
    /// signed by its own key only.
    pub fn install_manifest_app(&self, app_id: u64, installation_id: u64) {
        self.enable_app(app_id, installation_id);
        self.inner().manifests.installed.push(app_id);
    }
}
