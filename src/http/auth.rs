//! The API's bearer token. Compared in constant time; without one configured the API
//! is closed and says how to open it.

use super::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(super) async fn require_api_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = &state.api_token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the API is off: set LUCID_API_TOKEN to a secret of at least 16 characters, \
             then send it as `Authorization: Bearer <token>`",
        ));
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <LUCID_API_TOKEN>` header",
        ));
    };
    // Hashing first makes the comparison constant-time whatever the lengths.
    let same: bool = Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.expose_secret().as_bytes()))
        .into();
    if !same {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong API token"));
    }
    Ok(next.run(request).await)
}
