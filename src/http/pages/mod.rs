//! lucid's own pages, served by lucid itself: the session list (`/`), each session's
//! live timeline (`/sessions/{id}`), and the forms that start, steer, stop and share a
//! session and answer its agent's permission requests, and the setup of lucid's
//! GitHub App (`/setup/github`). Rendered on the server (askama
//! templates under `templates/`, escaping everything they are given); one small
//! script (`assets/live.js`) adds what arrives over the page's event stream. A strict
//! Content-Security-Policy forbids any other script.

mod assets;
mod feed;
mod forms;
mod list;
mod live;
mod preview;
mod session;
mod setup_github;
mod signin;
mod timeline;
mod viewer;

pub use feed::Feeds;
pub(super) use forms::revoke;

use super::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::page))
        .route("/signin", get(signin::page).post(signin::submit))
        .route("/signout", post(signin::sign_out))
        .route("/sessions", post(forms::start))
        .route("/sessions/{id}", get(session::page))
        .route("/sessions/{id}/live", get(live::stream))
        .route("/sessions/{id}/messages", post(forms::say))
        .route("/sessions/{id}/stop", post(forms::stop))
        .route("/sessions/{id}/revert", post(forms::revert))
        .route("/sessions/{id}/permission", post(forms::permission))
        .route("/sessions/{id}/share", post(forms::share))
        .route("/sessions/{id}/unshare", post(forms::unshare))
        .route("/assets/{name}", get(assets::serve))
        .route(
            crate::github::app_manifest::SETUP_PATH,
            get(setup_github::page),
        )
        .route(
            crate::github::app_manifest::CALLBACK_PATH,
            get(setup_github::callback),
        )
        .layer(axum::middleware::from_fn(guard))
}

/// The live previews: not lucid's pages, so under a policy of their own.
pub(super) fn preview_routes() -> Router<AppState> {
    preview::routes()
}

/// The policy every page is served under: scripts and styles only from lucid itself
/// (no inline script, so text that slipped through escaping still runs nothing), no
/// framing, no referrer to other sites (a share token in the address stays here; same-
/// origin requests keep theirs, so forms carry a real `Origin`), nothing cached.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

async fn guard(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        // The GitHub App's setup page sets its own policy: its form posts to GitHub.
        if name == header::CONTENT_SECURITY_POLICY && headers.contains_key(&name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
