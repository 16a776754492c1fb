//! `POST /webhooks/slack/{events,interactions,commands}`: verify, parse, turn into an
//! intent, hand to the intake, answer, in milliseconds. Everything said back in Slack
//! (the acknowledgement, a refusal, a question) is posted after the answer; a retried
//! event (same `event_id`, `X-Slack-Retry-Num` set) is recorded once and answered once.

use super::{SIGNATURE_HEADER, SlackRequest, TIMESTAMP_HEADER, verify};
use crate::chat::{ChatPlatform, Intake, PayloadError, Taken};
use crate::core::{Author, Timestamp};
use crate::http::ApiError;
use crate::messages::Text;
use crate::slack::SlackPlatform;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

mod commands;
mod events;
mod interactions;

/// What every Slack route holds.
type Hook = State<(Arc<SlackPlatform>, Intake)>;

pub fn routes(platform: Arc<SlackPlatform>, intake: Intake) -> axum::Router {
    use crate::slack::manifest::{COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH};
    use axum::routing::post;
    axum::Router::new()
        .route(EVENTS_PATH, post(events::receive))
        .route(INTERACTIONS_PATH, post(interactions::receive))
        .route(COMMANDS_PATH, post(commands::receive))
        .with_state((platform, intake))
}

impl SlackPlatform {
    /// Checks the request's signature (401), then reads its body with `parse` (400 with
    /// the reason): the same first steps for every Slack route.
    fn read(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        parse: fn(&[u8]) -> Result<SlackRequest, PayloadError>,
    ) -> Result<SlackRequest, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        verify(
            &self.settings.signing_secret,
            header(TIMESTAMP_HEADER),
            body,
            header(SIGNATURE_HEADER),
            Timestamp::now().as_millis() / 1_000,
        )
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
        parse(body).map_err(|e| ApiError::bad_request(e.reason()))
    }

    /// The bot's user id, as far as it is known.
    fn bot_user(&self) -> &str {
        self.bot_user_id
            .get()
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// A Slack user as lucid first knows them: by id.
fn person(user: &str) -> Author {
    Author {
        id: user.to_owned(),
        display_name: user.to_owned(),
    }
}

fn as_dyn(platform: &Arc<SlackPlatform>) -> Arc<dyn ChatPlatform> {
    platform.clone()
}

/// Slack wants a 200 for everything it sent that was understood.
fn answer(body: serde_json::Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn taken(taken: &Taken) -> Response {
    answer(taken.to_json())
}

fn ignored(reason: &str) -> Response {
    answer(json!({"ignored": reason}))
}

/// A slash command's answer, seen only by the person who typed it.
fn ephemeral(platform: &Arc<SlackPlatform>, text: &Text) -> Response {
    answer(json!({"response_type": "ephemeral", "text": as_dyn(platform).render(text)}))
}
