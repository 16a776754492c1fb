//! A session's checkpoints through the API: the list (from its log, so it outlives
//! the work tree) and going back to one, as "@lucid undo" and "@lucid revert to N"
//! do in a thread.

use super::actions::{ApiJson, actions, delivery, operator};
use super::api::{ApiQuery, existing_session};
use super::{ApiError, AppState};
use crate::core::EventBody;
use crate::store::Delivered;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MAX_PAGE: u32 = 1000;

/// One checkpoint as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CheckpointView {
    /// The step's number, to go back to (0 is the work tree as checked out).
    number: u32,
    /// The tool whose step made it.
    label: String,
    files: Vec<String>,
    /// Its event in the session's log.
    seq: u64,
    /// When it was made (RFC 3339).
    #[schema(value_type = String)]
    at: crate::core::Timestamp,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListCheckpoints {
    /// Only checkpoints logged after this event number.
    after: Option<u64>,
}

/// `GET /api/v1/sessions/{id}/checkpoints`: `{"checkpoints": […]}`, oldest first, at
/// most 1,000 a page (`after` the last one's `seq` for the next).
#[utoipa::path(get, path = "/sessions/{id}/checkpoints", params(("id" = String, Path, description = "The session's id"), ListCheckpoints),
    responses((status = 200, description = "Checkpoints"), (status = 404, description = "No such session")))]
pub(super) async fn list_checkpoints(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListCheckpoints>,
) -> Result<Json<Value>, ApiError> {
    let session = existing_session(&state, &id).await?;
    let events = state
        .store
        .events_of_kind(session.id, "checkpoint", q.after.unwrap_or(0), MAX_PAGE)
        .await?;
    let checkpoints: Vec<CheckpointView> = events
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Checkpoint {
                number,
                label,
                files,
            } => Some(CheckpointView {
                number,
                label,
                files,
                seq: e.seq,
                at: e.at,
            }),
            _ => None,
        })
        .collect();
    Ok(Json(json!({ "checkpoints": checkpoints })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RevertRequest {
    /// The step to go back to; absent: undo the last step.
    checkpoint: Option<u32>,
    author: Option<String>,
}

/// `POST /api/v1/sessions/{id}/revert`: takes the work tree back to a checkpoint
/// (`{"checkpoint": N}`) or undoes the last step (`{}`), logs it and tells the agent;
/// a finished session is taken up again to do it. What happened is in the log
/// (`reverted`, or `revert_refused` with the reason).
#[utoipa::path(post, path = "/sessions/{id}/revert", request_body = RevertRequest,
    params(("id" = String, Path, description = "The session's id"), ("Idempotency-Key" = Option<String>, Header, description = "Dedupes retries")),
    responses((status = 202, description = "`{\"session\": id, \"resumed\": bool}`"),
        (status = 404, description = "No such session")))]
pub(super) async fn revert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RevertRequest>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let actions = actions(&state)?;
    let session = existing_session(&state, &id).await?;
    let delivered = actions
        .revert(
            session.id,
            &operator(body.author),
            body.checkpoint,
            &delivery(&headers)?,
        )
        .await?;
    let answer = match delivered {
        Delivered::New { resumed } => json!({ "session": session.id, "resumed": resumed }),
        Delivered::Duplicate => json!({ "duplicate": true }),
    };
    Ok((axum::http::StatusCode::ACCEPTED, Json(answer)))
}
