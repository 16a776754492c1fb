//! Answering an agent's permission request through the API, as "@lucid allow" and
//! "@lucid reject" (or the thread's buttons) do in a thread.

use super::actions::{ApiJson, actions, delivery, operator};
use super::api::existing_session;
use super::{ApiError, AppState};
use crate::store::Delivered;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PermissionAnswer {
    /// True allows what the agent asked; false rejects it.
    allow: bool,
    /// The request answered, by its number (`request` in the `permission_asked`
    /// event); absent: the one that waits. An answer to a request that no longer
    /// waits changes nothing.
    request: Option<u32>,
    /// Who answers, as the session shows them.
    author: Option<String>,
}

/// `POST /api/v1/sessions/{id}/permission`: answers the agent's permission request.
/// The answer is logged (`permission_answered`) for the session's running agent,
/// which settles the request (`permission_settled`) if it is the one waiting.
#[utoipa::path(post, path = "/sessions/{id}/permission", request_body = PermissionAnswer,
    params(("id" = String, Path, description = "The session's id"), ("Idempotency-Key" = Option<String>, Header, description = "Dedupes retries")),
    responses((status = 202, description = "`{\"session\": id}`; a retry: `{\"duplicate\": true}`"),
        (status = 400, description = "A bad body (`allow` is required)"),
        (status = 404, description = "No such session"),
        (status = 409, description = "The session is over: nothing waits for an answer")))]
pub(super) async fn answer_permission(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PermissionAnswer>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actions = actions(&state)?;
    let session = existing_session(&state, &id).await?;
    let delivered = actions
        .answer_permission(
            &session,
            &operator(body.author),
            body.request,
            body.allow,
            &delivery(&headers)?,
        )
        .await?;
    let answer = match delivered {
        Delivered::New { .. } => json!({ "session": session.id }),
        Delivered::Duplicate => json!({ "duplicate": true }),
    };
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
