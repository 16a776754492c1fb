//! `POST /webhooks/notion`. The subscription's one-time verification request is
//! answered, its token logged and kept for `lucid doctor` (the operator pastes it
//! into Notion, and into LUCID_NOTION_WEBHOOK_SECRET). Every event after it must be
//! signed with that token (else 401, nothing kept). An event carries ids, not values:
//! it is kept in the inbox (deduped on its id) and answered at once; the page or
//! comment is read after the answer, within Notion's pace.

use super::{EventKind, NotionRequest, SIGNATURE_HEADER, parse_request, verify};
use crate::core::Platform;
use crate::http::ApiError;
use crate::notion::NotionPlatform;
use crate::notion::platform::bare_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// Where the last verification token Notion sent is kept (`marks`).
pub const VERIFICATION_MARK: &str = "verification_token";
/// Inbox kinds: a page's properties changed; a comment was made.
pub const PAGE: &str = "page";
pub const COMMENT: &str = "comment";

pub fn routes(platform: Arc<NotionPlatform>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/notion", axum::routing::post(receive))
        .with_state(platform)
}

async fn receive(
    State(platform): State<Arc<NotionPlatform>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if signature.is_none()
        && let Ok(NotionRequest::Verification { token }) = parse_request(&body)
    {
        return verification(&platform, &token).await;
    }
    let Some(secret) = &platform.settings.webhook_secret else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no verification token is configured: set LUCID_NOTION_WEBHOOK_SECRET to the token Notion sent (`lucid doctor` shows it)",
        ));
    };
    verify(secret, &body, signature)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let event = match parse_request(&body).map_err(|e| ApiError::bad_request(e.reason()))? {
        NotionRequest::Event(event) => event,
        NotionRequest::Verification { .. } => {
            return Err(ApiError::bad_request(
                "a verification request is sent unsigned, once",
            ));
        }
    };
    if let Some(bot) = platform.known_bot()
        && event.authored_by(bot)
    {
        return Ok(answer(json!({"ignored": "lucid's own change"})));
    }
    let (subject, kind) = match &event.kind {
        EventKind::PropertiesUpdated { page } => (bare_id(page), PAGE),
        EventKind::CommentCreated { comment, page } => {
            (format!("{}/{}", bare_id(comment), bare_id(page)), COMMENT)
        }
        EventKind::Other(kind) => {
            return Ok(answer(
                json!({"ignored": format!("lucid does not act on {kind}")}),
            ));
        }
    };
    let kept = platform
        .store
        .put_in_inbox(&Platform::NOTION, &event.id, &subject, kind)
        .await?;
    if !kept {
        return Ok(answer(json!({"duplicate": true})));
    }
    platform.news.notify_one();
    Ok(answer(json!({"queued": kind})))
}

/// Logs the token (the operator needs it, once) and keeps it for `lucid doctor`.
async fn verification(platform: &NotionPlatform, token: &str) -> Result<Response, ApiError> {
    platform
        .store
        .set_mark(&Platform::NOTION, VERIFICATION_MARK, token)
        .await?;
    tracing::warn!(
        verification_token = token,
        "Notion sent its webhook verification token: paste it into the subscription's Verify dialog, and set LUCID_NOTION_WEBHOOK_SECRET to it (`lucid doctor` shows it too)"
    );
    Ok(answer(json!({"verification": "received"})))
}

fn answer(body: serde_json::Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}
