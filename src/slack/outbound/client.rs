//! lucid's calls to Slack's Web API, through slack-morphism: post in a thread, update
//! a message, react. Every post and update takes its channel's turn from the
//! [`ChannelPacer`]; a 429 holds the channel for its `Retry-After` and the call is made
//! again, so a rate-limit storm delays messages but loses none.
//!
//! Each call names its method as a [`WebMethod`], which carries the scope Slack asks
//! for it: the app manifest asks for exactly those.

use super::pace::ChannelPacer;
use crate::slack::manifest::WebMethod;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::errors::{SlackClientError, SlackClientSystemError};
use slack_morphism::prelude::*;
use std::time::Duration;

/// About one message per second per channel, Slack's documented pace.
pub const CHANNEL_INTERVAL: Duration = Duration::from_secs(1);
/// How many 429s in a row one call sits out before it gives up.
const MAX_RATE_LIMITED: u32 = 60;
/// How many times a call that could not reach Slack is tried.
const MAX_TRANSPORT_TRIES: u32 = 3;

type Connector = SlackClientHyperHttpsConnector;

/// What lucid posts: `text` is the notification and fallback, `blocks` the layout.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Post {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

impl Post {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            blocks: Vec::new(),
        }
    }

    fn content(&self) -> SlackMessageContent {
        let content = SlackMessageContent::new().with_text(self.text.clone());
        if self.blocks.is_empty() {
            content
        } else {
            content.with_blocks(self.blocks.clone())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false`.
    #[error("Slack refused {method}: {code}")]
    Refused { method: &'static str, code: String },
    /// Slack could not be reached, or kept answering 429.
    #[error("could not reach Slack for {method}: {reason}")]
    Unreachable {
        method: &'static str,
        reason: String,
    },
}

/// Who lucid is in the workspace, from `auth.test`.
#[derive(Clone, Debug)]
pub struct Identity {
    pub team: String,
    pub user_id: String,
}

pub struct SlackApi {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    pacer: ChannelPacer,
}

impl SlackApi {
    /// `api_url`: `https://slack.com/api` or a stand-in's.
    pub fn new(api_url: &str, bot_token: &SecretString, interval: Duration) -> Self {
        // ring named here, not left to rustls to guess (it will not when a build has a
        // second back end compiled in).
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(crate::outbound::connect_timeout()));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports TLS 1.2 and 1.3")
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        // slack-morphism joins the url and the method with a slash of its own.
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(&format!("{}/", api_url.trim_end_matches('/')));
        Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(bot_token.expose_secret().to_owned().into()),
            pacer: ChannelPacer::new(interval),
        }
    }

    /// Posts in `channel`, in the thread of `thread_ts` when given; returns the new
    /// message's `ts`.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        post: &Post,
    ) -> Result<String, SlackError> {
        let mut request = SlackApiChatPostMessageRequest::new(channel.into(), post.content())
            .with_unfurl_links(false)
            .with_unfurl_media(false);
        if let Some(thread_ts) = thread_ts {
            request = request.with_thread_ts(thread_ts.into());
        }
        let posted = self
            .paced(channel, WebMethod::ChatPostMessage, || async {
                self.client
                    .open_session(&self.token)
                    .chat_post_message(&request)
                    .await
            })
            .await?;
        Ok(posted.ts.0)
    }

    /// Replaces the text and blocks of one of lucid's messages.
    pub async fn update(&self, channel: &str, ts: &str, post: &Post) -> Result<(), SlackError> {
        let request = SlackApiChatUpdateRequest::new(channel.into(), post.content(), ts.into());
        self.paced(channel, WebMethod::ChatUpdate, || async {
            self.client
                .open_session(&self.token)
                .chat_update(&request)
                .await
        })
        .await?;
        Ok(())
    }

    /// A message only `user` sees, in the thread of `thread_ts` when given.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), SlackError> {
        let mut request = SlackApiChatPostEphemeralRequest::new(
            channel.into(),
            user.to_owned().into(),
            Post::text(text).content(),
        );
        if let Some(thread_ts) = thread_ts {
            request = request.with_thread_ts(thread_ts.into());
        }
        self.retried(Some(channel), WebMethod::ChatPostEphemeral, || async {
            self.client
                .open_session(&self.token)
                .chat_post_ephemeral(&request)
                .await
        })
        .await?;
        Ok(())
    }

    /// Adds a reaction (`eyes`, no colons); one already there is fine.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), SlackError> {
        let request =
            SlackApiReactionsAddRequest::new(channel.into(), name.to_owned().into(), ts.into());
        let reacted = self
            .retried(None, WebMethod::ReactionsAdd, || async {
                self.client
                    .open_session(&self.token)
                    .reactions_add(&request)
                    .await
            })
            .await;
        match reacted {
            Err(SlackError::Refused { code, .. }) if code == "already_reacted" => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `users.info`: what Slack shows a person as (their display name, else their
    /// real name, else their user name).
    pub async fn person_name(&self, user: &str) -> Result<String, SlackError> {
        let request = SlackApiUsersInfoRequest::new(user.into());
        let info = self
            .retried(None, WebMethod::UsersInfo, || async {
                self.client
                    .open_session(&self.token)
                    .users_info(&request)
                    .await
            })
            .await?;
        let user = info.user;
        let (display, real) = user
            .profile
            .map(|p| (p.display_name, p.real_name))
            .unwrap_or_default();
        let name = [display, real, user.real_name, user.name]
            .into_iter()
            .flatten()
            .find(|name| !name.trim().is_empty());
        Ok(name.unwrap_or(user.id.0))
    }

    /// `auth.test`: which workspace and bot user the token belongs to.
    pub async fn identity(&self) -> Result<Identity, SlackError> {
        let me = self
            .retried(None, WebMethod::AuthTest, || async {
                self.client.open_session(&self.token).auth_test().await
            })
            .await?;
        Ok(Identity {
            team: me.team_id.0,
            user_id: me.user_id.0,
        })
    }

    async fn paced<T, F, Fut>(
        &self,
        channel: &str,
        method: WebMethod,
        call: F,
    ) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        self.tried(Some(channel), true, method, call).await
    }

    /// Makes the call until it is answered: after a 429 (holding `channel` for
    /// everyone), and a few times after a transport failure.
    async fn retried<T, F, Fut>(
        &self,
        channel: Option<&str>,
        method: WebMethod,
        call: F,
    ) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        self.tried(channel, false, method, call).await
    }

    /// [`Self::retried`], each try after `channel`'s turn when `paced`. A try Slack
    /// does not answer within the request limit fails as one that could not reach
    /// it (the wait for a turn is not counted).
    async fn tried<T, F, Fut>(
        &self,
        channel: Option<&str>,
        paced: bool,
        method: WebMethod,
        call: F,
    ) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SlackClientError>>,
    {
        let method = method.name();
        let mut rate_limited = 0;
        let mut transport_failures = 0;
        loop {
            if paced && let Some(channel) = channel {
                self.pacer.turn(channel).await;
            }
            let error = match within_limit(call()).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            match error {
                SlackClientError::RateLimitError(limit) if rate_limited < MAX_RATE_LIMITED => {
                    rate_limited += 1;
                    crate::metrics::outbound_rate_limited(&crate::core::Platform::SLACK);
                    crate::metrics::outbound_retry(&crate::core::Platform::SLACK);
                    let wait = limit.retry_after.unwrap_or(Duration::from_secs(1));
                    let until = tokio::time::Instant::now() + wait;
                    tracing::info!(
                        method,
                        wait_ms = wait.as_millis() as u64,
                        "Slack asked lucid to slow down"
                    );
                    match channel {
                        Some(channel) => self.pacer.hold(channel, until),
                        None => tokio::time::sleep_until(until).await,
                    }
                }
                SlackClientError::ApiError(refused) => {
                    return Err(SlackError::Refused {
                        method,
                        code: refused.code,
                    });
                }
                SlackClientError::HttpError(_)
                | SlackClientError::HttpProtocolError(_)
                | SlackClientError::EndOfStream(_)
                | SlackClientError::SystemError(_)
                    if transport_failures + 1 < MAX_TRANSPORT_TRIES =>
                {
                    transport_failures += 1;
                    crate::metrics::outbound_retry(&crate::core::Platform::SLACK);
                    tokio::time::sleep(Duration::from_millis(250 << transport_failures)).await;
                }
                other => {
                    return Err(SlackError::Unreachable {
                        method,
                        reason: one_line(&other.to_string()),
                    });
                }
            }
        }
    }
}

/// `call`, or a transport failure once it has taken the whole-request limit.
async fn within_limit<T>(
    call: impl Future<Output = Result<T, SlackClientError>>,
) -> Result<T, SlackClientError> {
    let limit = crate::outbound::request_timeout();
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(SlackClientError::SystemError(
            SlackClientSystemError::new()
                .with_message(format!("Slack did not answer within {limit:?}")),
        ))
    })
}

/// slack-morphism's errors run over several lines with the whole answer's body.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(300).collect()
}
