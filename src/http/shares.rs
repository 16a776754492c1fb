//! Share links through the API: make one more for a session, or revoke them all (the
//! link lucid posts in threads with them).

use super::api::existing_session;
use super::{ApiError, AppState};
use crate::web::access::{new_share_token, share_hash};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /api/v1/sessions/{id}/share`: 201 `{"url": …}`, a new link that opens the
/// session's page read-only; the token in it is kept only as a hash.
#[utoipa::path(post, path = "/sessions/{id}/share", params(("id" = String, Path, description = "The session's id")),
    responses((status = 201, description = "`{\"url\": …}`"), (status = 404, description = "No such session"),
        (status = 409, description = "Share links are off")))]
pub(super) async fn make_share(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let session = existing_session(&state, &id).await?;
    if !state.links.access().shares_links() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "share links are off: LUCID_SHARE_LINKS is off, or no LUCID_SECRET_KEY or LUCID_API_TOKEN is set to sign them",
        ));
    }
    let token = new_share_token();
    state
        .store
        .add_share(session.id, &share_hash(&token))
        .await?;
    let url = state.links.shared(session.id, &token);
    Ok((StatusCode::CREATED, Json(json!({ "url": url }))))
}

/// `DELETE /api/v1/sessions/{id}/share`: every share link of the session stops
/// working, the one lucid posted included (204).
#[utoipa::path(delete, path = "/sessions/{id}/share", params(("id" = String, Path, description = "The session's id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such session")))]
pub(super) async fn revoke_shares(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = existing_session(&state, &id).await?;
    super::pages::revoke(&state, session.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
