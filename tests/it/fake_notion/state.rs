//! The fake's state: databases with one data source each, pages with their properties
//! and content blocks, comments, people, the rate limiter, and the records.

use super::records::{NotionCall, NotionComment, PropertyWrite, WebhookDelivery};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

/// The bot user behind the integration token (what `GET /v1/users/me` answers).
#[derive(Clone, Debug)]
pub struct BotUser {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub integration_id: String,
}

impl Default for BotUser {
    fn default() -> Self {
        BotUser {
            id: "16d84278-ab0e-484c-9bdd-b35da3bd8905".into(),
            name: "lucid".into(),
            workspace_id: "13950b26-c203-4f3b-b97d-93ec06319565".into(),
            workspace_name: "Acme".into(),
            integration_id: "0ef2e755-4912-8096-91c1-00376a88a5ca".into(),
        }
    }
}

/// The kinds of property the fake's data sources have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PropKind {
    Title,
    Status,
    RichText,
    Url,
    Select,
}

impl PropKind {
    pub(super) fn name(&self) -> &'static str {
        match self {
            PropKind::Title => "title",
            PropKind::Status => "status",
            PropKind::RichText => "rich_text",
            PropKind::Url => "url",
            PropKind::Select => "select",
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct SelectOption {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) color: String,
}

impl SelectOption {
    pub(super) fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "color": self.color})
    }
}

#[derive(Clone, Debug)]
pub(super) struct PropSchema {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) kind: PropKind,
    /// Status and select options.
    pub(super) options: Vec<SelectOption>,
    /// Status groups: (name, color, option names).
    pub(super) groups: Vec<(String, String, Vec<String>)>,
}

impl PropSchema {
    pub(super) fn json(&self) -> Value {
        let mut p = json!({"id": self.id, "name": self.name, "type": self.kind.name()});
        let config = match self.kind {
            PropKind::Status => {
                let groups: Vec<Value> = self
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(i, (name, color, members))| {
                        let ids: Vec<&str> = self
                            .options
                            .iter()
                            .filter(|o| members.contains(&o.name))
                            .map(|o| o.id.as_str())
                            .collect();
                        json!({"id": format!("group-{i}"), "name": name, "color": color, "option_ids": ids})
                    })
                    .collect();
                let options: Vec<Value> = self.options.iter().map(|o| o.json()).collect();
                json!({"options": options, "groups": groups})
            }
            PropKind::Select => {
                let options: Vec<Value> = self.options.iter().map(|o| o.json()).collect();
                json!({"options": options})
            }
            _ => json!({}),
        };
        p[self.kind.name()] = config;
        p
    }

    pub(super) fn option(&self, name: &str) -> Option<&SelectOption> {
        self.options.iter().find(|o| o.name == name)
    }
}

pub(super) struct Database {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) data_source_id: String,
    pub(super) schema: Vec<PropSchema>,
    pub(super) shared: bool,
    pub(super) created: String,
}

impl Database {
    pub(super) fn prop(&self, name_or_id: &str) -> Option<&PropSchema> {
        self.schema
            .iter()
            .find(|p| p.name == name_or_id || p.id == name_or_id)
    }

    pub(super) fn json(&self) -> Value {
        json!({
            "object": "database",
            "id": self.id,
            "title": rich_text(&self.title),
            "description": [],
            "parent": {"type": "workspace", "workspace": true},
            "is_inline": false,
            "in_trash": false,
            "is_locked": false,
            "created_time": self.created,
            "last_edited_time": self.created,
            "data_sources": [{"id": self.data_source_id, "name": self.title}],
            "icon": null,
            "cover": null,
            "url": notion_url(&self.title, &self.id),
            "public_url": null,
        })
    }

    pub(super) fn data_source_json(&self) -> Value {
        let properties: Map<String, Value> = self
            .schema
            .iter()
            .map(|p| (p.name.clone(), p.json()))
            .collect();
        json!({
            "object": "data_source",
            "id": self.data_source_id,
            "created_time": self.created,
            "last_edited_time": self.created,
            "created_by": {"object": "user", "id": "c2f20311-9e54-4d11-8c79-7398424ae41e"},
            "last_edited_by": {"object": "user", "id": "c2f20311-9e54-4d11-8c79-7398424ae41e"},
            "properties": properties,
            "parent": {"type": "database_id", "database_id": self.id},
            "database_parent": {"type": "workspace", "workspace": true},
            "archived": false,
            "in_trash": false,
            "is_inline": false,
            "title": rich_text(&self.title),
            "description": [],
            "icon": null,
            "cover": null,
            "url": notion_url(&self.title, &self.data_source_id),
            "public_url": null,
        })
    }
}

pub(super) struct Page {
    pub(super) id: String,
    pub(super) database_id: String,
    pub(super) data_source_id: String,
    /// Property name → the value part (`title`'s array, `status`'s option or null, …).
    pub(super) values: HashMap<String, Value>,
    pub(super) created_time: String,
    pub(super) created_by: String,
    pub(super) last_edited_time: String,
    /// For filters and sorts: milliseconds since the epoch.
    pub(super) last_edited_ms: i128,
    pub(super) created_ms: i128,
    pub(super) last_edited_by: String,
    pub(super) shared: bool,
    /// Top-level block ids, in order.
    pub(super) blocks: Vec<String>,
}

pub(super) struct Block {
    pub(super) id: String,
    /// `{"type": "page_id", …}` or `{"type": "block_id", …}`.
    pub(super) parent: Value,
    /// The page the block is on.
    pub(super) page_id: String,
    pub(super) kind: String,
    /// The type's object (`{"rich_text": …, "color": …}`), without `children`.
    pub(super) content: Value,
    pub(super) children: Vec<String>,
    pub(super) created_time: String,
    pub(super) created_by: String,
}

impl Block {
    pub(super) fn json(&self) -> Value {
        let mut b = json!({
            "object": "block",
            "id": self.id,
            "parent": self.parent,
            "created_time": self.created_time,
            "last_edited_time": self.created_time,
            "created_by": {"object": "user", "id": self.created_by},
            "last_edited_by": {"object": "user", "id": self.created_by},
            "has_children": !self.children.is_empty(),
            "archived": false,
            "in_trash": false,
            "type": self.kind,
        });
        b[self.kind.as_str()] = self.content.clone();
        b
    }
}

pub(super) struct Shared {
    pub(super) token: String,
    pub(super) bot: BotUser,
    pub(super) inner: Mutex<Inner>,
    pub(super) recorded: Notify,
    pub(super) http: reqwest::Client,
}

impl Shared {
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token bucket: `rate` requests a second on average, `burst` at once.
pub(super) struct Bucket {
    pub(super) rate: f64,
    pub(super) burst: f64,
    pub(super) tokens: f64,
    pub(super) last: Instant,
    pub(super) enabled: bool,
}

pub(super) struct WebhookTarget {
    pub(super) url: String,
    pub(super) verification_token: String,
    pub(super) subscription_id: String,
}

pub(super) struct Inner {
    pub(super) databases: Vec<Database>,
    pub(super) pages: Vec<Page>,
    /// Normalized id (no dashes) → block.
    pub(super) blocks: HashMap<String, Block>,
    /// Blocks whose children the integration cannot see (a synced block or a child
    /// page not shared with it): 404 `object_not_found`.
    pub(super) hidden: std::collections::HashSet<String>,
    pub(super) comments: Vec<NotionComment>,
    /// Person id → name.
    pub(super) people: HashMap<String, String>,
    pub(super) calls: Vec<NotionCall>,
    pub(super) writes: Vec<PropertyWrite>,
    pub(super) unexpected: Vec<String>,
    pub(super) bucket: Bucket,
    /// Forced answers for the next requests: (status, Retry-After seconds).
    pub(super) forced: VecDeque<(u16, u64)>,
    /// A request before this instant ignores the last Retry-After.
    /// When the last Retry-After was given, and until when it holds.
    pub(super) retry_until: Option<(Instant, Instant)>,
    pub(super) webhook: Option<WebhookTarget>,
    pub(super) deliveries: Vec<WebhookDelivery>,
    /// Requests whose body is larger than this are refused.
    pub(super) max_body: usize,
}

impl Inner {
    pub(super) fn new() -> Inner {
        Inner {
            databases: Vec::new(),
            pages: Vec::new(),
            blocks: HashMap::new(),
            hidden: Default::default(),
            comments: Vec::new(),
            people: HashMap::new(),
            calls: Vec::new(),
            writes: Vec::new(),
            unexpected: Vec::new(),
            bucket: Bucket {
                rate: 3.0,
                burst: 10.0,
                tokens: 10.0,
                last: Instant::now(),
                enabled: true,
            },
            forced: VecDeque::new(),
            retry_until: None,
            webhook: None,
            deliveries: Vec::new(),
            max_body: super::validate::MAX_BODY_BYTES,
        }
    }

    pub(super) fn database(&self, id: &str) -> Option<&Database> {
        let id = normalize(id);
        self.databases.iter().find(|d| normalize(&d.id) == id)
    }

    pub(super) fn data_source(&self, id: &str) -> Option<&Database> {
        let id = normalize(id);
        self.databases
            .iter()
            .find(|d| normalize(&d.data_source_id) == id)
    }

    pub(super) fn page_index(&self, id: &str) -> Option<usize> {
        let id = normalize(id);
        self.pages.iter().position(|p| normalize(&p.id) == id)
    }

    pub(super) fn page(&self, id: &str) -> Option<&Page> {
        self.page_index(id).map(|i| &self.pages[i])
    }

    pub(super) fn schema_of(&self, page: &Page) -> &Database {
        self.data_source(&page.data_source_id)
            .expect("a page's data source exists")
    }

    pub(super) fn page_json(&self, page: &Page) -> Value {
        let db = self.schema_of(page);
        let properties: Map<String, Value> = db
            .schema
            .iter()
            .map(|p| {
                let value = page.values.get(&p.name).cloned().unwrap_or(match p.kind {
                    PropKind::Title | PropKind::RichText => json!([]),
                    _ => Value::Null,
                });
                let mut v = json!({"id": p.id, "type": p.kind.name()});
                v[p.kind.name()] = value;
                (p.name.clone(), v)
            })
            .collect();
        let title = self.page_title(page);
        json!({
            "object": "page",
            "id": page.id,
            "created_time": page.created_time,
            "last_edited_time": page.last_edited_time,
            "created_by": {"object": "user", "id": page.created_by},
            "last_edited_by": {"object": "user", "id": page.last_edited_by},
            "cover": null,
            "icon": null,
            "parent": {
                "type": "data_source_id",
                "data_source_id": page.data_source_id,
                "database_id": page.database_id,
            },
            "archived": false,
            "in_trash": false,
            "is_locked": false,
            "properties": properties,
            "url": notion_url(&title, &page.id),
            "public_url": null,
        })
    }

    pub(super) fn page_title(&self, page: &Page) -> String {
        let db = self.schema_of(page);
        db.schema
            .iter()
            .find(|p| p.kind == PropKind::Title)
            .and_then(|p| page.values.get(&p.name))
            .map(plain_text)
            .unwrap_or_default()
    }

    /// The block ids under a page or block, or None when neither exists.
    pub(super) fn children_of(&self, id: &str) -> Option<(String, Vec<String>)> {
        if let Some(page) = self.page(id) {
            return Some((page.id.clone(), page.blocks.clone()));
        }
        let block = self.blocks.get(&normalize(id))?;
        Some((block.page_id.clone(), block.children.clone()))
    }

    pub(super) fn flag(&mut self, what: String) {
        self.unexpected.push(what);
    }
}

/// An id without dashes, lower case: Notion takes both spellings.
pub(super) fn normalize(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A fresh id in Notion's dashed UUID form.
pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// `https://www.notion.so/Title-With-Dashes-<id without dashes>`.
pub(super) fn notion_url(title: &str, id: &str) -> String {
    let slug: String = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        format!("https://www.notion.so/{}", normalize(id))
    } else {
        format!("https://www.notion.so/{slug}-{}", normalize(id))
    }
}

/// One plain text run as Notion renders rich text.
pub(super) fn rich_text(text: &str) -> Value {
    json!([{
        "type": "text",
        "text": {"content": text, "link": null},
        "annotations": {
            "bold": false, "italic": false, "strikethrough": false,
            "underline": false, "code": false, "color": "default"
        },
        "plain_text": text,
        "href": null,
    }])
}

/// Rich text as sent by a client, rendered as Notion answers it (defaults filled,
/// `plain_text` added).
pub(super) fn render_rich_text(sent: &Value) -> Value {
    let items = sent.as_array().cloned().unwrap_or_default();
    Value::Array(
        items
            .into_iter()
            .map(|mut item| {
                let content = item["text"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let link = item["text"].get("link").cloned().unwrap_or(Value::Null);
                if item.get("type").is_none() {
                    item["type"] = json!("text");
                }
                if item["type"] == "text" {
                    item["text"] = json!({"content": content, "link": link});
                    item["plain_text"] = json!(content);
                    item["href"] = link.get("url").cloned().unwrap_or(Value::Null);
                }
                let mut annotations = json!({
                    "bold": false, "italic": false, "strikethrough": false,
                    "underline": false, "code": false, "color": "default"
                });
                if let Some(Value::Object(sent)) = item.get("annotations") {
                    for (k, v) in sent {
                        annotations[k.as_str()] = v.clone();
                    }
                }
                item["annotations"] = annotations;
                item
            })
            .collect(),
    )
}

/// The text of a rich text array.
pub(super) fn plain_text(rich: &Value) -> String {
    rich.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r["plain_text"]
                .as_str()
                .or(r["text"]["content"].as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Now, in Notion's form (`2024-12-05T23:57:05.379Z`), and in milliseconds.
pub(super) fn now() -> (String, i128) {
    let t = time::OffsetDateTime::now_utc();
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    (format_ms(ms), ms)
}

/// Now rounded down to the minute, as Notion gives `created_time` and
/// `last_edited_time` of pages, databases and blocks (changelog "Last edited and
/// created time properties are now rounded to the nearest minute"): a client polling
/// with `last_edited_time` `after` the last time it saw misses edits made in the same
/// minute.
pub(super) fn now_minute() -> (String, i128) {
    let (_, ms) = now();
    let ms = ms - ms.rem_euclid(60_000);
    (format_ms(ms), ms)
}

pub(super) fn format_ms(ms: i128) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an ISO 8601 date (`2024-01-02`) or date-time (`2024-01-02T03:04:05(.sss)(Z|±hh:mm)`)
/// into milliseconds since the epoch.
pub(super) fn parse_iso(s: &str) -> Option<i128> {
    let (date, rest) = match s.split_once('T') {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let mut ms = i128::from(date.midnight().assume_utc().unix_timestamp()) * 1000;
    if let Some(rest) = rest {
        let (clock, offset_ms) = if let Some(c) = rest.strip_suffix('Z') {
            (c, 0)
        } else if let Some(i) = rest.rfind(['+', '-']) {
            let (c, off) = rest.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':')?;
            let minutes = h.parse::<i128>().ok()? * 60 + m.parse::<i128>().ok()?;
            (c, sign * minutes * 60_000)
        } else {
            (rest, 0)
        };
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
        let mut hms = hms.split(':');
        let h: i128 = hms.next()?.parse().ok()?;
        let m: i128 = hms.next()?.parse().ok()?;
        let sec: i128 = hms.next().unwrap_or("0").parse().ok()?;
        let frac_ms: i128 = format!("{frac:0<3}")[..3].parse().ok()?;
        ms += ((h * 60 + m) * 60 + sec) * 1000 + frac_ms - offset_ms;
    }
    Some(ms)
}
