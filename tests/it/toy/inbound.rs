//! `POST /webhooks/toy`: what ToyChat sends when something happens in a room. The
//! route verifies (the shared secret in `X-Toy-Secret`: 401, nothing stored), parses
//! (400 with the reason), turns a message into an intent and hands it to lucid's
//! intake, and answers with what was taken, in milliseconds.
//!
//! A delivery:
//! `{"event_id": "ev-1", "type": "message.posted", "room": "r1",
//!   "message": {"id": "m1", "thread": null, "user": {"id": "ada", "name": "Ada"}, "text": "@lucid fix add()"}}`.
//! Other event types are answered 200 and ignored.

use super::platform::{ToyPlatform, thread_of};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lucid::chat::{ChatPlatform, ForgeIdentity, Intake};
use lucid::core::{Ask, Author, DeliveryId, Intent, Origin, Policy, Refusal, RepoRef};
use lucid::http::ApiError;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const SECRET_HEADER: &str = "X-Toy-Secret";
/// The largest delivery taken.
pub const MAX_BODY: usize = 64 * 1024;

pub fn routes(platform: Arc<ToyPlatform>, intake: Intake) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/toy", axum::routing::post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state((platform, intake))
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Posted {
    event_id: String,
    room: String,
    message: PostedMessage,
}

#[derive(Deserialize)]
struct PostedMessage {
    id: String,
    #[serde(default)]
    thread: Option<String>,
    user: PostedUser,
    text: String,
}

#[derive(Deserialize)]
struct PostedUser {
    id: String,
    name: String,
}

async fn receive(
    State((platform, intake)): State<(Arc<ToyPlatform>, Intake)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    platform.verify(&headers)?;
    let envelope: Envelope = parse(&body)?;
    if envelope.kind != "message.posted" {
        tracing::debug!(kind = %envelope.kind, "a ToyChat event lucid does not handle");
        return Ok(ignored("not an event lucid handles"));
    }
    let posted: Posted = parse(&body)?;
    if posted.message.user.id == platform.settings.bot_user {
        return Ok(ignored("lucid's own message"));
    }
    let login = platform
        .settings
        .github_logins
        .iter()
        .find(|(user, _)| *user == posted.message.user.id)
        .map(|(_, login)| login.clone());
    let (intent, policy, fresh) = platform.intent(posted)?;
    let identity = login.as_deref().map(|login| ForgeIdentity {
        forge: "github",
        login,
    });
    let dyn_platform: Arc<dyn ChatPlatform> = platform;
    let taken = intake
        .take(&dyn_platform, intent, policy, identity, fresh)
        .await?;
    Ok((StatusCode::OK, Json(taken.to_json())).into_response())
}

fn ignored(reason: &str) -> Response {
    (StatusCode::OK, Json(json!({ "ignored": reason }))).into_response()
}

/// The body as `T`, or a 400 saying where it went wrong.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        ApiError::bad_request(format!(
            "not a ToyChat event: {} (at {})",
            e.inner(),
            e.path()
        ))
    })
}

impl ToyPlatform {
    fn verify(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers
            .get(SECRET_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let known = self
            .settings
            .secrets
            .iter()
            .any(|s| bool::from(s.expose_secret().as_bytes().ct_eq(given)));
        if given.is_empty() || !known {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("{SECRET_HEADER} is missing or wrong"),
            ));
        }
        Ok(())
    }

    /// A posted message as an intent, the place's policy, and whether it starts its
    /// thread.
    fn intent(&self, posted: Posted) -> Result<(Intent, Policy, bool), ApiError> {
        let Posted {
            event_id,
            room,
            message,
        } = posted;
        let delivery = DeliveryId::parse(&event_id)
            .map_err(|e| ApiError::bad_request(format!("event_id is unusable: {e}")))?;
        let mention = format!("@{}", self.settings.bot_user);
        let addressed = message
            .text
            .split_whitespace()
            .any(|w| w.trim_end_matches([':', ',']) == mention);
        let words = message
            .text
            .split_whitespace()
            .filter(|w| w.trim_end_matches([':', ',']) != mention)
            .collect::<Vec<_>>()
            .join(" ");
        let ask = if words
            .trim_matches(|c: char| !c.is_alphanumeric())
            .eq_ignore_ascii_case("stop")
        {
            Ask::Stop
        } else {
            Ask::Task {
                repo: find_repo(&words),
                text: words,
                title: None,
                whole: None,
                agent: None,
            }
        };
        let (refusal, default_repo) = match self.room_allowed(&room) {
            None => (Some(Refusal::PlaceNotListed), None),
            Some(_)
                if !self.settings.users.is_empty()
                    && !self.settings.users.contains(&message.user.id) =>
            {
                (Some(Refusal::PersonNotListed), None)
            }
            Some(repo) => (None, repo.clone()),
        };
        let fresh = message.thread.is_none();
        let root = message.thread.unwrap_or_else(|| message.id.clone());
        let intent = Intent {
            origin: Origin {
                delivery,
                thread: thread_of(&room, &root),
                author: Author {
                    id: message.user.id,
                    display_name: message.user.name,
                },
                message: Some(message.id),
                addressed,
            },
            ask,
        };
        let policy = Policy {
            refusal,
            may_start: true,
            default_repo,
        };
        Ok((intent, policy, fresh))
    }
}

/// The first `owner/name` word of the text, if one is.
fn find_repo(text: &str) -> Option<RepoRef> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')'))
        })
        .filter(|w| w.matches('/').count() == 1 && !w.starts_with('.'))
        .find_map(|w| RepoRef::parse(w).ok())
}
