//! GitHub's device flow, for people who link their GitHub account from a chat
//! platform ("@lucid login"), and the calls lucid makes with the token it gives: who
//! the person is (`GET /user`) and what they may do on a repository (`GET
//! /repos/{owner}/{repo}`, whose `permissions` are the token's user's).
//!
//! The flow is GitHub's documented one for OAuth and GitHub Apps alike:
//! `POST {web}/login/device/code` (client_id, scope) answers a device code, a user
//! code, where to enter it, how long it lives and how often to poll;
//! `POST {web}/login/oauth/access_token` (client_id, device_code, grant_type) answers
//! an `error` (`authorization_pending`, `slow_down`, `expired_token`,
//! `access_denied`, ...) or the `access_token`. Both are asked for JSON. No client
//! secret is needed, so none is kept.

use crate::core::{ForgeUser, RepoRef};
use crate::forge::linking::{Access, DeviceCode, Linker, Poll, SLOW_DOWN_STEP};
use anyhow::{Context, bail};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// The OAuth scope asked for: an OAuth App's token needs `repo` to see a private
/// repository's permissions; a GitHub App's token ignores scopes (it can do what the
/// app can, on the repositories it is installed on).
const SCOPE: &str = "repo";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// An HTTP client for calls made as a person, not as lucid, bounded as every
/// platform client is ([`crate::outbound`]).
pub fn person_client() -> reqwest::Client {
    crate::outbound::reqwest_builder()
        .user_agent(concat!("lucid/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a timeout and a user agent always builds")
}

pub struct GithubLinker {
    http: reqwest::Client,
    /// `https://github.com`, where people sign in (not the API).
    web_url: String,
    api_url: String,
    client_id: String,
}

impl GithubLinker {
    pub fn new(web_url: &str, api_url: &str, client_id: &str) -> GithubLinker {
        GithubLinker {
            http: person_client(),
            web_url: web_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
        }
    }

    /// POSTs a form to `{web}{path}`, asking for JSON; answers the JSON whatever the
    /// status (GitHub says what went wrong in an `error` field, often with a 200).
    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<FlowAnswer> {
        let response = self
            .http
            .post(format!("{}{path}", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GitHub could not be reached: {}", e.without_url()))?;
        let status = response.status();
        let answer: FlowAnswer = response
            .json()
            .await
            .map_err(|_| anyhow::anyhow!("GitHub answered {status} with no JSON"))?;
        if !status.is_success() && answer.error.is_none() {
            bail!("GitHub answered {status}");
        }
        Ok(answer)
    }
}

/// Every field either step of the flow answers with; the token is taken out into a
/// secret at once.
#[derive(Deserialize)]
struct FlowAnswer {
    error: Option<String>,
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    expires_in: Option<u64>,
    interval: Option<u64>,
    access_token: Option<String>,
}

#[async_trait]
impl Linker for GithubLinker {
    fn forge(&self) -> &'static str {
        "github"
    }

    fn title(&self) -> &'static str {
        "GitHub"
    }

    async fn start(&self) -> anyhow::Result<DeviceCode> {
        let answer = self
            .post_form(
                "/login/device/code",
                &[("client_id", &self.client_id), ("scope", SCOPE)],
            )
            .await?;
        if let Some(error) = answer.error {
            // `device_flow_disabled`, `incorrect_client_credentials`, ...: the
            // operator's to fix.
            bail!("GitHub refused to begin: {error}");
        }
        match (
            answer.device_code,
            answer.user_code,
            answer.verification_uri,
        ) {
            (Some(device_code), Some(user_code), Some(verification_uri)) => Ok(DeviceCode {
                device_code: SecretString::from(device_code),
                user_code,
                verification_uri,
                expires_in: Duration::from_secs(answer.expires_in.unwrap_or(900)),
                interval: Duration::from_secs(answer.interval.unwrap_or(5)),
            }),
            _ => bail!("GitHub's device code answer lacks a code"),
        }
    }

    async fn poll(&self, device_code: &SecretString) -> anyhow::Result<Poll> {
        let answer = self
            .post_form(
                "/login/oauth/access_token",
                &[
                    ("client_id", &self.client_id),
                    ("device_code", device_code.expose_secret()),
                    ("grant_type", GRANT_TYPE),
                ],
            )
            .await?;
        if let Some(token) = answer.access_token {
            return Ok(Poll::Token(SecretString::from(token)));
        }
        match answer.error.as_deref() {
            Some("authorization_pending") => Ok(Poll::Pending),
            Some("slow_down") => Ok(Poll::SlowDown(
                answer
                    .interval
                    .map(Duration::from_secs)
                    .unwrap_or(SLOW_DOWN_STEP),
            )),
            Some("expired_token") => Ok(Poll::Expired),
            Some("access_denied") => Ok(Poll::Denied),
            Some(other) => bail!("GitHub refused the code: {other}"),
            None => bail!("GitHub answered neither a token nor an error"),
        }
    }

    async fn who(&self, token: &SecretString) -> anyhow::Result<ForgeUser> {
        #[derive(Deserialize)]
        struct User {
            login: String,
            id: u64,
        }
        let response = as_person(&self.http, &format!("{}/user", self.api_url), token).await?;
        let status = response.status();
        if !status.is_success() {
            bail!("GitHub answered {status} when asked whose the token is");
        }
        let user: User = response
            .json()
            .await
            .context("GitHub's answer about the token's user made no sense")?;
        Ok(ForgeUser {
            forge: "github".into(),
            login: user.login,
            id: user.id,
        })
    }
}

/// People link their GitHub account, when a client id to do it with is set
/// (`LUCID_GITHUB_CLIENT_ID`), on the GitHub `LUCID_GITHUB_WEB_URL` and
/// `LUCID_GITHUB_API_URL` name.
pub fn register(registry: &mut crate::registry::Registry, settings: &crate::config::Settings) {
    let Some(client_id) = &settings.linking.github_client_id else {
        return;
    };
    let site = &settings.github_site;
    registry.set_linker(std::sync::Arc::new(GithubLinker::new(
        &site.web_url,
        &site.api_url,
        client_id,
    )));
}

/// GET `url` with a person's token.
async fn as_person(
    http: &reqwest::Client,
    url: &str,
    token: &SecretString,
) -> anyhow::Result<reqwest::Response> {
    http.get(url)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GitHub could not be reached: {}", e.without_url()))
}

/// What the person holding `token` may do on `repo`: `permissions.push` of the
/// repository as their token sees it. A repository they cannot see is Not Found
/// (GitHub does not tell it from one that does not exist): no write.
pub async fn access(
    http: &reqwest::Client,
    api_url: &str,
    repo: &RepoRef,
    token: &SecretString,
) -> anyhow::Result<Access> {
    #[derive(Deserialize)]
    struct Repository {
        #[serde(default)]
        permissions: Option<Permissions>,
    }
    #[derive(Deserialize)]
    struct Permissions {
        #[serde(default)]
        push: bool,
    }
    let url = format!("{}/repos/{}", api_url.trim_end_matches('/'), repo.path());
    let response = as_person(http, &url, token).await?;
    match response.status().as_u16() {
        200 => {
            let repository: Repository = response
                .json()
                .await
                .context("GitHub's answer about the repository made no sense")?;
            let push = repository.permissions.is_some_and(|p| p.push);
            Ok(if push { Access::Write } else { Access::NoWrite })
        }
        401 => Ok(Access::TokenRefused),
        404 => Ok(Access::NoWrite),
        status => bail!("GitHub answered {status} when asked about {repo}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_of_the_flow_reads_into_one_shape() {
        let code: FlowAnswer = serde_json::from_str(
            r#"{"device_code":"3584d83530557fdd1f46af8289938c8ef79f9dc5","user_code":"WDJB-MJHT",
                "verification_uri":"https://github.com/login/device","expires_in":900,"interval":5}"#,
        )
        .unwrap();
        assert_eq!(code.user_code.as_deref(), Some("WDJB-MJHT"));
        assert_eq!(code.interval, Some(5));
        let pending: FlowAnswer = serde_json::from_str(
            r#"{"error":"authorization_pending","error_description":"The authorization request is still pending.","error_uri":"https://docs.github.com"}"#,
        )
        .unwrap();
        assert_eq!(pending.error.as_deref(), Some("authorization_pending"));
        let token: FlowAnswer = serde_json::from_str(
            r#"{"access_token":"gho_16C7e42F292c6912E7710c838347Ae178B4a","token_type":"bearer","scope":"repo"}"#,
        )
        .unwrap();
        assert!(token.access_token.is_some() && token.error.is_none());
    }
}
