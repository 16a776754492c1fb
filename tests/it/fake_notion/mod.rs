//! A fake Notion REST API on loopback for end-to-end tests, written from Notion's API
//! documentation (version 2025-09-03, with data sources), limits and refusals included.
//!
//! Served under `/v1` (base URL `api_base`): `GET users/me`, `GET users/{id}` (the bot
//! and the people `add_person` made), `GET databases/{id}` (its
//! `data_sources`), `GET data_sources/{id}` (the property schema), `POST
//! data_sources/{id}/query` (filters on status/select/text properties and on
//! `created_time`/`last_edited_time`, `and`/`or`; sorts; `page_size` ≤ 100 and
//! `start_cursor`), `GET`/`PATCH pages/{id}`, `GET`/`PATCH blocks/{id}/children`,
//! `POST comments` (on a page or in a discussion), `GET comments?block_id=` and `GET
//! comments/{id}`. Ids in
//! paths may be spelled with or without dashes; anything else is a 400 path
//! validation error, an unknown route 400 `invalid_request_url`.
//!
//! Limits (developers.notion.com/reference/request-limits), each a 400
//! `validation_error` naming the field: rich text `text.content` and links ≤ 2000
//! characters, URLs ≤ 2000, rich text and `children` arrays ≤ 100 elements, ≤ 1000
//! blocks and ≤ 500 KB per request, children nested ≤ 2 levels, `page_size` 1..=100.
//! A status property is written `{"status": {"name"}}` with an existing option;
//! `{"select": …}` on it is "Status is expected to be status.".
//!
//! Every request must carry `Authorization: Bearer <token>` (else 401 `unauthorized`)
//! and `Notion-Version: 2025-09-03` (missing: 400 `missing_version`). Refusals are
//! Notion's `{"object":"error","status","code","message"}`. The integration's rate
//! limit (an average of 3 requests a second, with a small burst) answers 429
//! `rate_limited` with `Retry-After` in whole seconds; `fail_next` forces 429s or 529s
//! (`service_overload`); unshared pages and databases are 404 `object_not_found`.
//!
//! Test controls build the workspace (`create_database`, `add_page`, `add_person`) and
//! act as people (`move_page`, `comment_as`), delivering `page.properties_updated` and
//! `comment.created` webhooks when `enable_webhooks` gave a URL. lucid's own property
//! writes and comments emit `page.properties_updated` and `comment.created` authored
//! by the bot, as Notion does.
//!
//! Like Notion, `created_time` and `last_edited_time` of pages, databases, blocks and
//! comments are rounded down to the minute (filters compare the rounded times);
//! webhook `timestamp`s keep their milliseconds.
//!
//! Every request is recorded and wakes `wait_until`. What lucid should never do (a bad
//! token, no version, a refused body, a request sent inside a live Retry-After, more
//! than 100 ms after it was given, so not merely on its way already) is listed by
//! `unexpected()`.

// The records and controls are for lucid's end-to-end tests; the self-test does not
// read every field.
#![allow(dead_code)]

mod records;
mod rest;
mod state;
mod validate;
mod webhook;

pub use records::{NotionCall, NotionComment, PropertyWrite, WebhookDelivery};
pub use state::BotUser;
pub use webhook::signature;

use serde_json::{Value, json};
use state::{Database, Inner, Page, PropKind, PropSchema, SelectOption, Shared, WebhookTarget};
use state::{new_id, normalize, now_minute, rich_text};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

use crate::harness::DEADLINE;

/// The status options a database gets unless told otherwise.
pub const DEFAULT_STATUSES: &[&str] = &[
    "Ready for agent",
    "In progress",
    "In review",
    "Blocked",
    "Done",
];

/// A database to create: one data source with a title, a status, a repository
/// (rich text), a URL and a select property.
#[derive(Clone, Debug)]
pub struct DatabaseSpec {
    pub title: String,
    pub title_property: String,
    pub status_property: String,
    /// The status options, in order. Options named "Done"/"Complete"/"Cancelled" go in
    /// the Complete group, the first in To-do, the rest in In progress.
    pub statuses: Vec<String>,
    pub repo_property: String,
    pub url_property: String,
    pub select_property: String,
    pub select_options: Vec<String>,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        DatabaseSpec {
            title: "Tasks".into(),
            title_property: "Name".into(),
            status_property: "Status".into(),
            statuses: DEFAULT_STATUSES.iter().map(|s| (*s).to_owned()).collect(),
            repo_property: "Repo".into(),
            url_property: "PR".into(),
            select_property: "Priority".into(),
            select_options: vec!["Low".into(), "Medium".into(), "High".into()],
        }
    }
}

/// The ids of a created database.
#[derive(Clone, Debug)]
pub struct NotionDatabase {
    pub database_id: String,
    pub data_source_id: String,
}

/// Content of a page, as the test writes it.
#[derive(Clone, Debug)]
pub enum BlockSpec {
    Paragraph(String),
    Heading1(String),
    Heading2(String),
    Heading3(String),
    Bulleted(String),
    Numbered(String),
    ToDo(String, bool),
    Code(String, String),
    Toggle(String, Vec<BlockSpec>),
}

impl BlockSpec {
    /// The block as a client would send it in `children`.
    pub fn json(&self) -> Value {
        let text = |kind: &str, t: &str| json!({"type": kind, kind: {"rich_text": rich_text(t)}});
        match self {
            BlockSpec::Paragraph(t) => text("paragraph", t),
            BlockSpec::Heading1(t) => text("heading_1", t),
            BlockSpec::Heading2(t) => text("heading_2", t),
            BlockSpec::Heading3(t) => text("heading_3", t),
            BlockSpec::Bulleted(t) => text("bulleted_list_item", t),
            BlockSpec::Numbered(t) => text("numbered_list_item", t),
            BlockSpec::ToDo(t, checked) => {
                json!({"type": "to_do", "to_do": {"rich_text": rich_text(t), "checked": checked}})
            }
            BlockSpec::Code(t, language) => {
                json!({"type": "code", "code": {"rich_text": rich_text(t), "language": language, "caption": []}})
            }
            BlockSpec::Toggle(t, children) => {
                let children: Vec<Value> = children.iter().map(BlockSpec::json).collect();
                json!({"type": "toggle", "toggle": {"rich_text": rich_text(t), "children": children}})
            }
        }
    }
}

/// A page to add to a data source.
#[derive(Clone, Debug, Default)]
pub struct NewPage {
    pub title: String,
    /// A status option name (None: no status).
    pub status: Option<String>,
    pub repo: Option<String>,
    pub blocks: Vec<BlockSpec>,
    /// Who created it (a person id; None: a person "Ada" added on the fly).
    pub by: Option<String>,
}

pub struct FakeNotion {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// `{origin}/v1`: what lucid's Notion base URL is set to.
    pub api_base: String,
    state: Arc<Shared>,
    /// The key webhook events are signed with (what the verification request carries).
    verification_token: String,
}

impl FakeNotion {
    /// Starts the fake; it accepts `token` only; the bot is `BotUser::default()`. The
    /// rate limit is on: 3 requests a second on average, bursts of 10
    /// (`set_rate_limit`, `disable_rate_limit`). The workspace is empty until
    /// `create_database`.
    pub async fn start(token: &str) -> FakeNotion {
        FakeNotion::start_with(token, BotUser::default()).await
    }

    pub async fn start_with(token: &str, bot: BotUser) -> FakeNotion {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Shared {
            token: token.to_owned(),
            bot,
            inner: Mutex::new(Inner::new()),
            recorded: Notify::new(),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(rest::handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeNotion {
            api_base: format!("{origin}/v1"),
            origin,
            state,
            verification_token: format!("secret_{}", uuid::Uuid::now_v7().simple()),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.inner()
    }

    pub fn bot(&self) -> &BotUser {
        &self.state.bot
    }

    /// The Notion-Version the fake wants.
    pub fn version(&self) -> &'static str {
        rest::NOTION_VERSION
    }

    // ---- the workspace ----

    /// Creates a shared database with one data source as `spec` describes.
    pub fn create_database(&self, spec: DatabaseSpec) -> NotionDatabase {
        let option = |name: &str, color: &str| SelectOption {
            id: new_id(),
            name: name.to_owned(),
            color: color.to_owned(),
        };
        let colors = [
            "gray", "blue", "purple", "red", "green", "yellow", "orange", "pink",
        ];
        let statuses: Vec<SelectOption> = spec
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| option(s, colors[i % colors.len()]))
            .collect();
        let complete = |s: &String| matches!(s.as_str(), "Done" | "Complete" | "Cancelled");
        let todo: Vec<String> = spec.statuses.iter().take(1).cloned().collect();
        let done: Vec<String> = spec
            .statuses
            .iter()
            .skip(1)
            .filter(|s| complete(s))
            .cloned()
            .collect();
        let doing: Vec<String> = spec
            .statuses
            .iter()
            .skip(1)
            .filter(|s| !complete(s))
            .cloned()
            .collect();
        let prop = |id: &str, name: &str, kind: PropKind| PropSchema {
            id: id.to_owned(),
            name: name.to_owned(),
            kind,
            options: Vec::new(),
            groups: Vec::new(),
        };
        let mut status = prop("Z%3ClH", &spec.status_property, PropKind::Status);
        status.options = statuses;
        status.groups = vec![
            ("To-do".into(), "gray".into(), todo),
            ("In progress".into(), "blue".into(), doing),
            ("Complete".into(), "green".into(), done),
        ];
        let mut select = prop("A%40Hk", &spec.select_property, PropKind::Select);
        select.options = spec
            .select_options
            .iter()
            .map(|s| option(s, "default"))
            .collect();
        let schema = vec![
            prop("title", &spec.title_property, PropKind::Title),
            status,
            prop("r%3DEp", &spec.repo_property, PropKind::RichText),
            prop("u%5BRl", &spec.url_property, PropKind::Url),
            select,
        ];
        let db = Database {
            id: new_id(),
            title: spec.title,
            data_source_id: new_id(),
            schema,
            shared: true,
            created: now_minute().0,
        };
        let ids = NotionDatabase {
            database_id: db.id.clone(),
            data_source_id: db.data_source_id.clone(),
        };
        self.inner().databases.push(db);
        ids
    }

    /// A person of the workspace; returns their user id.
    pub fn add_person(&self, name: &str) -> String {
        let id = new_id();
        self.inner().people.insert(id.clone(), name.to_owned());
        id
    }

    /// Adds a shared page to a data source; returns its id. Panics on an unknown data
    /// source or status.
    pub fn add_page(&self, data_source_id: &str, page: NewPage) -> String {
        let by = page.by.clone().unwrap_or_else(|| self.add_person("Ada"));
        let mut inner = self.inner();
        let db = inner
            .data_source(data_source_id)
            .expect("no such data source");
        let mut values = HashMap::new();
        let mut names = HashMap::new();
        for p in &db.schema {
            names.insert(p.kind.name(), p.clone());
        }
        values.insert(names["title"].name.clone(), rich_text(&page.title));
        if let Some(status) = &page.status {
            let schema = &names["status"];
            let option = schema
                .option(status)
                .unwrap_or_else(|| panic!("no status option {status:?}"));
            values.insert(schema.name.clone(), option.json());
        }
        if let Some(repo) = &page.repo {
            values.insert(names["rich_text"].name.clone(), rich_text(repo));
        }
        let (time, ms) = now_minute();
        let id = new_id();
        let (database_id, data_source_id) = (db.id.clone(), db.data_source_id.clone());
        inner.pages.push(Page {
            id: id.clone(),
            database_id,
            data_source_id,
            values,
            created_time: time.clone(),
            created_by: by.clone(),
            last_edited_time: time,
            last_edited_ms: ms,
            created_ms: ms,
            last_edited_by: by.clone(),
            shared: true,
            blocks: Vec::new(),
        });
        let children = Value::Array(page.blocks.iter().map(BlockSpec::json).collect());
        rest::insert_blocks(&mut inner, &id, &id, &children, &by);
        id
    }

    /// Shares or unshares a page, a database (with its data source and pages) or a
    /// data source with the integration; unshared ones answer 404 `object_not_found`.
    pub fn set_shared(&self, id: &str, shared: bool) {
        let mut inner = self.inner();
        let n = normalize(id);
        let mut found = false;
        let mut sources = Vec::new();
        for db in inner.databases.iter_mut() {
            if normalize(&db.id) == n || normalize(&db.data_source_id) == n {
                db.shared = shared;
                sources.push(db.data_source_id.clone());
                found = true;
            }
        }
        for page in inner.pages.iter_mut() {
            if normalize(&page.id) == n || sources.contains(&page.data_source_id) {
                page.shared = shared;
                found = true;
            }
        }
        assert!(found, "nothing with id {id} to share or unshare");
    }

    /// The page's top-level block ids, in order.
    pub fn block_ids(&self, page_id: &str) -> Vec<String> {
        self.inner()
            .page(page_id)
            .expect("no such page")
            .blocks
            .clone()
    }

    /// The children of block `id` cannot be read any more (404), as with a synced
    /// block or a child page the integration was not given.
    pub fn hide_children(&self, id: &str) {
        self.inner().hidden.insert(normalize(id));
    }

    pub fn unshare(&self, id: &str) {
        self.set_shared(id, false);
    }

    // ---- people acting ----

    /// Person `by` sets the page's status to `status` in Notion's UI: the page changes,
    /// and with webhooks on a `page.properties_updated` authored by that person is
    /// delivered (awaited; returns the receiver's status). Panics on an unknown page or
    /// status.
    pub async fn move_page(&self, page_id: &str, status: &str, by: &str) -> Option<u16> {
        let name = {
            let inner = self.inner();
            let page = inner.page(page_id).expect("no such page");
            let db = inner.schema_of(page);
            db.schema
                .iter()
                .find(|p| p.kind == PropKind::Status)
                .expect("the data source has a status property")
                .name
                .clone()
        };
        let properties = json!({ name: {"status": {"name": status}} });
        self.edit_page_as(by, page_id, &properties)
            .await
            .unwrap_or_else(|e| panic!("cannot move the page to {status:?}: {e}"))
    }

    /// Person `by` edits the page's properties (in the API's write shape, validated the
    /// same way) in Notion's UI; with webhooks on, `page.properties_updated` authored
    /// by them is delivered (awaited). Err: the validation message.
    pub async fn edit_page_as(
        &self,
        by: &str,
        page_id: &str,
        properties: &Value,
    ) -> Result<Option<u16>, String> {
        let event = {
            let mut inner = self.inner();
            let i = inner.page_index(page_id).ok_or("no such page")?;
            let db = inner.schema_of(&inner.pages[i]);
            let mut changes = Vec::new();
            for (key, value) in properties
                .as_object()
                .ok_or("properties is not an object")?
            {
                let (name, stored) =
                    validate::property_write(db, key, value).map_err(|r| r.message)?;
                let prop_id = db.prop(&name).map(|p| p.id.clone()).unwrap_or_default();
                changes.push((name, stored, prop_id));
            }
            let ids: Vec<String> = changes.iter().map(|(_, _, id)| id.clone()).collect();
            rest::apply(&mut inner, i, changes, by);
            let page_id = inner.pages[i].id.clone();
            inner.writes.push(PropertyWrite {
                page_id: page_id.clone(),
                by: by.to_owned(),
                properties: properties.clone(),
                at: Instant::now(),
            });
            inner.webhook.is_some().then(|| {
                self.state
                    .properties_updated_event(&inner, &page_id, by, false, &ids)
            })
        };
        self.state.recorded.notify_waiters();
        Ok(self.emit_and_wait(event).await)
    }

    /// Person `by` comments `text` on the page; with webhooks on, `comment.created` is
    /// delivered (awaited). Returns the comment id.
    pub async fn comment_as(&self, by: &str, page_id: &str, text: &str) -> String {
        let (comment, event) = {
            let mut inner = self.inner();
            let page = inner.page(page_id).expect("no such page").id.clone();
            let comment = rest::add_comment(&mut inner, &page, &new_id(), by, &rich_text(text));
            let event = inner.webhook.is_some().then(|| {
                self.state
                    .comment_created_event(&inner, &comment.id, &page, by, false)
            });
            (comment, event)
        };
        self.state.recorded.notify_waiters();
        self.emit_and_wait(event).await;
        comment.id
    }

    /// Person `by` comments on the page mentioning the bot (`@lucid`) followed by
    /// `text`, as Notion's editor writes a mention; with webhooks on, `comment.created`
    /// is delivered (awaited). Returns the comment id.
    pub async fn mention_bot_as(&self, by: &str, page_id: &str, text: &str) -> String {
        let bot = self.state.bot.clone();
        let annotations = json!({
            "bold": false, "italic": false, "strikethrough": false,
            "underline": false, "code": false, "color": "default"
        });
        let rich = json!([
            {
                "type": "mention",
                "mention": {"type": "user", "user": {"object": "user", "id": bot.id}},
                "annotations": annotations,
                "plain_text": format!("@{}", bot.name),
                "href": null,
            },
            {
                "type": "text",
                "text": {"content": format!(" {text}"), "link": null},
                "annotations": annotations,
                "plain_text": format!(" {text}"),
                "href": null,
            }
        ]);
        let (comment, event) = {
            let mut inner = self.inner();
            let page = inner.page(page_id).expect("no such page").id.clone();
            let comment = rest::add_comment(&mut inner, &page, &new_id(), by, &rich);
            let event = inner.webhook.is_some().then(|| {
                self.state
                    .comment_created_event(&inner, &comment.id, &page, by, false)
            });
            (comment, event)
        };
        self.state.recorded.notify_waiters();
        self.emit_and_wait(event).await;
        comment.id
    }

    async fn emit_and_wait(&self, event: Option<Value>) -> Option<u16> {
        let handle = self.state.clone().emit(event?)?;
        handle.await.ok().flatten()
    }

    // ---- webhooks ----

    /// The token webhook events are signed with.
    pub fn verification_token(&self) -> &str {
        &self.verification_token
    }

    /// From now on changes (lucid's property writes, `move_page`, `comment_as`) are
    /// delivered to `url`, signed with `verification_token()`.
    pub fn enable_webhooks(&self, url: &str) {
        self.inner().webhook = Some(WebhookTarget {
            url: url.to_owned(),
            verification_token: self.verification_token.clone(),
            subscription_id: new_id(),
        });
    }

    pub fn disable_webhooks(&self) {
        self.inner().webhook = None;
    }

    /// Sends the (unsigned) verification request Notion sends when a subscription is
    /// created: `{"verification_token": "secret_…"}`. Returns the receiver's status.
    pub async fn deliver_verification(&self, url: &str) -> Option<u16> {
        let body = json!({"verification_token": self.verification_token});
        self.state.send(url, &body, None).await
    }

    /// Sends `event` signed with the verification token.
    pub async fn deliver(&self, url: &str, event: &Value) -> Option<u16> {
        self.state
            .send(url, event, Some(&self.verification_token))
            .await
    }

    /// Sends `event` signed with another key (what a forger would send).
    pub async fn deliver_badly_signed(&self, url: &str, event: &Value) -> Option<u16> {
        self.state
            .send(url, event, Some("secret_not-the-verification-token"))
            .await
    }

    /// Sends `event` without a signature.
    pub async fn deliver_unsigned(&self, url: &str, event: &Value) -> Option<u16> {
        self.state.send(url, event, None).await
    }

    /// A `page.properties_updated` event for `page_id` by `author` (a person, or the bot
    /// when it is the bot's id), naming the properties (by name or id) updated.
    pub fn page_properties_updated(
        &self,
        page_id: &str,
        author: &str,
        properties: &[&str],
    ) -> Value {
        let inner = self.inner();
        let page = inner.page(page_id).expect("no such page");
        let db = inner.schema_of(page);
        let ids: Vec<String> = properties
            .iter()
            .map(|p| db.prop(p).map_or_else(|| (*p).to_owned(), |s| s.id.clone()))
            .collect();
        let is_bot = author == self.state.bot.id;
        self.state
            .properties_updated_event(&inner, page_id, author, is_bot, &ids)
    }

    /// A `comment.created` event for comment `comment_id` on `page_id` by `author`.
    pub fn comment_created(&self, comment_id: &str, page_id: &str, author: &str) -> Value {
        let inner = self.inner();
        let is_bot = author == self.state.bot.id;
        self.state
            .comment_created_event(&inner, comment_id, page_id, author, is_bot)
    }

    // ---- failures and limits ----

    /// The next `n` requests answer `status` (429 `rate_limited`, 529
    /// `service_overload` as developers.notion.com/reference/request-limits names it,
    /// 409 `conflict_error`, 502 `bad_gateway`, 503 `service_unavailable`, 504
    /// `gateway_timeout`, else 500 `internal_server_error`) with `Retry-After:
    /// retry_after_secs`, and change nothing. Not `unexpected`; a request before that
    /// Retry-After has passed is.
    pub fn fail_next(&self, n: usize, status: u16, retry_after_secs: u64) {
        let mut inner = self.inner();
        for _ in 0..n {
            inner.forced.push_back((status, retry_after_secs));
        }
    }

    /// Sets the rate limit: `per_second` on average, `burst` at once (full now).
    pub fn set_rate_limit(&self, per_second: f64, burst: u32) {
        let mut inner = self.inner();
        inner.bucket.rate = per_second;
        inner.bucket.burst = f64::from(burst);
        inner.bucket.tokens = f64::from(burst);
        inner.bucket.last = Instant::now();
        inner.bucket.enabled = true;
    }

    /// No rate limit (forced failures still apply).
    pub fn disable_rate_limit(&self) {
        self.inner().bucket.enabled = false;
    }

    // ---- records ----

    /// Every request so far, in the order answered.
    pub fn calls(&self) -> Vec<NotionCall> {
        self.inner().calls.clone()
    }

    /// The calls of one method whose path starts with `prefix`.
    pub fn calls_to(&self, method: &str, prefix: &str) -> Vec<NotionCall> {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.method == method && c.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// What lucid should never do: a bad token, no or another Notion-Version, a refused
    /// body (validation, size, JSON, unknown route), a request inside a live
    /// Retry-After. (429s, forced failures and 404s of unshared objects are not.)
    pub fn unexpected(&self) -> Vec<String> {
        self.inner().unexpected.clone()
    }

    /// The page as `GET /v1/pages/{id}` would answer it (shared or not).
    pub fn page(&self, page_id: &str) -> Option<Value> {
        let inner = self.inner();
        inner.page(page_id).map(|p| inner.page_json(p))
    }

    /// The name of the page's status now.
    pub fn status_of(&self, page_id: &str) -> Option<String> {
        let inner = self.inner();
        let page = inner.page(page_id)?;
        let db = inner.schema_of(page);
        let schema = db.schema.iter().find(|p| p.kind == PropKind::Status)?;
        page.values.get(&schema.name)?["name"]
            .as_str()
            .map(str::to_owned)
    }

    /// A property's value part now (`url`'s string, `status`'s option, …).
    pub fn property(&self, page_id: &str, name: &str) -> Option<Value> {
        self.inner().page(page_id)?.values.get(name).cloned()
    }

    /// Every accepted property write, oldest first.
    pub fn writes(&self) -> Vec<PropertyWrite> {
        self.inner().writes.clone()
    }

    /// The property writes to one page, oldest first.
    pub fn writes_to(&self, page_id: &str) -> Vec<PropertyWrite> {
        let n = normalize(page_id);
        self.inner()
            .writes
            .iter()
            .filter(|w| normalize(&w.page_id) == n)
            .cloned()
            .collect()
    }

    /// The comments on a page, oldest first.
    pub fn comments(&self, page_id: &str) -> Vec<NotionComment> {
        let n = normalize(page_id);
        self.inner()
            .comments
            .iter()
            .filter(|c| normalize(&c.page_id) == n)
            .cloned()
            .collect()
    }

    /// Every comment, on every page.
    pub fn comments_all(&self) -> Vec<NotionComment> {
        self.inner().comments.clone()
    }

    /// Every webhook request sent, in order.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner().deliveries.clone()
    }

    /// Waits until `f` returns Some, re-checking after every request the fake answers
    /// and every change a control makes; panics after the harness deadline naming
    /// `what` and listing the calls.
    pub async fn wait_until<T>(&self, what: &str, f: impl Fn(&FakeNotion) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.state.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = f(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(value) = f(self) {
                    return value;
                }
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}; the fake Notion saw:\n{}",
                    self.calls()
                        .iter()
                        .map(|c| format!(
                            "  {} {} -> {} {}",
                            c.method,
                            c.path,
                            c.status,
                            c.code().unwrap_or("ok")
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
}
