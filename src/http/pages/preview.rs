//! `/preview/<session>/`: a port the session published, served from its sandbox's
//! address through lucid (no port is published on the host), to whoever may read the
//! session: its share token, or a signed-in operator. The first request is sent on to
//! `/preview/<session>/~<token>/`, so the page's own relative links keep the token
//! (its documents run in an opaque origin, where no cookie can follow them).
//!
//! The page is the agent's work, so it is kept away from lucid's own: it runs
//! sandboxed (`Content-Security-Policy: sandbox`, an opaque origin that can read
//! nothing of lucid's pages and holds none of its cookies), and lucid's cookies and
//! credentials never reach the sandbox.

use super::viewer::{share_opens, signed_in};
use crate::core::SessionId;
use crate::http::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// The page's policy: its own origin, opaque; scripts and forms still work.
const PREVIEW_POLICY: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Headers that belong to one hop, or to lucid (the referrer may hold a share token),
/// never passed on either way.
const NOT_PASSED: [HeaderName; 10] = [
    header::CONNECTION,
    header::HOST,
    header::COOKIE,
    header::SET_COOKIE,
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::REFERER,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
];

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/preview/{id}", axum::routing::get(enter))
        .route("/preview/{id}/", axum::routing::get(enter))
        .route("/preview/{id}/{*rest}", axum::routing::any(pass))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such preview").into_response()
}

/// The entry: with a share token that opens the session (or signed in), on to the
/// address that carries it.
async fn enter(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Ok(id) = id.parse::<SessionId>() else {
        return not_found();
    };
    let token = match query.get("share") {
        Some(token) if share_opens(&state, id, token).await.unwrap_or(false) => Some(token.clone()),
        Some(_) => None,
        None => signed_in(&state, &headers).and_then(|_| state.links.access().preview_key(id)),
    };
    match token {
        Some(token) => Redirect::to(&format!("/preview/{id}/~{token}/")).into_response(),
        None => not_found(),
    }
}

/// Everything under `~<token>/`: passed to the sandbox's port when the token opens
/// the session and its preview is open.
async fn pass(
    State(state): State<AppState>,
    Path((id, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Ok(id) = id.parse::<SessionId>() else {
        return not_found();
    };
    let Some((token, path)) = rest
        .strip_prefix('~')
        .map(|r| r.split_once('/').unwrap_or((r, "")))
    else {
        return not_found();
    };
    let access = state.links.access();
    let opens =
        access.is_preview_key(id, token) || share_opens(&state, id, token).await.unwrap_or(false);
    let target = state
        .actions
        .as_ref()
        .and_then(|a| a.registry.previews().target(id));
    let (true, Some(target)) = (opens, target) else {
        return not_found();
    };
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("http://{target}/{path}{query}");
    match forward(&url, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::info!(session = %id, error = %e, "a preview did not answer");
            (StatusCode::BAD_GATEWAY, "the preview does not answer").into_response()
        }
    }
}

/// One request to the sandbox and its answer, streamed both ways.
async fn forward(url: &str, request: Request) -> Result<Response, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let client = preview_client();
    let mut outgoing = client
        .request(parts.method, url)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()));
    for (name, value) in &parts.headers {
        if !NOT_PASSED.contains(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !NOT_PASSED.contains(name) && name != header::CONTENT_SECURITY_POLICY {
            response = response.header(name, value);
        }
    }
    Ok(response
        .header(header::CONTENT_SECURITY_POLICY, PREVIEW_POLICY)
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}

/// One client for every preview: no redirects followed (the page's own are the
/// browser's), no proxy from lucid's environment, bounded waits.
fn preview_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("a plain HTTP client always builds")
    })
}
