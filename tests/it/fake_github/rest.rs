//! The REST v3 routes: repositories, collaborator permissions, issue comments,
//! reactions, pull requests, and GitHub App installation tokens. This part routes and
//! authorizes; the submodules answer.

mod app;
mod comments;
mod pulls;

use app::{installation, mint};
use comments::{comment, create_comment, list_comments, react};
use pulls::{create_pull, list_pulls, pull};

use super::json::{self, RepoFacts};
use super::{Answer, Auth, CommentKind, CommentRec, Credential, Inner, Shared};
use axum::body::Bytes;
use axum::http::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// GitHub's limit on a comment's (and a pull request's) body, in characters.
const MAX_BODY: usize = 65536;

const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

enum Route {
    Repo,
    Permission(String),
    Reaction(u64, CommentKind),
    IssueComments(u64),
    Comment(u64),
    Pulls,
    Pull(u64),
    Installation,
    AccessTokens(u64),
    /// `GET /user`: who the token is.
    User,
    /// `GET /app`: the App the JWT is of.
    App,
    /// `GET /app/installations`.
    Installations,
}

struct Call<'a> {
    state: &'a Arc<Shared>,
    method: &'a Method,
    /// The repository as the path spells it (`owner/repo`), for repository routes.
    full_name: String,
    query: &'a str,
    auth: &'a Auth,
    body: &'a Bytes,
}

fn parse(method: &Method, segments: &[&str]) -> Option<(Route, String)> {
    let get = method == Method::GET;
    let post = method == Method::POST;
    let patch = method == Method::PATCH;
    let num = |s: &str| s.parse::<u64>().ok();
    let route = match segments {
        ["app", "installations", id, "access_tokens"] if post => {
            return Some((Route::AccessTokens(num(id)?), String::new()));
        }
        ["user"] if get => return Some((Route::User, String::new())),
        ["app"] if get => return Some((Route::App, String::new())),
        ["app", "installations"] if get => return Some((Route::Installations, String::new())),
        ["repos", _, _] if get => Route::Repo,
        ["repos", _, _, "installation"] if get => Route::Installation,
        ["repos", _, _, "collaborators", user, "permission"] if get => {
            Route::Permission((*user).to_owned())
        }
        ["repos", _, _, "issues", "comments", id, "reactions"] if post => {
            Route::Reaction(num(id)?, CommentKind::Issue)
        }
        ["repos", _, _, "pulls", "comments", id, "reactions"] if post => {
            Route::Reaction(num(id)?, CommentKind::Review)
        }
        ["repos", _, _, "issues", "comments", id] if get || patch => Route::Comment(num(id)?),
        ["repos", _, _, "issues", n, "comments"] if get || post => Route::IssueComments(num(n)?),
        ["repos", _, _, "pulls"] if get || post => Route::Pulls,
        ["repos", _, _, "pulls", n] if get || patch => Route::Pull(num(n)?),
        _ => return None,
    };
    Some((route, format!("{}/{}", segments[1], segments[2])))
}

pub(super) async fn serve(
    state: &Arc<Shared>,
    method: &Method,
    segments: &[&str],
    query: &str,
    credential: &Credential,
    body: &Bytes,
) -> Answer {
    let Some((route, full_name)) = parse(method, segments) else {
        let mut answer = Answer::not_found();
        answer.unrouted = true;
        return answer;
    };
    let auth = &credential.auth;
    let app_route = matches!(
        route,
        Route::Installation | Route::AccessTokens(_) | Route::App | Route::Installations
    );
    match (app_route, auth) {
        (_, Auth::Missing) => return Answer::error(401, "Requires authentication"),
        (true, Auth::AppJwt) | (false, Auth::Pat(_) | Auth::Installation(_)) => {}
        (true, _) => return Answer::error(401, "A JSON web token could not be decoded"),
        (false, _) => return Answer::error(401, "Bad credentials"),
    }
    let call = Call {
        state,
        method,
        full_name,
        query,
        auth,
        body,
    };
    match route {
        Route::AccessTokens(id) => return mint(&call, id),
        Route::User => return user(&call),
        Route::App => return app::app(&call),
        Route::Installations => return app::installations(&call),
        _ => {}
    }
    // Repository routes: an unknown repository, or one the token may not reach, is
    // Not Found (GitHub does not tell them apart).
    let Some(full_name) = call.canonical_repo() else {
        return Answer::not_found();
    };
    if !state.may_reach(auth, &full_name) {
        return Answer::not_found();
    }
    let call = Call { full_name, ..call };
    match route {
        Route::Repo => get_repo(&call),
        Route::Installation => installation(&call),
        Route::Permission(login) => permission(&call, &login),
        Route::Reaction(id, kind) => react(&call, id, kind),
        Route::IssueComments(issue) if method == Method::POST => create_comment(&call, issue),
        Route::IssueComments(issue) => list_comments(&call, issue),
        Route::Comment(id) => comment(&call, id),
        Route::Pulls if method == Method::POST => create_pull(&call).await,
        Route::Pulls => list_pulls(&call).await,
        Route::Pull(number) => pull(&call, number).await,
        Route::AccessTokens(_) | Route::User | Route::App | Route::Installations => {
            unreachable!()
        }
    }
}

/// `GET /user`: a personal token is the bot's account; an installation token is no
/// user, and GitHub says so with 403.
fn user(call: &Call) -> Answer {
    if matches!(call.auth, super::Auth::Installation(_)) {
        return Answer::error(403, "Resource not accessible by integration");
    }
    let login = call.person();
    let id = call.inner().user_id(&login);
    let mut user = json::user(call.origin(), &login, id);
    user["name"] = json!(login);
    user["created_at"] = json!("2024-01-01T00:00:00Z");
    user["updated_at"] = json!("2024-01-01T00:00:00Z");
    Answer::json(200, user)
}

impl Call<'_> {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.inner()
    }

    fn origin(&self) -> &str {
        &self.state.origin
    }

    /// Whose the request's token is: the person a device-flow token acts as, else
    /// the bot (a personal token is the bot's account).
    fn person(&self) -> String {
        let inner = self.inner();
        match self.auth {
            Auth::Pat(token) => inner.device.person(token).map(str::to_owned),
            _ => None,
        }
        .unwrap_or_else(|| self.state.bot_login.clone())
    }

    /// The repository's full name as it was created, if the fake has it.
    fn canonical_repo(&self) -> Option<String> {
        let inner = self.inner();
        let repo = inner.repos.get(&self.full_name.to_lowercase())?;
        Some(repo.full_name())
    }

    fn api(&self) -> String {
        format!("{}/repos/{}", self.origin(), self.full_name)
    }

    fn via_app(&self) -> bool {
        matches!(self.auth, Auth::Installation(_))
    }

    fn body_json(&self) -> Result<Value, Answer> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(self.body).map_err(|_| Answer::error(400, "Problems parsing JSON"))
    }

    fn query(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn repo_facts(&self, inner: &mut Inner, permissions: Option<Value>) -> Value {
        repository(self.origin(), inner, &self.full_name, permissions)
    }

    fn role(&self, inner: &Inner, login: &str) -> String {
        let repo = &inner.repos[&self.full_name.to_lowercase()];
        if login.eq_ignore_ascii_case(&repo.owner) {
            return "admin".into();
        }
        repo.permissions
            .get(&login.to_lowercase())
            .cloned()
            .unwrap_or_else(|| if repo.private { "none" } else { "read" }.into())
    }

    fn author_association(&self, inner: &Inner, login: &str) -> &'static str {
        let repo = &inner.repos[&self.full_name.to_lowercase()];
        if login.eq_ignore_ascii_case(&repo.owner) {
            return "OWNER";
        }
        match repo
            .permissions
            .get(&login.to_lowercase())
            .map(String::as_str)
        {
            Some("admin" | "maintain" | "write" | "triage" | "read") => "COLLABORATOR",
            _ => "NONE",
        }
    }

    fn user(&self, inner: &mut Inner, login: &str) -> Value {
        let id = inner.user_id(login);
        json::user(self.origin(), login, id)
    }

    /// `performed_via_github_app`: the app, when an installation token did it.
    fn performed_via(&self, inner: &mut Inner, via_app: bool) -> Value {
        match inner.app {
            Some(app) if via_app => {
                let owner = inner.repos[&self.full_name.to_lowercase()].owner.clone();
                let owner = self.user(inner, &owner);
                let slug = self.state.bot_login.trim_end_matches("[bot]");
                json::app(self.origin(), app.app_id, owner, slug)
            }
            _ => Value::Null,
        }
    }

    fn is_pull(&self, inner: &Inner, number: u64) -> bool {
        inner
            .pulls
            .iter()
            .any(|p| p.number == number && p.repo == self.full_name)
    }

    fn comment_json(&self, inner: &mut Inner, c: &CommentRec) -> Value {
        let origin = self.origin();
        let full = &self.full_name;
        let url = format!("{origin}/repos/{full}/issues/comments/{}", c.id);
        let page = if self.is_pull(inner, c.issue) {
            "pull"
        } else {
            "issues"
        };
        json!({
            "id": c.id,
            "node_id": format!("IC_kwDO{:010}", c.id),
            "url": url,
            "html_url": format!("{origin}/{full}/{page}/{}#issuecomment-{}", c.issue, c.id),
            "body": c.body(),
            "user": self.user(inner, &c.author),
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "issue_url": format!("{origin}/repos/{full}/issues/{}", c.issue),
            "author_association": self.author_association(inner, &c.author),
            "performed_via_github_app": self.performed_via(inner, c.via_app),
            "reactions": json::reactions_summary(&url),
        })
    }
}

/// A repository the fake has, in GitHub's shape.
fn repository(
    origin: &str,
    inner: &mut Inner,
    full_name: &str,
    permissions: Option<Value>,
) -> Value {
    let (id, owner, name, private) = {
        let repo = &inner.repos[&full_name.to_lowercase()];
        (repo.id, repo.owner.clone(), repo.name.clone(), repo.private)
    };
    let owner_id = inner.user_id(&owner);
    json::repository(&RepoFacts {
        origin,
        id,
        owner: &owner,
        owner_id,
        name: &name,
        private,
        permissions,
    })
}

fn validation_failed(errors: Value) -> Answer {
    Answer::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        }),
    )
}

/// Splits a list into GitHub's pages (`per_page` default 30, at most 100) with a
/// `Link` header naming the others.
fn paginate(call: &Call, list_url: &str, items: Vec<Value>) -> Answer {
    let per_page = call
        .query("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = call
        .query("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut answer = Answer::json(200, Value::Array(slice));
    let link_to = |p: usize, rel: &str| {
        let mut query: Vec<(String, String)> = url::form_urlencoded::parse(call.query.as_bytes())
            .filter(|(k, _)| k != "page" && k != "per_page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        query.push(("per_page".into(), per_page.to_string()));
        query.push(("page".into(), p.to_string()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        format!("<{list_url}?{query}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    if !links.is_empty() {
        answer.headers.push(("link".into(), links.join(", ")));
    }
    answer
}

fn get_repo(call: &Call) -> Answer {
    let person = call.person();
    let mut inner = call.inner();
    let permissions = match call.auth {
        Auth::Pat(_) => {
            let role = call.role(&inner, &person);
            Some(json::permission_flags(&role))
        }
        _ => None,
    };
    Answer::json(200, call.repo_facts(&mut inner, permissions))
}

fn permission(call: &Call, login: &str) -> Answer {
    let mut inner = call.inner();
    let role = call.role(&inner, login);
    let mut user = call.user(&mut inner, login);
    user["permissions"] = json::permission_flags(&role);
    user["role_name"] = json!(role);
    Answer::json(
        200,
        json!({
            "permission": json::coarse_permission(&role),
            "role_name": role,
            "user": user,
        }),
    )
}
