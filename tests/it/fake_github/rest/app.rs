//! GitHub App: the App itself (`GET /app`), its installations, the installation of a
//! repository, and minting installation tokens.

use super::{Call, repository};
use crate::fake_github::json;
use crate::fake_github::{Answer, MintedToken};
use rand::Rng;
use serde_json::{Value, json};

/// `GET /app`, with the App's JWT: the App, in GitHub's shape.
pub(super) fn app(call: &Call) -> Answer {
    let Some(app) = call.inner().app else {
        return Answer::not_found();
    };
    // An App made from a manifest is called as its manifest named it.
    let made = call.inner().manifests.slug_of(app.app_id);
    let slug = made.unwrap_or_else(|| call.state.bot_login.trim_end_matches("[bot]").to_owned());
    let owner_id = call.inner().user_id("acme");
    Answer::json(
        200,
        json!({
            "id": app.app_id,
            "slug": slug,
            "client_id": format!("Iv1.fake{}", app.app_id),
            "node_id": format!("A_kwDO{:08}", app.app_id),
            "owner": json::user(call.origin(), "acme", owner_id),
            "name": slug,
            "description": "",
            "external_url": "https://lucid.example.com",
            "html_url": format!("{}/apps/{slug}", call.origin()),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"},
            "events": ["issue_comment", "pull_request_review_comment"],
            "installations_count": 1,
        }),
    )
}

/// `GET /app/installations`, with the App's JWT: its one installation (on the
/// owner of the fake's first repository), or none before any repository exists.
pub(super) fn installations(call: &Call) -> Answer {
    let mut inner = call.inner();
    let Some(app) = inner.app else {
        return Answer::not_found();
    };
    let Some(owner) = inner.repos.values().next().map(|r| r.owner.clone()) else {
        return Answer::json(200, json!([]));
    };
    let owner_id = inner.user_id(&owner);
    let origin = call.origin();
    let id = app.installation_id;
    Answer::json(
        200,
        json!([{
            "id": id,
            "client_id": format!("Iv1.fake{}", app.app_id),
            "account": json::user(origin, &owner, owner_id),
            "repository_selection": "all",
            "access_tokens_url": format!("{origin}/app/installations/{id}/access_tokens"),
            "repositories_url": format!("{origin}/installation/repositories"),
            "html_url": format!("{origin}/settings/installations/{id}"),
            "app_id": app.app_id,
            "app_slug": call.state.bot_login.trim_end_matches("[bot]"),
            "target_id": owner_id,
            "target_type": "User",
            "permissions": {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"},
            "events": ["issue_comment", "pull_request_review_comment"],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": null,
            "suspended_by": null,
            "suspended_at": null,
        }]),
    )
}

pub(super) fn installation(call: &Call) -> Answer {
    let mut inner = call.inner();
    let Some(app) = inner.app else {
        return Answer::not_found();
    };
    let owner = inner.repos[&call.full_name.to_lowercase()].owner.clone();
    let owner_id = inner.user_id(&owner);
    let account = json::user(call.origin(), &owner, owner_id);
    let origin = call.origin();
    let id = app.installation_id;
    Answer::json(
        200,
        json!({
            "id": id,
            "client_id": format!("Iv1.fake{}", app.app_id),
            "account": account,
            "repository_selection": "all",
            "access_tokens_url": format!("{origin}/app/installations/{id}/access_tokens"),
            "repositories_url": format!("{origin}/installation/repositories"),
            "html_url": format!("{origin}/settings/installations/{id}"),
            "app_id": app.app_id,
            "app_slug": call.state.bot_login.trim_end_matches("[bot]"),
            "target_id": owner_id,
            "target_type": "User",
            "permissions": {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"},
            "events": ["issue_comment", "pull_request_review_comment"],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": null,
            "has_multiple_single_files": false,
            "single_file_paths": [],
            "suspended_by": null,
            "suspended_at": null,
        }),
    )
}

pub(super) fn mint(call: &Call, installation_id: u64) -> Answer {
    let body = match call.body_json() {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let mut inner = call.inner();
    if inner.app.map(|a| a.installation_id) != Some(installation_id) {
        return Answer::not_found();
    }
    // `repositories` holds names (no owner), `repository_ids` ids.
    let mut scoped = Vec::new();
    let mut unknown = false;
    for name in body["repositories"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        let found: Vec<String> = inner
            .repos
            .values()
            .filter(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| r.full_name())
            .collect();
        unknown |= found.is_empty();
        scoped.extend(found);
    }
    for id in body["repository_ids"].as_array().into_iter().flatten() {
        match inner.repos.values().find(|r| Some(r.id) == id.as_u64()) {
            Some(repo) => scoped.push(repo.full_name()),
            None => unknown = true,
        }
    }
    if unknown {
        return Answer::error(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        );
    }
    scoped.sort();
    scoped.dedup();
    let token: String = {
        let mut rng = rand::rng();
        let tail: String = (0..36)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect();
        format!("ghs_{tail}")
    };
    let expires_at = json::timestamp(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let permissions = body.get("permissions").cloned().unwrap_or(Value::Null);
    inner.minted.push(MintedToken {
        token: token.clone(),
        installation_id,
        repositories: scoped.clone(),
        permissions_requested: permissions.clone(),
        expires_at: expires_at.clone(),
    });
    let granted = if permissions.is_object() {
        permissions
    } else {
        json!({"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"})
    };
    let mut answer = json!({
        "token": token,
        "expires_at": expires_at,
        "permissions": granted,
        "repository_selection": if scoped.is_empty() { "all" } else { "selected" },
    });
    if !scoped.is_empty() {
        let repos: Vec<Value> = scoped
            .iter()
            .map(|full| repository(call.origin(), &mut inner, full, None))
            .collect();
        answer["repositories"] = Value::Array(repos);
    }
    Answer::json(201, answer)
}
