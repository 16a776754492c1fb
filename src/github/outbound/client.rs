//! lucid's GitHub API client, on octocrab: the few calls lucid makes, with answers
//! read into lucid's own small types. It authenticates with a personal access token,
//! or as a GitHub App whose installation tokens are minted per repository (scoped to
//! that one repository) and kept until shortly before they expire.

use crate::config::{GithubAuth, GithubSettings};
use crate::core::RepoRef;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("GitHub could not be reached: {0}")]
    Unreachable(String),
    #[error("the GitHub App's private key is unusable: {0}")]
    AppKey(String),
}

impl GithubError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<octocrab::Error> for GithubError {
    fn from(e: octocrab::Error) -> Self {
        match e {
            // Rate limits and retries are counted where every answer passes
            // (`super::stack`), not here, where only the last one arrives.
            octocrab::Error::GitHub { source, .. } => {
                let details = source
                    .errors
                    .iter()
                    .flatten()
                    .filter_map(|e| e["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let message = if details.is_empty() {
                    source.message.clone()
                } else {
                    format!("{} ({details})", source.message)
                };
                GithubError::Api {
                    status: source.status_code.as_u16(),
                    message,
                }
            }
            // octocrab's other errors can name the URL; the kind is enough.
            other => GithubError::Unreachable(kind_of(&other)),
        }
    }
}

fn kind_of(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            "the connection failed".into()
        }
        octocrab::Error::Serde { .. } | octocrab::Error::Json { .. } => {
            "its answer made no sense".into()
        }
        _ => "the request failed".into(),
    }
}

/// Where a repository is cloned from, and its default branch.
#[derive(Clone, Debug, Deserialize)]
pub struct RepoInfo {
    pub clone_url: String,
    pub default_branch: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// What a reaction is on: an issue (or PR conversation) comment, or a review comment.
#[derive(Clone, Copy, Debug)]
pub enum CommentKind {
    Issue,
    Review,
}

enum Auth {
    /// A personal access token, and the one client that uses it.
    Token(SecretString, Octocrab),
    App {
        app: Octocrab,
    },
}

pub struct GithubClient {
    base_url: String,
    auth: Auth,
    /// Installation tokens by repository, each with its client (making a client
    /// loads TLS roots: far too slow to do per call) and when to stop using them.
    tokens: Mutex<HashMap<RepoRef, (SecretString, Octocrab, Instant)>>,
}

/// Installation tokens live an hour; lucid renews them well before.
const TOKEN_REUSE: Duration = Duration::from_secs(45 * 60);

impl GithubClient {
    pub fn new(settings: &GithubSettings) -> Result<Self, GithubError> {
        let base_url = settings.api_url.trim_end_matches('/').to_owned();
        let auth = match &settings.auth {
            GithubAuth::Token(token) => Auth::Token(token.clone(), with_token(&base_url, token)?),
            GithubAuth::App {
                app_id,
                private_key_path,
            } => {
                let pem = std::fs::read(private_key_path)
                    .map_err(|e| GithubError::AppKey(e.to_string()))?;
                return Self::for_app(&base_url, *app_id, &pem);
            }
        };
        Ok(Self {
            base_url,
            auth,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// A client signed in as the GitHub App `app_id` with its private key (PEM), as
    /// `lucid setup github` keeps it in the store.
    pub fn for_app(api_url: &str, app_id: u64, pem: &[u8]) -> Result<Self, GithubError> {
        let base_url = api_url.trim_end_matches('/').to_owned();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)
            .map_err(|e| GithubError::AppKey(e.to_string()))?;
        let app = super::stack::octocrab(
            &base_url,
            super::stack::SignIn::App(octocrab::auth::AppAuth {
                app_id: octocrab::models::AppId(app_id),
                key,
            }),
        )?;
        Ok(Self {
            base_url,
            auth: Auth::App { app },
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The calls on one repository, with a token for it: the personal token, or an
    /// installation token scoped to that repository alone.
    pub async fn repo(&self, repo: &RepoRef) -> Result<RepoClient, GithubError> {
        let app = match &self.auth {
            Auth::Token(token, api) => {
                return Ok(RepoClient {
                    api: api.clone(),
                    token: token.clone(),
                    repo: repo.clone(),
                });
            }
            Auth::App { app } => app,
        };
        if let Some((token, api, until)) = self.tokens.lock().unwrap().get(repo)
            && Instant::now() < *until
        {
            return Ok(RepoClient {
                api: api.clone(),
                token: token.clone(),
                repo: repo.clone(),
            });
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Minted {
            token: String,
        }
        let installation: Installation = app
            .get(format!("/repos/{repo}/installation"), None::<&()>)
            .await?;
        let minted: Minted = app
            .post(
                format!("/app/installations/{}/access_tokens", installation.id),
                Some(&json!({ "repositories": [repo.name()] })),
            )
            .await?;
        let token = SecretString::from(minted.token);
        let api = with_token(&self.base_url, &token)?;
        self.tokens.lock().unwrap().insert(
            repo.clone(),
            (token.clone(), api.clone(), Instant::now() + TOKEN_REUSE),
        );
        Ok(RepoClient {
            api,
            token,
            repo: repo.clone(),
        })
    }

    /// The REST API's root (`https://api.github.com`), for calls made as a person
    /// with their own token.
    pub fn api_url(&self) -> &str {
        &self.base_url
    }
}

fn with_token(base_url: &str, token: &SecretString) -> Result<Octocrab, GithubError> {
    let bearer = format!("Bearer {}", token.expose_secret())
        .parse()
        .map_err(|_| GithubError::Unreachable("the token is not a usable header".into()))?;
    super::stack::octocrab(base_url, super::stack::SignIn::Token(bearer))
}

pub struct RepoClient {
    api: Octocrab,
    token: SecretString,
    repo: RepoRef,
}

/// A comment on an issue, as lucid reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct IssueComment {
    pub body: Option<String>,
    pub user: Option<CommentUser>,
    pub created_at: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CommentUser {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl RepoClient {
    /// The token, for git on the host. Never for the sandbox.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    pub async fn info(&self) -> Result<RepoInfo, GithubError> {
        Ok(self
            .api
            .get(format!("/repos/{}", self.repo), None::<&()>)
            .await?)
    }

    /// `admin`, `maintain`, `write`, `triage`, `read` or `none`.
    pub async fn permission(&self, login: &str) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct Permission {
            permission: String,
            role_name: Option<String>,
        }
        let answer: Result<Permission, GithubError> = self
            .api
            .get(
                format!("/repos/{}/collaborators/{login}/permission", self.repo),
                None::<&()>,
            )
            .await
            .map_err(Into::into);
        match answer {
            // The fine-grained role when GitHub gives it (maintain, triage, ...).
            Ok(p) => Ok(p
                .role_name
                .filter(|r| !r.is_empty())
                .unwrap_or(p.permission)),
            Err(e) if e.status() == Some(404) => Ok("none".into()),
            Err(e) => Err(e),
        }
    }

    pub async fn react(
        &self,
        comment_id: u64,
        kind: CommentKind,
        content: &str,
    ) -> Result<(), GithubError> {
        let route = match kind {
            CommentKind::Issue => format!(
                "/repos/{}/issues/comments/{comment_id}/reactions",
                self.repo
            ),
            CommentKind::Review => {
                format!("/repos/{}/pulls/comments/{comment_id}/reactions", self.repo)
            }
        };
        let _: serde_json::Value = self
            .api
            .post(route, Some(&json!({ "content": content })))
            .await?;
        Ok(())
    }

    /// Posts a comment on an issue or pull request; returns its id.
    pub async fn comment(&self, issue: u64, body: &str) -> Result<u64, GithubError> {
        let created: Created = self
            .api
            .post(
                format!("/repos/{}/issues/{issue}/comments", self.repo),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(created.id)
    }

    pub async fn edit_comment(&self, comment_id: u64, body: &str) -> Result<(), GithubError> {
        let _: serde_json::Value = self
            .api
            .patch(
                format!("/repos/{}/issues/comments/{comment_id}", self.repo),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    /// An issue's comments, oldest first, up to `pages` pages of 100.
    pub async fn issue_comments(
        &self,
        issue: u64,
        pages: u32,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let mut all = Vec::new();
        for page in 1..=pages {
            let batch: Vec<IssueComment> = self
                .api
                .get(
                    format!("/repos/{}/issues/{issue}/comments", self.repo),
                    Some(&json!({ "per_page": 100, "page": page })),
                )
                .await?;
            let last = batch.len() < 100;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// The open pull request from `branch`, if any.
    pub async fn open_pull(&self, branch: &str) -> Result<Option<PullRequest>, GithubError> {
        let head = format!("{}:{branch}", self.repo.owner());
        let pulls: Vec<PullRequest> = self
            .api
            .get(
                format!("/repos/{}/pulls", self.repo),
                Some(&json!({ "head": head, "state": "open" })),
            )
            .await?;
        Ok(pulls.into_iter().next())
    }

    pub async fn create_pull(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullRequest, GithubError> {
        Ok(self
            .api
            .post(
                format!("/repos/{}/pulls", self.repo),
                Some(&json!({
                    "title": title, "head": branch, "base": base, "body": body, "draft": draft,
                })),
            )
            .await?)
    }

    pub async fn update_pull(&self, number: u64, body: &str) -> Result<PullRequest, GithubError> {
        Ok(self
            .api
            .patch(
                format!("/repos/{}/pulls/{number}", self.repo),
                Some(&json!({ "body": body })),
            )
            .await?)
    }
}
