//! Issue comments and reactions (on issue and review comments).

use super::{Call, MAX_BODY, REACTIONS, paginate, validation_failed};
use crate::fake_github::json;
use crate::fake_github::{Answer, CommentKind, CommentRec, FakeReaction};
use axum::http::Method;
use serde_json::{Value, json};

pub(super) fn react(call: &Call, comment_id: u64, kind: CommentKind) -> Answer {
    let body = match call.body_json() {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let content = body["content"].as_str().unwrap_or_default().to_owned();
    if !REACTIONS.contains(&content.as_str()) {
        return validation_failed(json!([
            {"resource": "Reaction", "code": "invalid", "field": "content"}
        ]));
    }
    let mut inner = call.inner();
    let exists = inner
        .comments
        .iter()
        .any(|c| c.id == comment_id && c.kind == kind && c.repo == call.full_name);
    if !exists {
        return Answer::not_found();
    }
    let login = call.state.bot_login.clone();
    let existing = inner
        .reactions
        .iter()
        .find(|r| {
            r.comment_id == comment_id && r.kind == kind && r.content == content && r.user == login
        })
        .map(|r| r.id);
    let (status, id) = match existing {
        // GitHub answers 200 with the reaction that was already there.
        Some(id) => (200, id),
        None => {
            let id = inner.next_id();
            inner.reactions.push(FakeReaction {
                id,
                repo: call.full_name.clone(),
                comment_id,
                content: content.clone(),
                kind,
                user: login.clone(),
            });
            (201, id)
        }
    };
    let user = call.user(&mut inner, &login);
    Answer::json(
        status,
        json!({
            "id": id,
            "node_id": format!("REA_lATO{id:010}"),
            "user": user,
            "content": content,
            "created_at": json::now(),
        }),
    )
}

/// The `body` of a comment or pull request write, checked as GitHub checks it.
pub(super) fn checked_body(
    body: &Value,
    required: bool,
    resource: &str,
) -> Result<Option<String>, Answer> {
    match &body["body"] {
        Value::String(text) if text.chars().count() > MAX_BODY => Err(validation_failed(json!([{
            "resource": resource,
            "code": "custom",
            "field": "body",
            "message": format!("body is too long (maximum is {MAX_BODY} characters)"),
        }]))),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Null if !required => Ok(None),
        _ => Err(Answer::error(
            422,
            "Invalid request.\n\n\"body\" wasn't supplied.",
        )),
    }
}

pub(super) fn create_comment(call: &Call, issue: u64) -> Answer {
    let body = match call
        .body_json()
        .and_then(|b| checked_body(&b, true, "IssueComment"))
    {
        Ok(body) => body.unwrap_or_default(),
        Err(answer) => return answer,
    };
    let mut inner = call.inner();
    let id = inner.next_id();
    let now = json::now();
    let comment = CommentRec {
        id,
        repo: call.full_name.clone(),
        issue,
        kind: CommentKind::Issue,
        author: call.state.bot_login.clone(),
        history: vec![body],
        via_app: call.via_app(),
        created_at: now.clone(),
        updated_at: now,
    };
    let repo = inner.repos.get_mut(&call.full_name.to_lowercase()).unwrap();
    repo.last_number = repo.last_number.max(issue);
    inner.comments.push(comment.clone());
    let mut answer = Answer::json(201, call.comment_json(&mut inner, &comment));
    answer.headers.push((
        "location".into(),
        format!("{}/issues/comments/{id}", call.api()),
    ));
    answer
}

pub(super) fn list_comments(call: &Call, issue: u64) -> Answer {
    let mut inner = call.inner();
    let comments: Vec<CommentRec> = inner
        .comments
        .iter()
        .filter(|c| c.kind == CommentKind::Issue && c.issue == issue && c.repo == call.full_name)
        .cloned()
        .collect();
    let items = comments
        .iter()
        .map(|c| call.comment_json(&mut inner, c))
        .collect();
    drop(inner);
    paginate(
        call,
        &format!("{}/issues/{issue}/comments", call.api()),
        items,
    )
}

pub(super) fn comment(call: &Call, id: u64) -> Answer {
    let patch = if call.method == Method::PATCH {
        match call
            .body_json()
            .and_then(|b| checked_body(&b, true, "IssueComment"))
        {
            Ok(body) => body,
            Err(answer) => return answer,
        }
    } else {
        None
    };
    let mut inner = call.inner();
    let Some(at) = inner
        .comments
        .iter()
        .position(|c| c.id == id && c.kind == CommentKind::Issue && c.repo == call.full_name)
    else {
        return Answer::not_found();
    };
    if let Some(body) = patch {
        let comment = &mut inner.comments[at];
        comment.history.push(body);
        comment.updated_at = json::now();
    }
    let comment = inner.comments[at].clone();
    Answer::json(200, call.comment_json(&mut inner, &comment))
}
