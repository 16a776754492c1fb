//! What the fake recorded, as the tests see it.

use serde_json::Value;

/// A comment on an issue or pull request, as it stands now.
#[derive(Clone, Debug)]
pub struct FakeComment {
    pub id: u64,
    pub repo: String,
    pub issue: u64,
    pub author: String,
    /// The current body.
    pub body: String,
    /// Every body the comment has had, oldest first; the last is `body`.
    pub history: Vec<String>,
    /// Posted with an installation token (GitHub shows `performed_via_github_app`).
    pub via_app: bool,
}

impl FakeComment {
    /// How many times the comment was edited after it was posted.
    pub fn edits(&self) -> usize {
        self.history.len() - 1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// `/repos/{o}/{r}/issues/comments/{id}`: on an issue or a pull request's conversation.
    Issue,
    /// `/repos/{o}/{r}/pulls/comments/{id}`: on a line of a pull request's diff.
    Review,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReaction {
    pub id: u64,
    pub repo: String,
    pub comment_id: u64,
    /// `eyes`, `+1`, `rocket`, ...
    pub content: String,
    pub kind: CommentKind,
    /// Who reacted (the bot login).
    pub user: String,
}

#[derive(Clone, Debug)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    /// The head branch, without the owner.
    pub head: String,
    /// The owner part of the head (`owner:branch` on the wire).
    pub head_owner: String,
    pub base: String,
    /// The head branch's tip now (or when last known, if the branch is gone).
    pub head_sha: String,
    /// `open` or `closed`.
    pub state: String,
    pub draft: bool,
    pub author: String,
    /// How many times title, body, state or base were changed by `PATCH`.
    pub edits: usize,
}

/// Which credential a request carried, as the fake judged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Missing,
    /// A token accepted with `accept_token`.
    Pat(String),
    /// An installation token the fake minted (and has not revoked).
    Installation(String),
    /// A well-formed GitHub App JWT for the configured app.
    AppJwt,
    /// Something the fake did not accept (unknown token, bad JWT, bad header).
    Rejected,
}

impl Auth {
    pub fn accepted(&self) -> bool {
        !matches!(self, Auth::Missing | Auth::Rejected)
    }
}

#[derive(Clone, Debug)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    /// `Bearer`, `token` or `Basic` as sent, if there was an Authorization header.
    pub scheme: Option<String>,
    pub auth: Auth,
    /// The request's headers (lowercase names), without `authorization`.
    pub headers: Vec<(String, String)>,
    pub status: u16,
    /// The request body as text (lossy for binary git traffic).
    pub body: String,
    /// The response body as text (empty for git pack data).
    pub response: String,
    /// For git requests: `git-upload-pack` or `git-receive-pack`.
    pub git_service: Option<String>,
    /// The fake has no route for it: lucid called something unexpected.
    pub unrouted: bool,
    /// Answered by a failure set up with `fail_next`.
    pub injected: bool,
}

impl FakeRequest {
    /// A request header's value (lowercase name), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `needle` appears in the path, query or request body.
    pub fn mentions(&self, needle: &str) -> bool {
        self.path.contains(needle) || self.query.contains(needle) || self.body.contains(needle)
    }
}

#[derive(Clone, Debug)]
pub struct MintedToken {
    pub token: String,
    pub installation_id: u64,
    /// Full names the token was scoped to; empty: every repository of the installation.
    pub repositories: Vec<String>,
    /// The `permissions` the request asked for (`null` when it asked for none).
    pub permissions_requested: Value,
    pub expires_at: String,
}
