//! What every provider's client shares: one HTTP client with a timeout, the key, and
//! the rules for failures. A refused key (401/403) fails at once; a busy or failing
//! provider (429, any 5xx including Anthropic's 529, network trouble) is retried per
//! `RetryPolicy`; any other 4xx is the request's fault and is not retried. The key is
//! taken out of anything the provider echoes, and reqwest's own error text, which
//! names the URL, is never shown.

use super::LlmError;
use super::retry::RetryPolicy;
use crate::messages::ProviderTrouble;
use futures::{Stream, StreamExt};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;

/// Why an answer that came back with a 2xx could not be used.
#[derive(Debug)]
pub(super) enum ReadError {
    /// It stopped before it was whole (connection cut, stream ended early, an error
    /// event mid-stream): worth another attempt.
    BrokeOff(String),
    /// It was whole but made no sense: another attempt would get the same.
    Invalid(LlmError),
}

impl ReadError {
    pub fn invalid(why: impl Into<String>) -> Self {
        ReadError::Invalid(LlmError::BadResponse(why.into()))
    }
}

/// The whole body of a plain (not streamed) answer.
pub(super) async fn body_text(response: Response) -> Result<String, ReadError> {
    response
        .text()
        .await
        .map_err(|e| ReadError::BrokeOff(describe(&e)))
}

/// The `data:` of each Server-Sent Event of a streamed answer, in order (both
/// providers repeat the event's name in its data); a body that breaks off yields a
/// `BrokeOff` error.
pub(super) fn events(response: Response) -> impl Stream<Item = Result<String, ReadError>> {
    use eventsource_stream::Eventsource;
    response
        .bytes_stream()
        .eventsource()
        .map(|event| match event {
            Ok(e) => Ok(e.data),
            Err(eventsource_stream::EventStreamError::Transport(e)) => {
                Err(ReadError::BrokeOff(describe(&e)))
            }
            Err(e) => Err(ReadError::BrokeOff(format!(
                "the stream made no sense: {e}"
            ))),
        })
}

/// Anthropic's "overloaded": busy, like a 429.
const OVERLOADED: u16 = 529;

/// What a stream that ended before its last event says.
pub(super) const ENDED_EARLY: &str = "the answer's stream ended before the answer did";

pub(super) struct Transport {
    pub http: reqwest::Client,
    api_key: SecretString,
    retry: RetryPolicy,
}

impl Transport {
    pub fn new(api_key: SecretString, timeout: Duration, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a client with only a timeout always builds");
        Self {
            http,
            api_key,
            retry,
        }
    }

    pub fn key(&self) -> &str {
        self.api_key.expose_secret()
    }

    /// Sends what `request` builds and has `read` make sense of the answer, until it
    /// succeeds or the rules say stop. An answer that broke off halfway (a cut stream)
    /// is retried like a busy provider: the whole request goes again.
    pub async fn send<T, Fut>(
        &self,
        request: impl Fn() -> RequestBuilder,
        read: impl Fn(Response) -> Fut,
    ) -> Result<T, LlmError>
    where
        Fut: Future<Output = Result<T, ReadError>>,
    {
        let started = std::time::Instant::now();
        let mut troubles = Vec::new();
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            let mut retry_after = None;
            match request().send().await {
                Err(e) => {
                    troubles.push(ProviderTrouble::NoAnswer);
                    last = describe(&e);
                }
                Ok(response) if response.status().is_success() => match read(response).await {
                    Ok(answer) => return Ok(answer),
                    Err(ReadError::Invalid(e)) => return Err(e),
                    Err(ReadError::BrokeOff(why)) => {
                        troubles.push(ProviderTrouble::BrokeOff);
                        last = self.redact(&why);
                    }
                },
                Ok(response) => {
                    let status = response.status();
                    retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let message =
                        self.redact(&error_message(&response.text().await.unwrap_or_default()));
                    match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(LlmError::Auth {
                                status: status.as_u16(),
                                message,
                            });
                        }
                        s if s == StatusCode::TOO_MANY_REQUESTS || s.as_u16() == OVERLOADED => {
                            troubles.push(ProviderTrouble::Busy(s.as_u16()));
                            last = message;
                        }
                        s if s.is_server_error() => {
                            troubles.push(ProviderTrouble::Failing(s.as_u16()));
                            last = message;
                        }
                        s => {
                            return Err(LlmError::Rejected {
                                status: s.as_u16(),
                                message,
                            });
                        }
                    }
                }
            }
            if attempt < self.retry.attempts {
                let wait = self.retry.delay(attempt, retry_after.as_deref());
                tracing::info!(
                    attempt,
                    of = self.retry.attempts,
                    wait_ms = wait.as_millis() as u64,
                    why = last.as_str(),
                    "the model provider gave no answer; trying again"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Err(LlmError::Unavailable {
            attempts: self.retry.attempts,
            over: started.elapsed(),
            troubles,
            last,
        })
    }

    /// The provider's words, with the key taken out should it echo it back.
    fn redact(&self, text: &str) -> String {
        let key = self.key();
        if key.len() >= 8 {
            text.replace(key, "[redacted]")
        } else {
            text.to_owned()
        }
    }
}

/// What went wrong, without reqwest's text, which names the URL (a proxy URL can
/// carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    what.to_owned()
}

/// The `error.message` of an error body (both OpenAI's and Anthropic's shape), or the
/// body itself, shortened.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    message.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_providers_give_their_message() {
        assert_eq!(
            error_message(r#"{"error":{"message":"Rate limit reached"}}"#),
            "Rate limit reached"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(
            error_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }
}
