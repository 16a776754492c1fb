//! GitHub's REST JSON shapes (as its docs show them), the timestamps in them, and the
//! check of a GitHub App JWT.

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// GitHub's timestamp form: `2011-04-14T16:00:49Z`.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap()
}

pub fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// Whether a `timestamp` lies ahead.
pub fn is_future(at: &str) -> bool {
    let number = |range: std::ops::Range<usize>| at.get(range).and_then(|s| s.parse::<u32>().ok());
    let parsed = (|| {
        let month = time::Month::try_from(number(5..7)? as u8).ok()?;
        let date =
            time::Date::from_calendar_date(number(0..4)? as i32, month, number(8..10)? as u8)
                .ok()?;
        let clock = time::Time::from_hms(
            number(11..13)? as u8,
            number(14..16)? as u8,
            number(17..19)? as u8,
        )
        .ok()?;
        Some(date.with_time(clock).assume_utc())
    })();
    parsed.is_some_and(|t| t > OffsetDateTime::now_utc())
}

/// A GitHub App JWT as GitHub accepts it: three base64url parts whose payload has
/// `iss` = the app id (number or string), `iat` not in the future and `exp` in the
/// future but at most ten minutes ahead (a minute's slack for clock drift each way).
/// The RS256 signature is not checked.
pub fn valid_app_jwt(token: &str, app_id: u64) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return false;
    }
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
    };
    let (Some(header), Some(claims)) = (decode(parts[0]), decode(parts[1])) else {
        return false;
    };
    if header["alg"] != "RS256" {
        return false;
    }
    let iss_ok = match &claims["iss"] {
        Value::Number(n) => n.as_u64() == Some(app_id),
        Value::String(s) => s == &app_id.to_string(),
        _ => false,
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let exp_ok = claims["exp"]
        .as_i64()
        .is_some_and(|exp| exp > now && exp <= now + 600 + 60);
    let iat_ok = claims["iat"].as_i64().is_none_or(|iat| iat <= now + 60);
    iss_ok && exp_ok && iat_ok
}

fn escape_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

/// A user (or bot, when the login ends in `[bot]`, or organization) summary.
pub fn user(origin: &str, login: &str, id: u64) -> Value {
    let bot = login.ends_with("[bot]");
    let api = format!("{origin}/users/{}", escape_login(login));
    let html = match login.strip_suffix("[bot]") {
        Some(slug) => format!("{origin}/apps/{slug}"),
        None => format!("{origin}/{login}"),
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("{}_kgDO{id:08}", if bot { "BOT" } else { "U" }),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false,
    })
}

pub struct RepoFacts<'a> {
    pub origin: &'a str,
    pub id: u64,
    pub owner: &'a str,
    pub owner_id: u64,
    pub name: &'a str,
    pub private: bool,
    /// The caller's `permissions` block, when GitHub would include one.
    pub permissions: Option<Value>,
}

pub fn repository(r: &RepoFacts) -> Value {
    let origin = r.origin;
    let full = format!("{}/{}", r.owner, r.name);
    let api = format!("{origin}/repos/{full}");
    let host = origin
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut repo = json!({
        "id": r.id,
        "node_id": format!("R_kgDO{:08}", r.id),
        "name": r.name,
        "full_name": full,
        "private": r.private,
        "owner": user(origin, r.owner, r.owner_id),
        "html_url": format!("{origin}/{full}"),
        "description": null,
        "fork": false,
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
        "comments_url": format!("{api}/comments{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "compare_url": format!("{api}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "hooks_url": format!("{api}/hooks"),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "git_url": format!("git://{host}/{full}.git"),
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": format!("{origin}/{full}.git"),
        "svn_url": format!("{origin}/{full}"),
    });
    let counts = json!({
        "homepage": null,
        "language": null,
        "size": 1,
        "stargazers_count": 0,
        "watchers_count": 0,
        "forks_count": 0,
        "open_issues_count": 0,
        "has_issues": true,
        "has_projects": true,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": false,
        "disabled": false,
        "is_template": false,
        "allow_forking": true,
        "web_commit_signoff_required": false,
        "topics": [],
        "visibility": if r.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": "main",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "pushed_at": "2024-01-01T00:00:00Z",
    });
    repo.as_object_mut()
        .unwrap()
        .extend(counts.as_object().unwrap().clone());
    if let Some(permissions) = &r.permissions {
        repo["permissions"] = permissions.clone();
    }
    repo
}

/// The `permissions` flags for a role, as in a repository or collaborator answer.
pub fn permission_flags(role: &str) -> Value {
    let rank = |r: &str| match r {
        "admin" => 5,
        "maintain" => 4,
        "write" => 3,
        "triage" => 2,
        "read" => 1,
        _ => 0,
    };
    let level = rank(role);
    json!({
        "admin": level >= 5,
        "maintain": level >= 4,
        "push": level >= 3,
        "triage": level >= 2,
        "pull": level >= 1,
    })
}

/// GitHub's coarse `permission` for a role: maintain counts as write, triage as read.
pub fn coarse_permission(role: &str) -> &'static str {
    match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    }
}

pub fn reactions_summary(url: &str) -> Value {
    json!({
        "url": format!("{url}/reactions"),
        "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
        "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
    })
}

/// The GitHub App a token acts for, as `performed_via_github_app` shows it.
pub fn app(origin: &str, app_id: u64, owner: Value, slug: &str) -> Value {
    json!({
        "id": app_id,
        "client_id": format!("Iv1.fake{app_id}"),
        "slug": slug,
        "node_id": format!("A_kwDO{app_id:08}"),
        "owner": owner,
        "name": slug,
        "description": "",
        "external_url": format!("{origin}/apps/{slug}"),
        "html_url": format!("{origin}/apps/{slug}"),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"},
        "events": ["issue_comment", "pull_request_review_comment"],
    })
}
