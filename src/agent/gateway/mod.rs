//! The model gateway: how an agent in a sandbox reaches its model provider without
//! the provider's key ever being in the sandbox. lucid gives the agent the gateway's
//! address and a token of the session's own; the gateway, on the host, takes that
//! token, puts the real key in its place, and passes the request to the provider and
//! its answer back, streamed, untouched. On the way back it reads the answer's token
//! counts, so an external agent's spending is counted as the built-in agent's is. A
//! session's token stops opening anything when the session closes it.

mod usage;

pub use usage::{Tokens, UsageTap};

use crate::core::SessionId;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// How the provider takes its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and those speaking its API).
    Bearer,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `x-goog-api-key: <key>` (Google's Gemini API).
    XGoogApiKey,
}

/// The provider the gateway passes requests to.
pub struct Upstream {
    /// `https://api.anthropic.com`, with no trailing slash: request paths follow it.
    pub base_url: String,
    pub api_key: SecretString,
    pub key_header: KeyHeader,
}

/// What one answer through the gateway spent, for the session that asked, and the
/// model that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spent {
    pub session: SessionId,
    pub tokens: Tokens,
    pub model: Option<String>,
}

/// Headers a request may carry a token in (any of them), none of which is passed on.
const CREDENTIALS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-goog-api-key"),
];
/// Headers of one hop, never passed on either way.
const HOP: [HeaderName; 5] = [
    header::CONNECTION,
    header::HOST,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
];

struct Shared {
    upstream: Upstream,
    /// Open tokens, and whose they are.
    tokens: Mutex<HashMap<String, SessionId>>,
    spent: mpsc::UnboundedSender<Spent>,
    client: reqwest::Client,
}

/// A running gateway. Dropping it stops it.
pub struct ModelGateway {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Stops the server when the gateway is dropped.
    _stop: tokio_util::sync::DropGuard,
}

impl ModelGateway {
    /// Listens on `listen`; what each answer spent goes to `spent`.
    pub async fn bind(
        listen: SocketAddr,
        upstream: Upstream,
        spent: mpsc::UnboundedSender<Spent>,
    ) -> std::io::Result<ModelGateway> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream,
            tokens: Mutex::default(),
            spent,
            client,
        });
        let app = axum::Router::new()
            .fallback(pass)
            .with_state(shared.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let serving =
                axum::serve(listener, app).with_graceful_shutdown(stopped.cancelled_owned());
            if let Err(e) = serving.await {
                tracing::warn!(error = %e, "the model gateway stopped");
            }
        });
        Ok(ModelGateway {
            shared,
            addr,
            _stop: stop.drop_guard(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new token for `session`, good until [`close`](Self::close).
    pub fn open(&self, session: SessionId) -> SecretString {
        let token = format!("lucid-gw-{}", crate::web::access::new_share_token());
        lock(&self.shared.tokens).insert(token.clone(), session);
        SecretString::from(token)
    }

    /// Ends every token of `session`.
    pub fn close(&self, session: SessionId) {
        lock(&self.shared.tokens).retain(|_, s| *s != session);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The token a request carries, in whichever header its client puts keys in.
fn token_of(headers: &HeaderMap) -> Option<&str> {
    CREDENTIALS.iter().find_map(|name| {
        let value = headers.get(name)?.to_str().ok()?;
        Some(value.strip_prefix("Bearer ").unwrap_or(value).trim())
    })
}

async fn pass(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let session =
        token_of(request.headers()).and_then(|token| lock(&shared.tokens).get(token).copied());
    let Some(session) = session else {
        return (StatusCode::UNAUTHORIZED, "not a token of a live session").into_response();
    };
    match forward(&shared, session, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(session = %session, error = %e, "the model provider did not answer");
            (
                StatusCode::BAD_GATEWAY,
                "the model provider does not answer",
            )
                .into_response()
        }
    }
}

/// One request to the provider with the real key, and its answer streamed back
/// while its usage is read.
async fn forward(
    shared: &Arc<Shared>,
    session: SessionId,
    request: Request,
) -> Result<Response, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let upstream = &shared.upstream;
    let mut outgoing = shared
        .client
        .request(parts.method, format!("{}{path}", upstream.base_url))
        .body(reqwest::Body::wrap_stream(body.into_data_stream()));
    for (name, value) in &parts.headers {
        if !CREDENTIALS.contains(name) && !HOP.contains(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let key = upstream.api_key.expose_secret();
    outgoing = match upstream.key_header {
        KeyHeader::Bearer => outgoing.bearer_auth(key),
        KeyHeader::XApiKey => outgoing.header("x-api-key", key),
        KeyHeader::XGoogApiKey => outgoing.header("x-goog-api-key", key),
    };
    let answer = outgoing.send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP.contains(name) {
            response = response.header(name, value);
        }
    }
    let mut reading = Reading {
        tap: Some(UsageTap::default()),
        session,
        spent: shared.spent.clone(),
        left: answer.content_length(),
    };
    let passed = answer.bytes_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            reading.feed(bytes);
        }
        chunk
    });
    Ok(response
        .body(Body::from_stream(passed))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}

/// An answer's usage, read as it passes and told as soon as the answer is whole: at
/// its last byte when it has a length (the server never asks for more, and may drop
/// the body only when the connection closes), else when it is dropped.
struct Reading {
    tap: Option<UsageTap>,
    session: SessionId,
    spent: mpsc::UnboundedSender<Spent>,
    /// Bytes still to come, when the answer said its length.
    left: Option<u64>,
}

impl Reading {
    fn feed(&mut self, bytes: &[u8]) {
        if let Some(tap) = self.tap.as_mut() {
            tap.feed(bytes);
        }
        if let Some(left) = self.left.as_mut() {
            *left = left.saturating_sub(bytes.len() as u64);
            if *left == 0 {
                self.tell();
            }
        }
    }

    fn tell(&mut self) {
        let Some(tap) = self.tap.take() else {
            return;
        };
        let (tokens, model) = tap.finish_with_model();
        if tokens != Tokens::default() {
            let _ = self.spent.send(Spent {
                session: self.session,
                tokens,
                model,
            });
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.tell();
    }
}
