//! Pull requests: create, list, get, update.

use super::comments::checked_body;
use super::{Call, paginate, validation_failed};
use crate::fake_github::json;
use crate::fake_github::{Answer, PullRec, git};
use axum::http::Method;
use serde_json::{Value, json};

/// `owner:branch` or `branch` -> (owner, branch).
fn split_head(head: &str, default_owner: &str) -> (String, String) {
    match head.split_once(':') {
        Some((owner, branch)) => (owner.to_owned(), branch.to_owned()),
        None => (default_owner.to_owned(), head.to_owned()),
    }
}

pub(super) async fn create_pull(call: &Call<'_>) -> Answer {
    let body = match call.body_json() {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let text = match checked_body(&body, false, "PullRequest") {
        Ok(text) => text,
        Err(answer) => return answer,
    };
    let mut missing = Vec::new();
    for field in ["title", "head", "base"] {
        if !body[field].is_string() {
            missing
                .push(json!({"resource": "PullRequest", "code": "missing_field", "field": field}));
        }
    }
    if !missing.is_empty() {
        return validation_failed(Value::Array(missing));
    }
    let title = body["title"].as_str().unwrap().to_owned();
    let base = body["base"].as_str().unwrap().to_owned();
    let draft = body["draft"].as_bool().unwrap_or(false);
    let (owner, name) = {
        let inner = call.inner();
        let repo = &inner.repos[&call.full_name.to_lowercase()];
        (repo.owner.clone(), repo.name.clone())
    };
    let (head_owner, head) = split_head(body["head"].as_str().unwrap(), &owner);
    let dir = git::repo_path(&call.state.root, &owner, &name);
    let head_sha = match git::resolve(&dir, &format!("refs/heads/{head}")).await {
        Some(sha) if head_owner.eq_ignore_ascii_case(&owner) => sha,
        _ => {
            return validation_failed(json!([
                {"resource": "PullRequest", "field": "head", "code": "invalid"}
            ]));
        }
    };
    let Some(base_sha) = git::resolve(&dir, &format!("refs/heads/{base}")).await else {
        return validation_failed(json!([
            {"resource": "PullRequest", "field": "base", "code": "invalid"}
        ]));
    };
    if git::count_commits(&dir, &base_sha, &head_sha).await == 0 {
        return validation_failed(json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("No commits between {base} and {head}"),
        }]));
    }
    let pull = {
        let mut inner = call.inner();
        let duplicate = inner.pulls.iter().any(|p| {
            p.repo == call.full_name && p.state == "open" && p.head == head && p.base == base
        });
        if duplicate {
            return validation_failed(json!([{
                "resource": "PullRequest",
                "code": "custom",
                "message": format!("A pull request already exists for {owner}:{head}."),
            }]));
        }
        let id = inner.next_id();
        let repo = inner.repos.get_mut(&call.full_name.to_lowercase()).unwrap();
        repo.last_number += 1;
        let number = repo.last_number;
        let now = json::now();
        let pull = PullRec {
            id,
            repo: call.full_name.clone(),
            number,
            title,
            body: text,
            head,
            head_owner: owner,
            base,
            head_sha,
            base_sha,
            state: "open".into(),
            draft,
            author: call.state.bot_login.clone(),
            via_app: call.via_app(),
            edits: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        inner.pulls.push(pull.clone());
        pull
    };
    let mut answer = Answer::json(201, pull_json(call, &pull, true).await);
    answer.headers.push((
        "location".into(),
        format!("{}/pulls/{}", call.api(), pull.number),
    ));
    answer
}

pub(super) async fn list_pulls(call: &Call<'_>) -> Answer {
    let state = call.query("state").unwrap_or_else(|| "open".into());
    // GitHub wants `user:ref-name`; a bare branch name filters nothing (as far as is known).
    let head = call
        .query("head")
        .and_then(|h| h.split_once(':').map(|(o, b)| (o.to_owned(), b.to_owned())));
    let base = call.query("base");
    let mut pulls: Vec<PullRec> = call
        .inner()
        .pulls
        .iter()
        .filter(|p| p.repo == call.full_name)
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| {
            head.as_ref()
                .is_none_or(|(o, b)| o.eq_ignore_ascii_case(&p.head_owner) && b == &p.head)
        })
        .filter(|p| base.as_ref().is_none_or(|b| b == &p.base))
        .cloned()
        .collect();
    // Newest first, GitHub's default order.
    pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
    let mut items = Vec::new();
    for pull in &pulls {
        items.push(pull_json(call, pull, false).await);
    }
    paginate(call, &format!("{}/pulls", call.api()), items)
}

pub(super) async fn pull(call: &Call<'_>, number: u64) -> Answer {
    let patch = if call.method == Method::PATCH {
        let body = match call.body_json() {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        if let Err(answer) = checked_body(&body, false, "PullRequest") {
            return answer;
        }
        if let Some(state) = body["state"].as_str()
            && state != "open"
            && state != "closed"
        {
            return validation_failed(json!([
                {"resource": "PullRequest", "field": "state", "code": "invalid"}
            ]));
        }
        Some(body)
    } else {
        None
    };
    let pull = {
        let mut inner = call.inner();
        let Some(pull) = inner
            .pulls
            .iter_mut()
            .find(|p| p.number == number && p.repo == call.full_name)
        else {
            return Answer::not_found();
        };
        if let Some(patch) = patch {
            if let Some(title) = patch["title"].as_str() {
                pull.title = title.to_owned();
            }
            if let Some(body) = patch["body"].as_str() {
                pull.body = Some(body.to_owned());
            }
            if let Some(state) = patch["state"].as_str() {
                pull.state = state.to_owned();
            }
            if let Some(base) = patch["base"].as_str() {
                pull.base = base.to_owned();
            }
            pull.edits += 1;
            pull.updated_at = json::now();
        }
        pull.clone()
    };
    Answer::json(200, pull_json(call, &pull, true).await)
}

/// A pull request; `full` adds what only the single-pull answers carry (mergeability,
/// commit and diff counts).
async fn pull_json(call: &Call<'_>, p: &PullRec, full: bool) -> Value {
    let (owner, name) = p.repo.split_once('/').unwrap();
    let dir = git::repo_path(&call.state.root, owner, name);
    let head_sha = git::resolve(&dir, &format!("refs/heads/{}", p.head))
        .await
        .unwrap_or_else(|| p.head_sha.clone());
    let base_sha = git::resolve(&dir, &format!("refs/heads/{}", p.base))
        .await
        .unwrap_or_else(|| p.base_sha.clone());
    let stats = if full {
        Some(git::diff_stats(&dir, &base_sha, &head_sha).await)
    } else {
        None
    };
    let origin = call.origin();
    let api = call.api();
    let html = format!("{origin}/{}/pull/{}", p.repo, p.number);
    let url = format!("{api}/pulls/{}", p.number);
    let mut inner = call.inner();
    let user = call.user(&mut inner, &p.author);
    let owner_user = call.user(&mut inner, owner);
    let repo = call.repo_facts(&mut inner, None);
    let association = call.author_association(&inner, &p.author);
    let performed_via = call.performed_via(&mut inner, p.via_app);
    drop(inner);
    let closed_at = (p.state == "closed").then(|| p.updated_at.clone());
    let mut pull = json!({
        "url": url,
        "id": p.id,
        "node_id": format!("PR_kwDO{:010}", p.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{}", p.number),
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{}/comments", p.number),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": p.number,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": user,
        "body": p.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "closed_at": closed_at,
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": format!("{}:{}", p.head_owner, p.head),
            "ref": p.head,
            "sha": head_sha,
            "user": owner_user,
            "repo": repo,
        },
        "base": {
            "label": format!("{owner}:{}", p.base),
            "ref": p.base,
            "sha": base_sha,
            "user": owner_user,
            "repo": repo,
        },
        "author_association": association,
        "auto_merge": null,
        "draft": p.draft,
        "performed_via_github_app": performed_via,
    });
    let links = json!({
    "self": {"href": url},
    "html": {"href": html},
    "issue": {"href": format!("{api}/issues/{}", p.number)},
    "comments": {"href": format!("{api}/issues/{}/comments", p.number)},
    "review_comments": {"href": format!("{url}/comments")},
    "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
    "commits": {"href": format!("{url}/commits")},
    "statuses": {"href": format!("{api}/statuses/{head_sha}")},
    });
    pull["_links"] = links;
    if let Some(stats) = stats {
        let extra = json!({
            "merged": false,
            "mergeable": null,
            "rebaseable": null,
            "mergeable_state": "unknown",
            "merged_by": null,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": false,
            "commits": stats.commits,
            "additions": stats.additions,
            "deletions": stats.deletions,
            "changed_files": stats.changed_files,
        });
        pull.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
    }
    pull
}
