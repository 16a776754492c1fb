//! GitHub's device flow on the fake's web side (`github.com`), as GitHub documents it
//! for OAuth Apps and GitHub Apps: `POST /login/device/code` issues a device code and a
//! user code; `POST /login/oauth/access_token` answers `authorization_pending` until
//! the test approves the code (as the person would on the site), `slow_down` (the
//! interval grown by 5 s) when polled sooner than the interval after the last poll,
//! `expired_token` once the code outlived `expires_in`, `access_denied` once the
//! test declines it, and otherwise the access token, once. Both answer 200 with
//! JSON when asked for JSON (`Accept: application/json`), else a form-encoded body,
//! as GitHub does.
//!
//! An approved code's token acts as the person who approved it: the fake accepts it
//! for REST and answers `GET /user` and a repository's `permissions` as that person.

use super::Answer;
use super::server::Shared;
use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// What `slow_down` adds to the interval.
const SLOW_DOWN_STEP: u64 = 5;

#[derive(Default)]
pub(super) struct DeviceFlow {
    /// The app whose device flow is on (None: off, GitHub's `device_flow_disabled`).
    client_id: Option<String>,
    interval: u64,
    expires_in: u64,
    grants: Vec<Grant>,
    /// Tokens the flow issued, and whose they are (lowercased login).
    pub(super) person_tokens: HashMap<String, String>,
    next: u64,
}

struct Grant {
    device_code: String,
    user_code: String,
    issued: Instant,
    /// The interval now (grown by each `slow_down`).
    interval: u64,
    expires_in: u64,
    last_poll: Option<Instant>,
    state: GrantState,
    /// The scope asked for.
    scope: String,
}

#[derive(Clone, PartialEq, Eq)]
enum GrantState {
    Pending,
    Approved(String),
    Denied,
    /// Its token was handed out: the code is spent.
    Spent,
}

/// A device code the fake issued, as the test sees it.
#[derive(Clone, Debug)]
pub struct FakeDeviceCode {
    pub user_code: String,
    pub scope: String,
    /// The least seconds between two polls now (grown by each `slow_down`).
    pub interval: u64,
}

impl DeviceFlow {
    pub(super) fn enable(&mut self, client_id: &str, interval: u64, expires_in: u64) {
        self.client_id = Some(client_id.to_owned());
        self.interval = interval;
        self.expires_in = expires_in;
    }

    pub(super) fn codes(&self) -> Vec<FakeDeviceCode> {
        self.grants
            .iter()
            .map(|g| FakeDeviceCode {
                user_code: g.user_code.clone(),
                scope: g.scope.clone(),
                interval: g.interval,
            })
            .collect()
    }

    /// The person `login` approves (`Some`) or declines (`None`) `user_code` on the
    /// site. Panics for a code the fake never issued.
    pub(super) fn decide(&mut self, user_code: &str, login: Option<&str>) {
        let grant = self
            .grants
            .iter_mut()
            .find(|g| g.user_code == user_code)
            .unwrap_or_else(|| panic!("the fake issued no device code {user_code}"));
        grant.state = match login {
            Some(login) => GrantState::Approved(login.to_lowercase()),
            None => GrantState::Denied,
        };
    }

    /// The person a token the flow issued acts as.
    pub(super) fn person(&self, token: &str) -> Option<&str> {
        self.person_tokens.get(token).map(String::as_str)
    }
}

/// `/login/...`: the device flow's two endpoints; anything else there is unrouted.
pub(super) fn serve(
    state: &Shared,
    method: &Method,
    segments: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let wants_json = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let answer = match (method, segments) {
        (&Method::POST, ["login", "device", "code"]) => device_code(state, &form),
        (&Method::POST, ["login", "oauth", "access_token"]) => access_token(state, &form),
        _ => {
            let mut answer = Answer::not_found();
            answer.unrouted = true;
            return answer;
        }
    };
    if wants_json {
        Answer::json(200, answer)
    } else {
        form_encoded(&answer)
    }
}

fn device_code(state: &Shared, form: &HashMap<String, String>) -> Value {
    let origin = state.origin.clone();
    let mut inner = state.inner();
    let flow = &mut inner.device;
    match (&flow.client_id, form.get("client_id")) {
        (None, _) => return error("device_flow_disabled"),
        (Some(ours), Some(theirs)) if ours == theirs => {}
        _ => return error("incorrect_client_credentials"),
    }
    flow.next += 1;
    let n = flow.next;
    let device_code = format!("{:040x}", 0x3584_d835_3055_7fdd_u128 * 1_000 + n as u128);
    // GitHub's user codes: eight characters, a dash in the middle.
    let user_code = format!("WDJB-{n:04}");
    flow.grants.push(Grant {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        issued: Instant::now(),
        interval: flow.interval,
        expires_in: flow.expires_in,
        last_poll: None,
        state: GrantState::Pending,
        scope: form.get("scope").cloned().unwrap_or_default(),
    });
    json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{origin}/login/device"),
        "expires_in": flow.expires_in,
        "interval": flow.interval,
    })
}

fn access_token(state: &Shared, form: &HashMap<String, String>) -> Value {
    let mut inner = state.inner();
    let flow = &mut inner.device;
    if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
        return error("unsupported_grant_type");
    }
    if flow.client_id.is_none() || form.get("client_id") != flow.client_id.as_ref() {
        return error("incorrect_client_credentials");
    }
    let Some(code) = form.get("device_code") else {
        return error("incorrect_device_code");
    };
    let Some(grant) = flow.grants.iter_mut().find(|g| &g.device_code == code) else {
        return error("incorrect_device_code");
    };
    let now = Instant::now();
    if now.duration_since(grant.issued) >= Duration::from_secs(grant.expires_in) {
        return error("expired_token");
    }
    let too_soon = grant
        .last_poll
        .is_some_and(|last| now.duration_since(last) < Duration::from_secs(grant.interval));
    grant.last_poll = Some(now);
    if too_soon {
        grant.interval += SLOW_DOWN_STEP;
        let mut answer = error("slow_down");
        answer["interval"] = json!(grant.interval);
        return answer;
    }
    match grant.state.clone() {
        GrantState::Pending => error("authorization_pending"),
        GrantState::Denied => error("access_denied"),
        GrantState::Spent => error("incorrect_device_code"),
        GrantState::Approved(login) => {
            grant.state = GrantState::Spent;
            let scope = grant.scope.clone();
            flow.next += 1;
            let token = format!("gho_fakePerson{:024}", flow.next);
            flow.person_tokens.insert(token.clone(), login);
            inner.tokens.insert(token.clone());
            json!({"access_token": token, "token_type": "bearer", "scope": scope})
        }
    }
}

/// GitHub's error answer for the device flow.
fn error(code: &str) -> Value {
    json!({
        "error": code,
        "error_description": match code {
            "authorization_pending" => "The authorization request is still pending.",
            "slow_down" => "Too many requests have been made in the same timeframe.",
            "expired_token" => "The device code has expired.",
            "access_denied" => "The authorization request was denied.",
            _ => "The request could not be completed.",
        },
        "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow",
    })
}

/// The same answer as `application/x-www-form-urlencoded`, GitHub's default.
fn form_encoded(answer: &Value) -> Answer {
    let pairs = answer
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Answer {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: body.into_bytes(),
        textual: true,
        git_service: None,
        unrouted: false,
    }
}
