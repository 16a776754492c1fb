//! What a signed-in operator does from the pages: start a session, message it, stop
//! it, take it back a step, answer its agent's permission request, share it. Every
//! form is checked three ways against cross-site requests: the cookie is
//! SameSite=Strict, the form carries a token tied to that cookie, and a browser's
//! `Origin` must be this lucid's. Each form also carries a one-time key, so
//! a double click or a resent form does nothing twice.

use super::viewer::{Refusal, signed_in};
use crate::chat::Taken;
use crate::core::{DeliveryId, Session, SessionId};
use crate::http::AppState;
use crate::http::actions::{actions, operator};
use crate::messages;
use crate::messages::page::WORDS;
use crate::web::access::{new_share_token, share_hash};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Whether a request came from this lucid's own pages: a browser names the page's
/// origin in `Origin` on every POST; it must be the public URL's or this host's.
pub(super) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        // Not a browser's form (browsers always send it on POST): the token decides.
        return true;
    };
    let public = url::Url::parse(state.links.public_url())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == public || origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The operator behind a form, or why the form is refused.
fn operator_form(state: &AppState, headers: &HeaderMap, token: &str) -> Result<String, Refusal> {
    let Some(cookie) = signed_in(state, headers) else {
        return Err(Refusal::SignIn {
            back_to: "/".to_owned(),
        });
    };
    if !same_origin(state, headers) || !state.links.access().is_form_token(&cookie, token) {
        return Err(Refusal::Bad(
            StatusCode::FORBIDDEN,
            WORDS.bad_form.to_owned(),
        ));
    }
    Ok(cookie)
}

/// The signed-in operator behind a form about session `raw_id`, and the session.
async fn operator_session(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    raw_id: &str,
) -> Result<(String, Session), Refusal> {
    let cookie = operator_form(state, headers, token)?;
    let id = session_id(raw_id)?;
    let session = state.store.session(id).await?.ok_or(Refusal::NotFound)?;
    Ok((cookie, session))
}

fn once(key: &str) -> Result<DeliveryId, Refusal> {
    DeliveryId::parse(&format!("page:{key}"))
        .map_err(|e| Refusal::Bad(StatusCode::BAD_REQUEST, e.to_string()))
}

fn session_id(raw: &str) -> Result<SessionId, Refusal> {
    raw.parse().map_err(|_| Refusal::NotFound)
}

fn back_to(id: SessionId) -> Response {
    Redirect::to(&format!("/sessions/{id}")).into_response()
}

#[derive(Deserialize)]
pub(super) struct StartForm {
    form: String,
    once: String,
    repo: String,
    task: String,
    /// The agent chosen; absent, empty or the default: the one the task's words ask
    /// for, else the default.
    #[serde(default)]
    agent: String,
}

pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, Refusal> {
    operator_form(&state, &headers, &form.form)?;
    let actions = actions(&state)?;
    // The select left at the default lets the task's words choose (`with gemini: …`).
    let agent = Some(form.agent.trim())
        .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case(&actions.intake.agents.default));
    let taken = actions
        .start(
            form.task,
            &form.repo,
            None,
            agent,
            operator(None),
            once(&form.once)?,
        )
        .await?;
    match taken {
        Taken::Started(id) => Ok(back_to(id)),
        Taken::Duplicate => Ok(Redirect::to("/").into_response()),
        Taken::Refused(refusal) => Err(Refusal::Bad(
            StatusCode::BAD_REQUEST,
            messages::refusal_reason(&refusal),
        )),
        other => Err(Refusal::Bad(
            StatusCode::BAD_REQUEST,
            other.to_json().to_string(),
        )),
    }
}

#[derive(Deserialize)]
pub(super) struct SayForm {
    form: String,
    once: String,
    text: String,
}

pub(super) async fn say(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SayForm>,
) -> Result<Response, Refusal> {
    let (_, session) = operator_session(&state, &headers, &form.form, &id).await?;
    actions(&state)?
        .say(session.id, &operator(None), form.text, &once(&form.once)?)
        .await?;
    Ok(back_to(session.id))
}

#[derive(Deserialize)]
pub(super) struct PlainForm {
    form: String,
    once: Option<String>,
}

pub(super) async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PlainForm>,
) -> Result<Response, Refusal> {
    let (_, session) = operator_session(&state, &headers, &form.form, &id).await?;
    let key = form
        .once
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    actions(&state)?
        .stop(&session, &operator(None), &once(&key)?)
        .await?;
    Ok(back_to(session.id))
}

#[derive(Deserialize)]
pub(super) struct RevertForm {
    form: String,
    once: String,
    /// The step to go back to; empty: undo the last step.
    #[serde(default)]
    checkpoint: String,
}

pub(super) async fn revert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RevertForm>,
) -> Result<Response, Refusal> {
    let (_, session) = operator_session(&state, &headers, &form.form, &id).await?;
    let checkpoint = optional_number(&form.checkpoint, WORDS.not_a_step)?;
    actions(&state)?
        .revert(session.id, &operator(None), checkpoint, &once(&form.once)?)
        .await?;
    Ok(back_to(session.id))
}

#[derive(Deserialize)]
pub(super) struct PermissionForm {
    form: String,
    once: String,
    /// `yes` allows, `no` rejects.
    allow: String,
    /// The request answered; empty: the one that waits.
    #[serde(default)]
    request: String,
}

/// The agent's permission request answered from the page's Allow and Reject buttons.
pub(super) async fn permission(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PermissionForm>,
) -> Result<Response, Refusal> {
    let (_, session) = operator_session(&state, &headers, &form.form, &id).await?;
    let allow = match form.allow.trim() {
        "yes" => true,
        "no" => false,
        _ => {
            return Err(Refusal::Bad(
                StatusCode::BAD_REQUEST,
                WORDS.not_an_answer.to_owned(),
            ));
        }
    };
    let request = optional_number(&form.request, WORDS.not_a_request)?;
    actions(&state)?
        .answer_permission(
            &session,
            &operator(None),
            request,
            allow,
            &once(&form.once)?,
        )
        .await?;
    Ok(back_to(session.id))
}

/// A form field holding a number or nothing (empty: `None`); anything else is refused
/// with `not_a_number`.
fn optional_number(field: &str, not_a_number: &str) -> Result<Option<u32>, Refusal> {
    match field.trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| Refusal::Bad(StatusCode::BAD_REQUEST, not_a_number.to_owned())),
    }
}

/// A new share link, shown once on the page that answers.
pub(super) async fn share(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PlainForm>,
) -> Result<Response, Refusal> {
    let (cookie, session) = operator_session(&state, &headers, &form.form, &id).await?;
    let id = session.id;
    if !state.links.access().shares_links() {
        return Err(Refusal::Bad(
            StatusCode::CONFLICT,
            WORDS.shares_off.to_owned(),
        ));
    }
    let token = new_share_token();
    state.store.add_share(id, &share_hash(&token)).await?;
    let link = state.links.shared(id, &token);
    let viewer = super::viewer::Viewer::Operator { cookie };
    Ok(super::session::render(&state, &viewer, session, Some(link))
        .await?
        .into_response())
}

pub(super) async fn unshare(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PlainForm>,
) -> Result<Response, Refusal> {
    let (_, session) = operator_session(&state, &headers, &form.form, &id).await?;
    revoke(&state, session.id).await?;
    Ok(back_to(session.id))
}

/// Turns off every share link of `id`, the posted one included.
pub(in crate::http) async fn revoke(
    state: &AppState,
    id: SessionId,
) -> Result<(), crate::store::StoreError> {
    let posted = state
        .links
        .access()
        .posted_share(id)
        .map(|t| share_hash(&t));
    state.store.revoke_shares(id, posted.as_deref()).await
}
