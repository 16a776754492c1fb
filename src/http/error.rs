//! Every error the HTTP layer answers with is JSON: `{ "error": "…" }`.

use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Seconds the client had better wait before sending the request again.
    retry_after: Option<u64>,
}

/// What a 503 for an unavailable store asks the client to wait: outages worth
/// answering 503 for last seconds; a platform that retries on its own schedule
/// (Slack, Notion) is not held up by it.
const STORE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SessionNotFound(id) => Self::not_found(format!("session {id} not found")),
            // Said once per outage by what waits for the store, not once per request.
            unavailable if unavailable.is_unavailable() => {
                tracing::debug!(error = %unavailable, "the store is unavailable: answered 503");
                Self {
                    retry_after: Some(STORE_RETRY_AFTER_SECS),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        StoreError::Unavailable.to_string(),
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "store failed while answering a request");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store failed: {other}"),
                )
            }
        }
    }
}

impl From<crate::chat::intake::IntakeError> for ApiError {
    fn from(e: crate::chat::intake::IntakeError) -> Self {
        use crate::chat::intake::IntakeError;
        match e {
            IntakeError::Store(e) => e.into(),
            forge @ IntakeError::Forge { .. } => {
                tracing::warn!(error = %forge, "could not check a permission");
                Self::new(StatusCode::BAD_GATEWAY, forge.to_string())
            }
        }
    }
}
