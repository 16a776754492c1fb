//! The JSON API: sessions and their event logs.

use super::{ApiError, AppState};
use crate::core::{Event, Session, SessionId, SessionState};
use crate::store::SessionFilter;
use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;
const MAX_EVENTS_PAGE: u32 = 1000;

/// Query parameters whose errors answer as JSON like every other API error.
pub(super) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

pub(super) fn parse_session_id(raw: &str) -> Result<SessionId, ApiError> {
    raw.parse()
        .map_err(|e: crate::core::InvalidId| ApiError::bad_request(e.to_string()))
}

pub(super) async fn existing_session(state: &AppState, raw_id: &str) -> Result<Session, ApiError> {
    let id = parse_session_id(raw_id)?;
    state
        .store
        .session(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("session {id} not found")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListSessions {
    /// Only sessions in this state (queued, provisioning, running, completed, failed,
    /// cancelled).
    state: Option<String>,
    /// Only sessions from this platform (github, slack, discord, notion, web, …).
    platform: Option<String>,
    /// Only sessions on this repository (`owner/name`).
    repo: Option<String>,
    /// A session id: the `next_before` of the previous page.
    before: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// Sessions, newest first: `{"sessions": […], "next_before": id or null}`.
#[utoipa::path(get, path = "/sessions", params(ListSessions),
    responses((status = 200, description = "A page of sessions"), (status = 400, description = "A bad query")))]
pub(super) async fn list_sessions(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListSessions>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let filter = SessionFilter {
        state: q
            .state
            .as_deref()
            .map(SessionState::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        platform: q
            .platform
            .as_deref()
            .map(crate::core::Platform::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        repo: q
            .repo
            .as_deref()
            .map(|r| crate::core::RepoRef::parse(r).map(|r| r.to_string()))
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        before: q.before.as_deref().map(parse_session_id).transpose()?,
        limit,
    };
    let sessions = state.store.list_sessions(&filter).await?;
    // A full page may have more behind it; the last id is where the next one starts.
    let next_before = (sessions.len() == limit as usize)
        .then(|| sessions.last().map(|s| s.id))
        .flatten();
    Ok(Json(
        json!({ "sessions": sessions, "next_before": next_before }),
    ))
}

/// One session: its trigger (with `agent`, the agent it runs with), state, reason,
/// branch, PR URL, usage, `model` (the model its agent asked for, once known) and
/// lease.
#[utoipa::path(get, path = "/sessions/{id}", params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "The session"), (status = 404, description = "No such session")))]
pub(super) async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    existing_session(&state, &id).await.map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListEvents {
    /// Only events after this number.
    after: Option<u64>,
    /// 1 to 1000.
    limit: Option<u32>,
}

/// A session's event log, oldest first: `{"events": […]}`.
#[utoipa::path(get, path = "/sessions/{id}/events", params(("id" = String, Path, description = "The session's id"), ListEvents),
    responses((status = 200, description = "Events"), (status = 404, description = "No such session")))]
pub(super) async fn list_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> Result<Json<Value>, ApiError> {
    let session = existing_session(&state, &id).await?;
    let limit = q.limit.unwrap_or(MAX_EVENTS_PAGE);
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_EVENTS_PAGE}"
        )));
    }
    let events: Vec<Event> = state
        .store
        .events_after(session.id, q.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(json!({ "events": events })))
}
