//! Acting on sessions through the API, as an operator holding the API token: start
//! a session by hand (its thread is the session itself), say something to one (a
//! follow-up for its running agent, or words that take a finished session up again),
//! stop one, answer its agent's permission request. Each request is a delivery like
//! any platform's: an `Idempotency-Key` header makes a retried request do nothing
//! twice.

use super::api::existing_session;
use super::{ApiError, AppState};
use crate::chat::{ChatPlatform, Intake, Taken};
use crate::core::{
    Ask, Author, DeliveryId, Intent, Origin, Platform, Policy, RepoRef, SessionId, SessionState,
    ThreadRef,
};
use crate::messages;
use crate::store::{Delivered, DeliveryAction, Removed};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;

/// What acting needs of the running lucid: its intake, and its platforms (its own,
/// to start sessions on; the others, to show a stop in their threads).
pub struct Actions {
    pub intake: Intake,
    pub registry: Arc<crate::registry::Registry>,
}

impl Actions {
    /// Starts a session by hand on `repo`, with `agent` (an id this lucid has; None:
    /// the one the task's words ask for, else the default); its thread is the session
    /// itself.
    pub(in crate::http) async fn start(
        &self,
        task: String,
        repo: &str,
        title: Option<String>,
        agent: Option<&str>,
        author: Author,
        delivery: DeliveryId,
    ) -> Result<Taken, ApiError> {
        let agent = agent
            .map(|named| {
                self.intake
                    .agents
                    .find(named)
                    .map(str::to_owned)
                    .map_err(|refusal| ApiError::bad_request(messages::refusal_reason(&refusal)))
            })
            .transpose()?;
        let repo = RepoRef::parse(repo.trim()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let forges = &self.intake.forges;
        if !forges.iter().any(|f| f.name() == repo.forge()) {
            let served: Vec<&str> = forges.iter().map(|f| f.name()).collect();
            return Err(ApiError::bad_request(format!(
                "no forge here serves {}: lucid serves {}",
                repo.forge(),
                served.join(", ")
            )));
        }
        let intent = Intent {
            origin: Origin {
                delivery,
                thread: ThreadRef::Web {
                    id: uuid::Uuid::now_v7().to_string(),
                },
                author,
                message: None,
                addressed: true,
            },
            ask: Ask::Task {
                text: text(task, "task")?,
                repo: Some(repo),
                title: title.map(|t| messages::shorten(&messages::one_line(&t), 200)),
                whole: None,
                agent,
            },
        };
        Ok(self
            .intake
            .take(self.web()?, intent, Policy::open(), None, true)
            .await?)
    }

    /// Words for a session: they reach its running agent, or take it up again.
    pub(in crate::http) async fn say(
        &self,
        session: SessionId,
        author: &Author,
        words: String,
        delivery: &DeliveryId,
    ) -> Result<Delivered, ApiError> {
        let action = DeliveryAction::Say {
            session,
            author: author.display_name.clone(),
            text: text(words, "text")?,
        };
        Ok(self
            .intake
            .store
            .record_delivery(Platform::WEB, delivery, action)
            .await?)
    }

    /// Takes the session's work tree back to `checkpoint` (none: undoes the last
    /// step); a finished session is taken up again to do it.
    pub(in crate::http) async fn revert(
        &self,
        session: SessionId,
        author: &Author,
        checkpoint: Option<u32>,
        delivery: &DeliveryId,
    ) -> Result<Delivered, ApiError> {
        let action = DeliveryAction::Revert {
            session,
            author: author.display_name.clone(),
            checkpoint,
        };
        Ok(self
            .intake
            .store
            .record_delivery(Platform::WEB, delivery, action)
            .await?)
    }

    /// Answers the agent's permission request `number` (none: the one that waits):
    /// logged for the session's running agent, which settles the request if it is the
    /// one waiting. A finished session has nothing waiting: 409.
    pub(in crate::http) async fn answer_permission(
        &self,
        session: &crate::core::Session,
        author: &Author,
        number: Option<u32>,
        allow: bool,
        delivery: &DeliveryId,
    ) -> Result<Delivered, ApiError> {
        if session.state.is_terminal() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                messages::page::WORDS.nothing_waits,
            ));
        }
        let action = DeliveryAction::Permission {
            session: session.id,
            author: author.display_name.clone(),
            number,
            allow,
        };
        Ok(self
            .intake
            .store
            .record_delivery(Platform::WEB, delivery, action)
            .await?)
    }

    /// Stops a live session; a finished one stays as it ended.
    pub(in crate::http) async fn stop(
        &self,
        session: &crate::core::Session,
        who: &Author,
        delivery: &DeliveryId,
    ) -> Result<Delivered, ApiError> {
        let action = DeliveryAction::Stop {
            session: session.id,
            reason: messages::stopped_by(who).words(),
        };
        let delivered = self
            .intake
            .store
            .record_delivery(Platform::WEB, delivery, action)
            .await?;
        // A queued session has no worker to show its end in its thread: shown here.
        if session.state == SessionState::Queued
            && matches!(delivered, Delivered::New { .. })
            && let Some(platform) = self.registry.platform(&session.trigger.thread.platform())
        {
            self.intake.show_status_later(platform, session.id);
        }
        Ok(delivered)
    }

    fn web(&self) -> Result<&Arc<dyn ChatPlatform>, ApiError> {
        self.registry.platform(&Platform::WEB).ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "lucid's own platform is off",
            )
        })
    }
}

/// Who acts when the request does not say: the holder of the API token.
const OPERATOR: &str = "operator";
/// The longest task or message taken.
const MAX_TEXT: usize = 100_000;

/// A JSON body whose errors answer 400 with the reason, like every API error.
pub(super) struct ApiJson<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(body)| ApiJson(body))
            .map_err(|e: JsonRejection| ApiError::bad_request(e.body_text()))
    }
}

pub(in crate::http) fn actions(state: &AppState) -> Result<&Actions, ApiError> {
    state.actions.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this lucid does not take actions (it serves the API only)",
        )
    })
}

/// The request's delivery: its `Idempotency-Key`, else a fresh one.
pub(super) fn delivery(headers: &HeaderMap) -> Result<DeliveryId, ApiError> {
    let key = match headers.get("idempotency-key") {
        Some(key) => key
            .to_str()
            .map_err(|_| ApiError::bad_request("the Idempotency-Key header is not text"))?
            .to_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    DeliveryId::parse(&format!("api:{key}")).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub(in crate::http) fn operator(name: Option<String>) -> Author {
    let name = name
        .map(|n| messages::one_line(&n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| OPERATOR.to_owned());
    Author {
        id: OPERATOR.to_owned(),
        display_name: messages::shorten(&name, 80),
    }
}

fn text(value: String, what: &str) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{what} is empty")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "{what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(value)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSession {
    task: String,
    repo: String,
    title: Option<String>,
    /// The agent to run with, by its id (`built-in`, `gemini`); default: the one
    /// the task's words ask for (`with gemini: …`), else this lucid's default. An
    /// agent this lucid does not have is a 400.
    agent: Option<String>,
    /// Who asks, as the session shows them.
    author: Option<String>,
}

/// `POST /api/v1/sessions`: 201 `{"session": id}`; 200 `{"duplicate": true}` for an
/// `Idempotency-Key` seen before.
#[utoipa::path(post, path = "/sessions", request_body = NewSession,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried request with the same key starts nothing twice")),
    responses((status = 201, description = "Started: `{\"session\": id}`"),
        (status = 200, description = "Seen before: `{\"duplicate\": true}`"),
        (status = 400, description = "A bad body, a repository no forge here serves, or an agent this lucid does not have")))]
pub(super) async fn start_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewSession>,
) -> Result<Response, ApiError> {
    let taken = actions(&state)?
        .start(
            body.task,
            &body.repo,
            body.title,
            body.agent.as_deref(),
            operator(body.author),
            delivery(&headers)?,
        )
        .await?;
    Ok(match taken {
        Taken::Started(id) => (StatusCode::CREATED, Json(json!({ "session": id }))).into_response(),
        // Words that ask for an agent and nothing else (`with gemini:`).
        Taken::Refused(refusal) => {
            return Err(ApiError::bad_request(messages::refusal_reason(&refusal)));
        }
        other => (StatusCode::OK, Json(other.to_json())).into_response(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMessage {
    text: String,
    author: Option<String>,
}

/// `POST /api/v1/sessions/{id}/messages`: the words reach the running agent, or take
/// the finished session up again on its branch and pull request.
#[utoipa::path(post, path = "/sessions/{id}/messages", request_body = NewMessage,
    params(("id" = String, Path, description = "The session's id"), ("Idempotency-Key" = Option<String>, Header, description = "Dedupes retries")),
    responses((status = 200, description = "`{\"session\": id, \"resumed\": bool}`"),
        (status = 404, description = "No such session")))]
pub(super) async fn say_to_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actions = actions(&state)?;
    let session = existing_session(&state, &id).await?;
    let delivered = actions
        .say(
            session.id,
            &operator(body.author),
            body.text,
            &delivery(&headers)?,
        )
        .await?;
    Ok(Json(match delivered {
        Delivered::New { resumed } => json!({ "session": session.id, "resumed": resumed }),
        Delivered::Duplicate => json!({ "duplicate": true }),
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StopRequest {
    author: Option<String>,
}

/// `POST /api/v1/sessions/{id}/stop`: a live session is cancelled (its worker stops
/// the agent and its sandbox); a finished one stays as it ended.
#[utoipa::path(post, path = "/sessions/{id}/stop", request_body(content = Option<StopRequest>, description = "Optional: who stops it"),
    params(("id" = String, Path, description = "The session's id"), ("Idempotency-Key" = Option<String>, Header, description = "Dedupes retries")),
    responses((status = 200, description = "`{\"session\": id, \"state\": …}`"),
        (status = 404, description = "No such session")))]
pub(super) async fn stop_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actions = actions(&state)?;
    // The body is optional: `{"author": …}` names who stops it.
    let body: StopRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StopRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("{e}")))?
    };
    let session = existing_session(&state, &id).await?;
    let delivered = actions
        .stop(&session, &operator(body.author), &delivery(&headers)?)
        .await?;
    let now = existing_session(&state, &id).await?;
    Ok(Json(match delivered {
        Delivered::New { .. } => json!({ "session": now.id, "state": now.state.as_str() }),
        Delivered::Duplicate => json!({ "duplicate": true }),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Rename {
    title: String,
}

/// `PATCH /api/v1/sessions/{id}`: renames it; answers the session.
#[utoipa::path(patch, path = "/sessions/{id}", request_body = Rename, params(("id" = String, Path, description = "The session's id")),
    responses((status = 200, description = "The renamed session"), (status = 404, description = "No such session")))]
pub(super) async fn rename_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<crate::core::Session>, ApiError> {
    let session = existing_session(&state, &id).await?;
    let title = messages::one_line(&text(body.title, "title")?);
    state
        .store
        .set_title(session.id, &messages::shorten(&title, 200))
        .await?;
    existing_session(&state, &id).await.map(Json)
}

/// `DELETE /api/v1/sessions/{id}`: removes a finished session and its log (204); a
/// live one is 409 (stop it first).
#[utoipa::path(delete, path = "/sessions/{id}", params(("id" = String, Path, description = "The session's id")),
    responses((status = 204, description = "Removed"), (status = 409, description = "Still live: stop it first"),
        (status = 404, description = "No such session")))]
pub(super) async fn delete_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = super::api::parse_session_id(&id)?;
    match state.store.delete_finished_session(session).await? {
        Removed::Deleted => Ok(StatusCode::NO_CONTENT),
        Removed::NotFinished(live) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("session {session} is {}: stop it first", live.as_str()),
        )),
        Removed::NotFound => Err(ApiError::not_found(format!("session {session} not found"))),
    }
}
