//! `POST /webhooks/github`: verify, parse, turn into an intent, hand to the intake,
//! answer, in milliseconds. No agent work happens here; a recorded session waits for
//! a worker. The one call to GitHub is the author's permission (the forge's), asked
//! once and remembered for a minute.

use super::{
    Comment, DELIVERY_HEADER, EVENT_HEADER, GithubEvent, Issue, Mention, SIGNATURE_HEADER, mention,
    parse, verify,
};
use crate::chat::{AgentChoice, ChatPlatform, ForgeIdentity, Intake, Taken};
use crate::core::{Ask, Author, DeliveryId, Intent, Origin, Policy};
use crate::github::outbound::client::CommentKind;
use crate::github::{GithubPlatform, comment_ref};
use crate::http::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// Where GitHub delivers webhooks.
pub const WEBHOOK_PATH: &str = "/webhooks/github";

pub fn routes(platform: Arc<GithubPlatform>, intake: Intake) -> axum::Router {
    axum::Router::new()
        .route(WEBHOOK_PATH, axum::routing::post(receive))
        .with_state((platform, intake))
}

async fn receive(
    State((hook, intake)): State<(Arc<GithubPlatform>, Intake)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Taken once: a delivery is judged by one identity even if the setup swaps it now.
    let identity = hook.link.current().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::messages::github_not_connected(),
        )
    })?;
    verify(&identity.webhook_secrets, &body, header(SIGNATURE_HEADER))
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let bot = identity.bot_login.as_str();
    let event = header(EVENT_HEADER)
        .ok_or_else(|| ApiError::bad_request(format!("the {EVENT_HEADER} header is missing")))?;
    let delivery = header(DELIVERY_HEADER)
        .ok_or_else(|| ApiError::bad_request(format!("the {DELIVERY_HEADER} header is missing")))
        .and_then(|d| {
            DeliveryId::parse(d).map_err(|e| {
                ApiError::bad_request(format!("the {DELIVERY_HEADER} header is unusable: {e}"))
            })
        })?;
    let event = parse(event, &body).map_err(|e| ApiError::bad_request(e.reason()))?;
    let request = match event {
        GithubEvent::Ping => return Ok(answer(StatusCode::OK, json!({"ok": "pong"}))),
        GithubEvent::Ignored { reason } => return Ok(ignored(&reason)),
        GithubEvent::IssueComment(comment) => {
            Request::from_comment(bot, comment, CommentKind::Issue)
        }
        GithubEvent::ReviewComment(comment) => {
            Request::from_comment(bot, comment, CommentKind::Review)
        }
        GithubEvent::Labeled {
            issue,
            label,
            sender,
        } if label.eq_ignore_ascii_case(&hook.trigger_label) => {
            Request::from_issue(issue, sender.login)
        }
        GithubEvent::Assigned {
            issue,
            assignee,
            sender,
        } if assignee.eq_ignore_ascii_case(bot) => Request::from_issue(issue, sender.login),
        GithubEvent::Labeled { .. } | GithubEvent::Assigned { .. } => {
            return Ok(ignored("not the trigger label or not assigned to lucid"));
        }
    };
    let request = match request {
        Ok(request) => request,
        Err(reason) => return Ok(ignored(reason)),
    };
    let login = request.login.clone();
    let platform: Arc<dyn ChatPlatform> = hook;
    let taken = intake
        .take(
            &platform,
            request.intent(delivery, &intake.agents),
            request.policy(),
            Some(ForgeIdentity {
                forge: "github",
                login: &login,
            }),
            false,
        )
        .await?;
    let status = match taken {
        Taken::Duplicate => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    Ok(answer(status, taken.to_json()))
}

/// What a delivery asks of lucid, once it is known to be for lucid.
struct Request {
    issue: Issue,
    login: String,
    /// The comment that asked, to react to.
    comment: Option<(u64, CommentKind)>,
    wants: Mention,
}

impl Request {
    fn from_comment(
        bot: &str,
        comment: Comment,
        kind: CommentKind,
    ) -> Result<Request, &'static str> {
        let own = comment.author.login.eq_ignore_ascii_case(bot)
            || comment
                .author
                .login
                .eq_ignore_ascii_case(&format!("{bot}[bot]"));
        if comment.author.is_bot || own {
            return Err("comments by bots never trigger");
        }
        let wants = mention(&comment.body, bot).ok_or("the comment does not mention lucid")?;
        Ok(Request {
            issue: comment.issue,
            login: comment.author.login,
            comment: Some((comment.comment_id, kind)),
            wants,
        })
    }

    fn from_issue(issue: Issue, login: String) -> Result<Request, &'static str> {
        if login.ends_with("[bot]") {
            return Err("bots never trigger");
        }
        Ok(Request {
            issue,
            login,
            comment: None,
            wants: Mention::Task(String::new()),
        })
    }

    /// The intent of the request; the whole task is made of the words without the
    /// agent they ask for (`with gemini: …`), which the intake reads from the words.
    fn intent(&self, delivery: DeliveryId, agents: &AgentChoice) -> Intent {
        let origin = Origin {
            delivery,
            thread: self.issue.thread(),
            author: Author {
                id: self.login.clone(),
                display_name: self.login.clone(),
            },
            message: self.comment.map(|(id, kind)| comment_ref(id, kind)),
            addressed: true,
        };
        let ask = match &self.wants {
            Mention::Stop => Ask::Stop,
            Mention::Task(text) => Ask::Task {
                text: text.clone(),
                repo: Some(self.issue.repo.clone()),
                title: Some(self.issue.title.clone()),
                whole: Some(task_text(&self.issue, &self.login, agents.words(text))),
                agent: None,
            },
        };
        Intent { origin, ask }
    }

    /// Anyone the forge allows may ask; a session starts in an issue, never in a pull
    /// request lucid did not open.
    fn policy(&self) -> Policy {
        Policy {
            refusal: None,
            may_start: !self.issue.is_pull_request,
            default_repo: None,
        }
    }
}

/// The task as the agent gets it: the issue, and what was asked in the comment.
fn task_text(issue: &Issue, login: &str, asked: &str) -> String {
    let mut task = format!(
        "GitHub issue #{}: {}\n\n{}",
        issue.number,
        issue.title,
        issue.body.trim()
    );
    if !asked.trim().is_empty() {
        task.push_str(&format!("\n\n@{login} asked:\n{}", asked.trim()));
    }
    task
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn ignored(reason: &str) -> Response {
    answer(StatusCode::ACCEPTED, json!({"ignored": reason}))
}
