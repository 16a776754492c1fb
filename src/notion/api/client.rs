//! Notion's REST API over reqwest: one integration's requests, paced to Notion's
//! average of three a second, each retried while Notion says "not now" (429, 529,
//! 409, 502 to 504) after the wait it asks for, so a write is delayed, never lost.
//! A page or database not shared with the integration is [`NotionError::NotShared`].

use super::{Block, Comment, DataSource, Database, List, NOTION_VERSION, Page, User};
use crate::agent::llm::RetryPolicy;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

/// Notion's documented pace: three requests a second on average, bursts allowed (how
/// large, Notion does not say: lucid keeps a small one, so that clocks that disagree
/// by a few milliseconds never make it a 429).
const PER_SECOND: NonZeroU32 = NonZeroU32::new(3).unwrap();
const BURST: NonZeroU32 = NonZeroU32::new(5).unwrap();
/// How long a request keeps being retried while Notion says "not now".
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
/// Notion's limit on one rich-text object's text.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Notion's limit on the items of one array in a request (rich text, blocks).
pub const MAX_ITEMS: usize = 100;
/// How many blocks of a page's content are read at most (pages of 100).
const MAX_BLOCKS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum NotionError {
    #[error(
        "Notion has no {what} {id} that lucid can see: share it with the integration (… menu → Connections)"
    )]
    NotShared { what: &'static str, id: String },
    #[error("Notion refused the integration token (401): check LUCID_NOTION_TOKEN")]
    Unauthorized,
    #[error("Notion refused the request ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Notion kept answering {status} for {waited:?}; the request was given up")]
    GaveUp { status: u16, waited: Duration },
    #[error("could not reach Notion: {0}")]
    Unreachable(String),
    #[error("Notion answered what lucid cannot read: {0}")]
    Unreadable(String),
}

impl NotionError {
    /// Whether trying again later may succeed (Notion was out of reach or kept saying
    /// "not now"); a refusal stays a refusal.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            NotionError::GaveUp { .. } | NotionError::Unreachable(_)
        ) || matches!(self, NotionError::Refused { status, .. } if *status >= 500)
    }
}

pub struct NotionApi {
    http: reqwest::Client,
    /// `https://api.notion.com/v1`, or a test server's.
    base: String,
    token: SecretString,
    retry: RetryPolicy,
    gate: Arc<Gate>,
}

/// What every request of one integration waits on, whichever client in this process
/// sends it: Notion's limits are the integration's, so the platform's requests and
/// the readiness checks `/readyz` reports keep one pace and honour one Retry-After.
struct Gate {
    pace: DefaultDirectRateLimiter,
    /// No request is sent before this: the last Retry-After Notion asked for holds
    /// for every request of the integration, not only the one it answered.
    hold: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Set by a Retry-After, cleared by the next success: meanwhile one request at a
    /// time goes out (the probe), so a hold's end does not release a crowd into the
    /// next refusal.
    recovering: std::sync::atomic::AtomicBool,
    probe: tokio::sync::Mutex<()>,
}

/// The gate of the integration `token` at `base`, shared while any client holds it.
fn gate_of(base: &str, token: &SecretString) -> Arc<Gate> {
    static GATES: LazyLock<Mutex<HashMap<[u8; 32], Weak<Gate>>>> = LazyLock::new(Mutex::default);
    let mut hasher = Sha256::new();
    hasher.update(base.as_bytes());
    hasher.update([0]);
    hasher.update(token.expose_secret().as_bytes());
    let key: [u8; 32] = hasher.finalize().into();
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(gate) = gates.get(&key).and_then(Weak::upgrade) {
        return gate;
    }
    gates.retain(|_, gate| gate.strong_count() > 0);
    let gate = Arc::new(Gate {
        pace: RateLimiter::direct(Quota::per_second(PER_SECOND).allow_burst(BURST)),
        hold: std::sync::Mutex::new(None),
        recovering: std::sync::atomic::AtomicBool::new(false),
        probe: tokio::sync::Mutex::new(()),
    });
    gates.insert(key, Arc::downgrade(&gate));
    gate
}

impl NotionApi {
    pub fn new(base: &str, token: SecretString) -> NotionApi {
        let base = base.trim_end_matches('/').to_owned();
        NotionApi {
            http: crate::outbound::reqwest_builder()
                .build()
                .expect("a client with timeouts always builds"),
            gate: gate_of(&base, &token),
            base,
            token,
            retry: RetryPolicy {
                attempts: u32::MAX,
                first_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(60),
            },
        }
    }

    /// The integration's own user (its bot).
    pub async fn me(&self) -> Result<User, NotionError> {
        self.call(Method::GET, "users/me", None, ("user", "me"))
            .await
    }

    /// A person or bot of the workspace.
    pub async fn user(&self, id: &str) -> Result<User, NotionError> {
        let path = format!("users/{id}");
        self.call(Method::GET, &path, None, ("user", id)).await
    }

    pub async fn page(&self, id: &str) -> Result<Page, NotionError> {
        self.call(Method::GET, &format!("pages/{id}"), None, ("page", id))
            .await
    }

    /// A database, with the data sources it holds.
    pub async fn database(&self, id: &str) -> Result<Database, NotionError> {
        let path = format!("databases/{id}");
        self.call(Method::GET, &path, None, ("database", id)).await
    }

    /// A data source's schema.
    pub async fn data_source(&self, id: &str) -> Result<DataSource, NotionError> {
        let path = format!("data_sources/{id}");
        self.call(Method::GET, &path, None, ("data source", id))
            .await
    }

    /// One page of the comments on a page, oldest first.
    pub async fn comments(
        &self,
        page: &str,
        cursor: Option<&str>,
    ) -> Result<List<Comment>, NotionError> {
        let mut path = format!("comments?block_id={page}&page_size={MAX_ITEMS}");
        if let Some(cursor) = cursor {
            path.push_str(&format!("&start_cursor={cursor}"));
        }
        self.call(Method::GET, &path, None, ("page", page)).await
    }

    pub async fn get_comment(&self, id: &str) -> Result<Comment, NotionError> {
        let path = format!("comments/{id}");
        self.call(Method::GET, &path, None, ("comment", id)).await
    }

    /// One page of a data source's query (`filter` as Notion takes it).
    pub async fn query(
        &self,
        data_source: &str,
        filter: Option<Value>,
        cursor: Option<&str>,
    ) -> Result<List<Page>, NotionError> {
        let mut body = json!({ "page_size": MAX_ITEMS });
        if let Some(filter) = filter {
            body["filter"] = filter;
        }
        if let Some(cursor) = cursor {
            body["start_cursor"] = cursor.into();
        }
        let path = format!("data_sources/{data_source}/query");
        self.call(
            Method::POST,
            &path,
            Some(body),
            ("data source", data_source),
        )
        .await
    }

    /// One page of a block's children (a page is a block).
    pub async fn children(
        &self,
        id: &str,
        cursor: Option<&str>,
    ) -> Result<List<Block>, NotionError> {
        let mut path = format!("blocks/{id}/children?page_size={MAX_ITEMS}");
        if let Some(cursor) = cursor {
            path.push_str(&format!("&start_cursor={cursor}"));
        }
        self.call(Method::GET, &path, None, ("block", id)).await
    }

    /// A page's content as text: its blocks and their children, read breadth first,
    /// at most [`MAX_BLOCKS`] of them.
    pub async fn content(&self, page: &str) -> Result<String, NotionError> {
        let mut children: HashMap<String, Vec<Block>> = HashMap::new();
        let mut to_read = VecDeque::from([page.to_owned()]);
        let mut read = 0;
        while let Some(parent) = to_read.pop_front() {
            let mut cursor = None;
            loop {
                let list = self.children(&parent, cursor.as_deref()).await?;
                read += list.results.len();
                for block in list.results.iter().filter(|b| b.has_children) {
                    to_read.push_back(block.id.clone());
                }
                children
                    .entry(parent.clone())
                    .or_default()
                    .extend(list.results);
                cursor = list.next_cursor.filter(|_| list.has_more);
                if cursor.is_none() || read >= MAX_BLOCKS {
                    break;
                }
            }
            if read >= MAX_BLOCKS {
                break;
            }
        }
        let top = children.remove(page).unwrap_or_default();
        Ok(super::render_blocks(&top, &children))
    }

    /// Sets `properties` (as Notion takes them: a status by `{"status": {"name": …}}`).
    pub async fn update_page(&self, id: &str, properties: Value) -> Result<Page, NotionError> {
        let body = json!({ "properties": properties });
        self.call(
            Method::PATCH,
            &format!("pages/{id}"),
            Some(body),
            ("page", id),
        )
        .await
    }

    /// A comment on a page, its text split into rich-text objects Notion takes.
    pub async fn comment(&self, page: &str, text: &str) -> Result<Comment, NotionError> {
        self.comment_rich(page, rich_text(text)).await
    }

    /// A comment of rich-text objects already within Notion's limits.
    pub async fn comment_rich(
        &self,
        page: &str,
        rich_text: Vec<Value>,
    ) -> Result<Comment, NotionError> {
        let body = json!({
            "parent": { "page_id": page },
            "rich_text": rich_text,
        });
        self.call(Method::POST, "comments", Some(body), ("page", page))
            .await
    }

    /// Waits for the pace's next slot, outside any Retry-After.
    async fn wait_turn(&self) {
        loop {
            let held = *self.gate.hold.lock().unwrap();
            if let Some(until) = held.filter(|u| *u > tokio::time::Instant::now()) {
                tokio::time::sleep_until(until).await;
            }
            self.gate.pace.until_ready().await;
            let still = self
                .gate
                .hold
                .lock()
                .unwrap()
                .is_some_and(|u| u > tokio::time::Instant::now());
            if !still {
                return;
            }
        }
    }

    /// Holds every request for `wait` from now (never shortening a longer hold).
    fn hold_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut hold = self.gate.hold.lock().unwrap();
        if hold.is_none_or(|h| h < until) {
            *hold = Some(until);
        }
    }

    /// One request, paced and retried while Notion says "not now".
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        (what, id): (&'static str, &str),
    ) -> Result<T, NotionError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_turn().await;
            let probe = if self.gate.recovering.load(Ordering::Acquire) {
                let probe = self.gate.probe.lock().await;
                // The probe before may have been told to wait again.
                self.wait_turn().await;
                Some(probe)
            } else {
                None
            };
            let mut request = self
                .http
                .request(method.clone(), format!("{}/{path}", self.base))
                .bearer_auth(self.token.expose_secret())
                .header("Notion-Version", NOTION_VERSION);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if started.elapsed() < GIVE_UP_AFTER => {
                    tracing::debug!(error = %e.without_url(), "Notion did not answer; trying again");
                    crate::metrics::outbound_retry(&crate::core::Platform::NOTION);
                    tokio::time::sleep(self.retry.delay(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(NotionError::Unreachable(e.without_url().to_string())),
            };
            let status = response.status();
            if status.is_success() {
                self.gate.recovering.store(false, Ordering::Release);
                return response
                    .json()
                    .await
                    .map_err(|e| NotionError::Unreadable(e.without_url().to_string()));
            }
            if not_now(status) {
                if matches!(status.as_u16(), 429 | 529) {
                    crate::metrics::outbound_rate_limited(&crate::core::Platform::NOTION);
                }
                if started.elapsed() >= GIVE_UP_AFTER {
                    return Err(NotionError::GaveUp {
                        status: status.as_u16(),
                        waited: started.elapsed(),
                    });
                }
                let asked = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let wait = self.retry.delay(attempt, asked.as_deref());
                if asked.is_some() {
                    self.hold_for(wait);
                    self.gate.recovering.store(true, Ordering::Release);
                }
                drop(probe);
                tokio::time::sleep(wait).await;
                crate::metrics::outbound_retry(&crate::core::Platform::NOTION);
                continue;
            }
            let error: Value = response.json().await.unwrap_or(Value::Null);
            let code = error["code"].as_str().unwrap_or_default().to_owned();
            return Err(match status {
                StatusCode::UNAUTHORIZED => NotionError::Unauthorized,
                StatusCode::NOT_FOUND if code == "object_not_found" => NotionError::NotShared {
                    what,
                    id: id.to_owned(),
                },
                _ => NotionError::Refused {
                    status: status.as_u16(),
                    code,
                    message: error["message"].as_str().unwrap_or_default().to_owned(),
                },
            });
        }
    }
}

/// Whether Notion asks to be tried again later: rate limited (429), overloaded (529),
/// a conflicting write (409), or a gateway that failed (502 to 504).
fn not_now(status: StatusCode) -> bool {
    matches!(status.as_u16(), 409 | 429 | 502..=504 | 529)
}

/// `text` as rich-text objects of at most [`MAX_TEXT_CHARS`] characters each, at most
/// [`MAX_ITEMS`] of them (what is beyond is cut: 200,000 characters is no comment).
pub fn rich_text(text: &str) -> Vec<Value> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(MAX_TEXT_CHARS)
        .take(MAX_ITEMS)
        .map(|chunk| json!({ "type": "text", "text": { "content": chunk.iter().collect::<String>() } }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_within_notions_limits() {
        let text = "a".repeat(MAX_TEXT_CHARS * 2 + 1);
        let parts = rich_text(&text);
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[0]["text"]["content"].as_str().unwrap().len(),
            MAX_TEXT_CHARS
        );
        assert_eq!(parts[2]["text"]["content"], "a");
        assert_eq!(
            rich_text(&"é".repeat(MAX_TEXT_CHARS * 200)).len(),
            MAX_ITEMS
        );
    }

    #[test]
    fn only_not_now_answers_are_retried() {
        for status in [409, 429, 502, 503, 504, 529] {
            assert!(not_now(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [400, 401, 403, 404, 500] {
            assert!(!not_now(StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }
}
