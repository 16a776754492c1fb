//! What the fake Notion recorded, as the tests see it.

use serde_json::Value;
use std::time::Instant;

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct NotionCall {
    /// `GET`, `POST`, `PATCH`, …
    pub method: String,
    /// The path as sent (`/v1/pages/…`).
    pub path: String,
    /// The query string, without `?` ("" when none).
    pub query: String,
    /// The request body as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
    pub status: u16,
    /// The answer's body.
    pub response: Value,
    pub at: Instant,
    /// Something lucid should never do (see `FakeNotion::unexpected`).
    pub unexpected: bool,
}

impl NotionCall {
    /// The error `code` of a refused request.
    pub fn code(&self) -> Option<&str> {
        self.response["code"].as_str()
    }
}

/// One accepted write of a page's properties (through the API or a test control).
#[derive(Clone, Debug)]
pub struct PropertyWrite {
    pub page_id: String,
    /// The user who wrote it: the bot's id for API writes, the person's for controls.
    pub by: String,
    /// The `properties` as sent (for controls: as the fake built them).
    pub properties: Value,
    pub at: Instant,
}

/// A comment on a page.
#[derive(Clone, Debug)]
pub struct NotionComment {
    pub id: String,
    pub page_id: String,
    pub discussion_id: String,
    /// The author's user id (the bot's for comments made through the API).
    pub author: String,
    /// The comment's text (its rich text's `plain_text`, joined).
    pub text: String,
    pub rich_text: Value,
    pub created_time: String,
}

/// One webhook request the fake sent.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub url: String,
    /// The event (or the verification body).
    pub body: Value,
    /// The `X-Notion-Signature` header sent, if any.
    pub signature: Option<String>,
    /// The receiver's HTTP status (None: the request failed).
    pub status: Option<u16>,
}
