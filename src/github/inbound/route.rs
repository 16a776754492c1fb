//! `POST /webhooks/github`: verify, parse, decide, record, answer, in milliseconds.
//! No agent work happens here; a recorded session waits for a worker. The one call
//! to GitHub is the author's permission, asked once and remembered for a minute.

use super::{
    Comment, DELIVERY_HEADER, EVENT_HEADER, GithubEvent, Issue, Mention, SIGNATURE_HEADER, mention,
    parse, verify,
};
use crate::config::GithubSettings;
use crate::core::{Author, DeliveryId, Platform, RepoName, Trigger};
use crate::github::outbound::client::{CommentKind, GithubClient};
use crate::http::ApiError;
use crate::store::{Delivered, DeliveryAction, Recorded, Store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an author's permission on a repository is taken as known.
const PERMISSION_TTL: Duration = Duration::from_secs(60);

pub struct GithubWebhook {
    pub store: Store,
    pub settings: Arc<GithubSettings>,
    pub client: Arc<GithubClient>,
    permissions: Mutex<HashMap<(RepoName, String), (bool, Instant)>>,
}

impl GithubWebhook {
    pub fn new(store: Store, settings: Arc<GithubSettings>, client: Arc<GithubClient>) -> Self {
        Self {
            store,
            settings,
            client,
            permissions: Mutex::new(HashMap::new()),
        }
    }

    pub fn routes(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/webhooks/github", axum::routing::post(receive))
            .with_state(self)
    }

    /// May `login` ask for work on `repo`? Only with write, maintain or admin
    /// permission (asked of GitHub; `author_association` hides private membership).
    async fn may_trigger(&self, repo: &RepoName, login: &str) -> Result<bool, ApiError> {
        let key = (repo.clone(), login.to_owned());
        if let Some((allowed, at)) = self.permissions.lock().unwrap().get(&key)
            && at.elapsed() < PERMISSION_TTL
        {
            return Ok(*allowed);
        }
        let permission = async { self.client.repo(repo).await?.permission(login).await }
            .await
            .map_err(|e| {
                tracing::warn!(%repo, login, error = %e, "could not check a permission");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("could not check {login}'s permission on {repo}: {e}"),
                )
            })?;
        let allowed = matches!(permission.as_str(), "admin" | "maintain" | "write");
        self.permissions
            .lock()
            .unwrap()
            .insert(key, (allowed, Instant::now()));
        Ok(allowed)
    }
}

async fn receive(
    State(hook): State<Arc<GithubWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify(
        &hook.settings.webhook_secrets,
        &body,
        header(SIGNATURE_HEADER),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
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
            Request::from_comment(&hook, comment, CommentKind::Issue)
        }
        GithubEvent::ReviewComment(comment) => {
            Request::from_comment(&hook, comment, CommentKind::Review)
        }
        GithubEvent::Labeled {
            issue,
            label,
            sender,
        } if label.eq_ignore_ascii_case(&hook.settings.trigger_label) => {
            Request::from_issue(issue, sender.login)
        }
        GithubEvent::Assigned {
            issue,
            assignee,
            sender,
        } if assignee.eq_ignore_ascii_case(&hook.settings.bot_login) => {
            Request::from_issue(issue, sender.login)
        }
        GithubEvent::Labeled { .. } | GithubEvent::Assigned { .. } => {
            return Ok(ignored("not the trigger label or not assigned to lucid"));
        }
    };
    let request = match request {
        Ok(request) => request,
        Err(reason) => return Ok(ignored(reason)),
    };
    request.handle(&hook, delivery).await
}

/// What a delivery asks of lucid, once it is known to be for lucid.
struct Request {
    issue: Issue,
    login: String,
    /// The comment that asked, to react to and to answer.
    comment: Option<(u64, CommentKind)>,
    wants: Mention,
}

impl Request {
    fn from_comment(
        hook: &GithubWebhook,
        comment: Comment,
        kind: CommentKind,
    ) -> Result<Request, &'static str> {
        let bot = &hook.settings.bot_login;
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

    async fn handle(
        self,
        hook: &Arc<GithubWebhook>,
        delivery: DeliveryId,
    ) -> Result<Response, ApiError> {
        let repo = self.issue.repo.clone();
        let thread = self.issue.thread();
        if !hook.may_trigger(&repo, &self.login).await? {
            let text = format!(
                "@{} I only take requests from people who can write to this repository.",
                self.login
            );
            self.answer_once(hook, &delivery, text).await?;
            return Ok(answer(
                StatusCode::ACCEPTED,
                json!({"refused": format!("{} may not write to {repo}", self.login)}),
            ));
        }
        let existing = hook.store.session_for_thread(&thread).await?;
        let (action, text) = match (&self.wants, existing) {
            (Mention::Stop, Some(session)) => (
                DeliveryAction::Stop {
                    session,
                    reason: format!("stopped by @{}", self.login),
                },
                "stopping",
            ),
            (Mention::Stop, None) => return Ok(ignored("there is no session here to stop")),
            (Mention::Task(text), Some(session)) => (
                DeliveryAction::Say {
                    session,
                    author: self.login.clone(),
                    text: if text.is_empty() {
                        "carry on".to_owned()
                    } else {
                        text.clone()
                    },
                },
                "follow-up",
            ),
            (Mention::Task(_), None) if self.issue.is_pull_request => {
                let text = format!(
                    "@{} I only continue pull requests I opened; mention me on an issue to start a task.",
                    self.login
                );
                self.answer_once(hook, &delivery, text).await?;
                return Ok(ignored("not a pull request lucid opened"));
            }
            (Mention::Task(text), None) => {
                let text = text.clone();
                return self.start(hook, delivery, &text).await;
            }
        };
        let session = match &action {
            DeliveryAction::Say { session, .. } | DeliveryAction::Stop { session, .. } => *session,
            DeliveryAction::Nothing | DeliveryAction::Note { .. } => {
                unreachable!("only say and stop reach here")
            }
        };
        match hook
            .store
            .record_delivery(Platform::Github, &delivery, action)
            .await?
        {
            Delivered::Duplicate => Ok(duplicate()),
            Delivered::New { resumed } => {
                self.acknowledge(hook);
                Ok(answer(
                    StatusCode::ACCEPTED,
                    json!({"session": session, "as": text, "resumed": resumed}),
                ))
            }
        }
    }

    async fn start(
        self,
        hook: &Arc<GithubWebhook>,
        delivery: DeliveryId,
        text: &str,
    ) -> Result<Response, ApiError> {
        let trigger = Trigger {
            thread: self.issue.thread(),
            author: Author {
                id: self.login.clone(),
                display_name: self.login.clone(),
            },
            task: task_text(&self.issue, &self.login, text),
            repo: Some(self.issue.repo.clone()),
            delivery,
        };
        match hook.store.record_trigger(trigger).await? {
            Recorded::Duplicate { .. } => Ok(duplicate()),
            Recorded::Created(session) => {
                self.acknowledge(hook);
                Ok(answer(StatusCode::ACCEPTED, json!({"session": session.id})))
            }
        }
    }

    /// 👀 on the comment that asked, after the answer: GitHub waits for nothing.
    fn acknowledge(&self, hook: &Arc<GithubWebhook>) {
        let Some((comment, kind)) = self.comment else {
            return;
        };
        let client = hook.client.clone();
        let repo = self.issue.repo.clone();
        crate::background::spawn(async move {
            let reacted = async { client.repo(&repo).await?.react(comment, kind, "eyes").await };
            if let Err(e) = reacted.await {
                tracing::warn!(%repo, comment, error = %e, "could not react to a comment");
            }
        });
    }

    /// Records a delivery that starts nothing and, the first time it is seen, answers
    /// it in the issue (a retried delivery must not answer twice).
    async fn answer_once(
        &self,
        hook: &Arc<GithubWebhook>,
        delivery: &DeliveryId,
        text: String,
    ) -> Result<(), ApiError> {
        let recorded = hook
            .store
            .record_delivery(Platform::Github, delivery, DeliveryAction::Nothing)
            .await?;
        if recorded != Delivered::Duplicate {
            self.reply_later(hook, text);
        }
        Ok(())
    }

    fn reply_later(&self, hook: &Arc<GithubWebhook>, text: String) {
        let client = hook.client.clone();
        let repo = self.issue.repo.clone();
        let issue = self.issue.number;
        crate::background::spawn(async move {
            let posted = async { client.repo(&repo).await?.comment(issue, &text).await };
            if let Err(e) = posted.await {
                tracing::warn!(%repo, issue, error = %e, "could not answer in an issue");
            }
        });
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

fn duplicate() -> Response {
    answer(StatusCode::OK, json!({"duplicate": true}))
}
