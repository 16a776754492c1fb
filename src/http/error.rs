//! Every error the HTTP layer answers with is JSON: `{ "error": "…" }`.

use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
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
        (self.status, body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SessionNotFound(id) => Self::not_found(format!("session {id} not found")),
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
