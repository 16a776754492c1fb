//! The fake's state and its one handler: every request is judged (which credential),
//! possibly failed on purpose, routed to git or REST, and recorded.

use super::records::{
    Auth, CommentKind, FakeComment, FakePull, FakeReaction, FakeRequest, MintedToken,
};
use super::{git, json, rest};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

pub(super) struct Shared {
    pub(super) origin: String,
    pub(super) bot_login: String,
    /// GIT_PROJECT_ROOT: `{root}/{owner}/{repo}.git`.
    pub(super) root: PathBuf,
    pub(super) _dir: tempfile::TempDir,
    pub(super) inner: Mutex<Inner>,
    pub(super) recorded: Notify,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) tokens: HashSet<String>,
    pub(super) revoked: HashSet<String>,
    pub(super) app: Option<App>,
    pub(super) minted: Vec<MintedToken>,
    /// Keyed by lowercased full name (GitHub's names are case-insensitive).
    pub(super) repos: BTreeMap<String, Repo>,
    pub(super) users: HashMap<String, u64>,
    pub(super) next_id: u64,
    pub(super) comments: Vec<CommentRec>,
    pub(super) reactions: Vec<FakeReaction>,
    pub(super) pulls: Vec<PullRec>,
    pub(super) failures: VecDeque<Failure>,
    /// Requests to hold without an answer, as (method, path prefix), each used once.
    /// Requests to hang on: `(METHOD, path prefix, stall)`; with `stall`, the answer's
    /// head and the first bytes of its body are sent before it hangs.
    pub(super) holds: VecDeque<(String, String, bool)>,
    /// `METHOD path` of each request held so far (never answered).
    pub(super) held: Vec<String>,
    pub(super) requests: Vec<FakeRequest>,
    /// Apps made from manifests, and their codes.
    pub(super) manifests: super::manifests::Manifests,
    /// GitHub's device flow, and the people its tokens act as.
    pub(super) device: super::device::DeviceFlow,
}

#[derive(Clone, Copy)]
pub(super) struct App {
    pub(super) app_id: u64,
    pub(super) installation_id: u64,
}

pub(super) struct Repo {
    pub(super) id: u64,
    pub(super) owner: String,
    pub(super) name: String,
    pub(super) private: bool,
    /// Lowercased login -> admin | maintain | write | triage | read | none.
    pub(super) permissions: HashMap<String, String>,
    /// Issues and pull requests share one number space.
    pub(super) last_number: u64,
}

impl Repo {
    pub(super) fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

#[derive(Clone)]
pub(super) struct CommentRec {
    pub(super) id: u64,
    pub(super) repo: String,
    pub(super) issue: u64,
    pub(super) kind: CommentKind,
    pub(super) author: String,
    pub(super) history: Vec<String>,
    pub(super) via_app: bool,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

#[derive(Clone)]
pub(super) struct PullRec {
    pub(super) id: u64,
    pub(super) repo: String,
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) head: String,
    pub(super) head_owner: String,
    pub(super) base: String,
    pub(super) head_sha: String,
    pub(super) base_sha: String,
    pub(super) state: String,
    pub(super) draft: bool,
    pub(super) author: String,
    pub(super) via_app: bool,
    pub(super) edits: usize,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

pub(super) struct Failure {
    pub(super) method: String,
    pub(super) path_prefix: String,
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Shared {
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    pub(super) fn user_id(&mut self, login: &str) -> u64 {
        let next = 1000 + self.users.len() as u64;
        *self.users.entry(login.to_lowercase()).or_insert(next)
    }
}

impl CommentRec {
    pub(super) fn body(&self) -> &str {
        self.history.last().map(String::as_str).unwrap_or_default()
    }

    pub(super) fn public(&self) -> FakeComment {
        FakeComment {
            id: self.id,
            repo: self.repo.clone(),
            issue: self.issue,
            author: self.author.clone(),
            body: self.body().to_owned(),
            history: self.history.clone(),
            via_app: self.via_app,
        }
    }
}

impl PullRec {
    pub(super) fn public(self, current_sha: Option<String>) -> FakePull {
        FakePull {
            number: self.number,
            title: self.title,
            body: self.body,
            head: self.head,
            head_owner: self.head_owner,
            base: self.base,
            head_sha: current_sha.unwrap_or(self.head_sha),
            state: self.state,
            draft: self.draft,
            author: self.author,
            edits: self.edits,
        }
    }
}

/// What a route answers, before it becomes an HTTP response.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// Record the body as text (REST JSON, git error text; not pack data).
    pub(super) textual: bool,
    pub(super) git_service: Option<String>,
    pub(super) unrouted: bool,
}

impl Answer {
    pub(super) fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(&body).unwrap(),
            textual: true,
            git_service: None,
            unrouted: false,
        }
    }

    /// GitHub's error shape: `{"message", "documentation_url", "status"}`.
    pub(super) fn error(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            serde_json::json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }

    pub(super) fn not_found() -> Answer {
        Answer::error(404, "Not Found")
    }
}

/// The credential in a request and how it was sent.
pub(super) struct Credential {
    pub(super) scheme: Option<String>,
    pub(super) auth: Auth,
}

impl Shared {
    pub(super) fn judge(&self, headers: &HeaderMap) -> Credential {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Credential {
                scheme: None,
                auth: Auth::Missing,
            };
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let secret = match scheme.to_ascii_lowercase().as_str() {
            "bearer" | "token" => Some(rest.to_owned()),
            // Basic: the password is the token (the user name is anything).
            "basic" => base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_owned())),
            _ => None,
        };
        let auth = match secret {
            None => Auth::Rejected,
            Some(secret) => self.classify(&secret, scheme.eq_ignore_ascii_case("bearer")),
        };
        Credential {
            scheme: Some(scheme.to_owned()),
            auth,
        }
    }

    pub(super) fn classify(&self, secret: &str, bearer: bool) -> Auth {
        let inner = self.inner();
        if inner.revoked.contains(secret) {
            return Auth::Rejected;
        }
        if inner.tokens.contains(secret) {
            return Auth::Pat(secret.to_owned());
        }
        if let Some(minted) = inner.minted.iter().find(|m| m.token == secret) {
            return if json::is_future(&minted.expires_at) {
                Auth::Installation(minted.token.clone())
            } else {
                Auth::Rejected
            };
        }
        match inner.app {
            Some(app)
                if bearer
                    && json::valid_app_jwt(secret, app.app_id)
                    && inner.manifests.signed_by(secret, app.app_id) =>
            {
                Auth::AppJwt
            }
            _ => Auth::Rejected,
        }
    }

    /// The full names an installation token may reach (None: every repository).
    pub(super) fn token_scope(&self, auth: &Auth) -> Option<Vec<String>> {
        let Auth::Installation(token) = auth else {
            return None;
        };
        let inner = self.inner();
        let minted = inner.minted.iter().find(|m| &m.token == token)?;
        (!minted.repositories.is_empty()).then(|| minted.repositories.clone())
    }

    pub(super) fn may_reach(&self, auth: &Auth, full_name: &str) -> bool {
        self.token_scope(auth)
            .is_none_or(|scope| scope.iter().any(|r| r.eq_ignore_ascii_case(full_name)))
    }

    /// Whether to hang on this request: `None` no; `Some(stall)` yes, after the head
    /// and the first bytes of a body when `stall`.
    pub(super) fn take_hold(&self, method: &str, path: &str) -> Option<bool> {
        let mut inner = self.inner();
        let at = inner
            .holds
            .iter()
            .position(|(m, prefix, _)| m == method && path.starts_with(prefix.as_str()))?;
        inner.holds.remove(at).map(|(_, _, stall)| stall)
    }

    pub(super) fn take_failure(&self, method: &str, path: &str) -> Option<Failure> {
        let mut inner = self.inner();
        let at = inner
            .failures
            .iter()
            .position(|f| f.method == method && path.starts_with(&f.path_prefix))?;
        inner.failures.remove(at)
    }
}

pub(super) async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = axum::body::to_bytes(body, 256 << 20)
        .await
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let hold = state.take_hold(method.as_str(), &path);
    if hold.is_some() {
        state.inner().held.push(format!("{method} {path}"));
        state.recorded.notify_waiters();
    }
    if hold == Some(false) {
        // GitHub never answers this one: the client gives up or dies waiting.
        std::future::pending::<()>().await;
    }
    let credential = state.judge(&headers);
    let (answer, injected) = match state.take_failure(method.as_str(), &path) {
        Some(failure) => (Answer::json(failure.status, failure.body), true),
        None => (
            route(&state, &method, &path, &query, &headers, &credential, &body).await,
            false,
        ),
    };
    let record = FakeRequest {
        method: method.to_string(),
        path,
        query,
        scheme: credential.scheme,
        auth: credential.auth,
        headers: headers
            .iter()
            .filter(|(name, _)| *name != "authorization")
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        status: answer.status,
        body: String::from_utf8_lossy(&body).into_owned(),
        response: if answer.textual {
            String::from_utf8_lossy(&answer.body).into_owned()
        } else {
            String::new()
        },
        git_service: answer.git_service.clone(),
        unrouted: answer.unrouted,
        injected,
    };
    state.inner().requests.push(record);
    state.recorded.notify_waiters();

    if hold == Some(true) {
        // Done, but the answer stops after its head and first byte, and never goes on.
        let start = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{"))]);
        let body = Body::from_stream(futures::StreamExt::chain(start, futures::stream::pending()));
        return Response::builder()
            .status(answer.status)
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .unwrap();
    }
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(answer.body)).unwrap()
}

async fn route(
    state: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    credential: &Credential,
    body: &Bytes,
) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.first() == Some(&"login") {
        return super::device::serve(state, method, &segments, headers, body);
    }
    if let Some(answer) = super::manifests::serve(state, method, &segments, query, body) {
        return answer;
    }
    let is_git = segments.len() >= 3
        && segments[0] != "repos"
        && segments[0] != "app"
        && segments[1].ends_with(".git");
    if is_git {
        git::serve(state, method, &segments, query, headers, credential, body).await
    } else {
        rest::serve(state, method, &segments, query, credential, body).await
    }
}
