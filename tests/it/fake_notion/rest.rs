//! The REST handler: every request is judged (token, `Notion-Version`, forced failures,
//! the rate limit, body size and JSON), routed, answered in Notion's shapes and
//! recorded.

use super::records::{NotionCall, NotionComment, PropertyWrite};
use super::state::{
    Block, Inner, PropKind, Shared, new_id, normalize, now_minute, parse_iso, plain_text,
    render_rich_text,
};
use super::validate::{self, Refusal};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API version the fake speaks (data sources).
pub(super) const NOTION_VERSION: &str = "2025-09-03";

struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl From<Refusal> for Answer {
    fn from(r: Refusal) -> Answer {
        Answer {
            status: r.status,
            body: r.body(),
            retry_after: None,
        }
    }
}

/// How long after a refusal a request may still have been on its way (sent before
/// the client read the refusal).
const IN_FLIGHT: Duration = Duration::from_millis(100);

fn ok(body: Value) -> Result<Answer, Refusal> {
    Ok(Answer {
        status: 200,
        body,
        retry_after: None,
    })
}

pub(super) async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let (answer, expected, events) = judge(&state, &method, &path, &query, &headers, &body, at);

    {
        let mut inner = state.inner();
        let unexpected = !expected;
        if unexpected {
            let what = format!(
                "{method} {path} answered {} {}: {}",
                answer.status,
                answer.body["code"].as_str().unwrap_or_default(),
                answer.body["message"].as_str().unwrap_or_default()
            );
            inner.flag(what);
        }
        inner.calls.push(NotionCall {
            method: method.to_string(),
            path: path.clone(),
            query,
            body: json_body.unwrap_or(Value::Null),
            status: answer.status,
            response: answer.body.clone(),
            at,
            unexpected,
        });
    }
    for event in events {
        let _ = state.clone().emit(event);
    }
    state.recorded.notify_waiters();

    let mut response = Response::builder()
        .status(answer.status)
        .header("content-type", "application/json; charset=utf-8");
    if let Some(secs) = answer.retry_after {
        response = response.header("retry-after", secs.to_string());
    }
    response
        .body(axum::body::Body::from(answer.body.to_string()))
        .unwrap()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The answer; whether a well-behaved client may get it; webhook events to send.
fn judge(
    state: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    at: Instant,
) -> (Answer, bool, Vec<Value>) {
    if bearer(headers).as_deref() != Some(state.token.as_str()) {
        let refusal = Refusal {
            status: 401,
            code: "unauthorized",
            message: "API token is invalid.".into(),
        };
        return (refusal.into(), false, Vec::new());
    }
    let version = headers.get("notion-version").and_then(|v| v.to_str().ok());
    if version.is_none() {
        let refusal = Refusal {
            status: 400,
            code: "missing_version",
            message: "Notion-Version header failed validation: Notion-Version header should \
                      be defined, instead was `undefined`."
                .into(),
        };
        return (refusal.into(), false, Vec::new());
    }
    if version != Some(NOTION_VERSION) {
        let refusal = Refusal::validation(format!(
            "The fake Notion speaks Notion-Version {NOTION_VERSION} only, not `{}`.",
            version.unwrap_or_default()
        ));
        return (refusal.into(), false, Vec::new());
    }
    let mut inner = state.inner();
    // A request inside the last Retry-After is something lucid should not send.
    // A request that reached the fake just after a refusal was sent before the client
    // could read it (concurrent requests): only one sent later than that is early.
    let early = inner
        .retry_until
        .is_some_and(|(refused, until)| at > refused + IN_FLIGHT && at < until);
    if early {
        inner.flag(format!(
            "{method} {path} sent before the last Retry-After had passed"
        ));
    }
    if let Some((status, secs)) = inner.forced.pop_front() {
        inner.retry_until = Some((at, at + Duration::from_secs(secs)));
        let (code, message) = match status {
            429 => (
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            ),
            529 => (
                "service_overload",
                "Notion is overloaded. Please try again later.",
            ),
            409 => (
                "conflict_error",
                "Conflict occurred while saving. Please try again.",
            ),
            502 => ("bad_gateway", "Bad gateway."),
            503 => ("service_unavailable", "Notion is unavailable."),
            504 => ("gateway_timeout", "Gateway timeout."),
            _ => ("internal_server_error", "Unexpected error occurred."),
        };
        let refusal = Refusal {
            status,
            code,
            message: message.into(),
        };
        let mut answer = Answer::from(refusal);
        answer.retry_after = Some(secs);
        return (answer, true, Vec::new());
    }
    if let Some(wait) = inner.take_token(at) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        inner.retry_until = Some((at, at + wait));
        let refusal = Refusal {
            status: 429,
            code: "rate_limited",
            message: "You have been rate limited. Please try again in a few minutes.".into(),
        };
        let mut answer = Answer::from(refusal);
        answer.retry_after = Some(secs.max(1));
        return (answer, true, Vec::new());
    }
    if body.len() > inner.max_body {
        let refusal = Refusal::validation(format!(
            "Request body too large: {} bytes, the limit is {} bytes.",
            body.len(),
            inner.max_body
        ));
        return (refusal.into(), false, Vec::new());
    }
    let json_body = if body.is_empty() || body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let refusal = Refusal {
                    status: 400,
                    code: "invalid_json",
                    message: "Error parsing JSON body.".into(),
                };
                return (refusal.into(), false, Vec::new());
            }
        }
    };
    let params: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let mut events = Vec::new();
    let result = route(
        state,
        &mut inner,
        method,
        path,
        &Value::Object(params),
        &json_body,
        &mut events,
    );
    match result {
        Ok(answer) => (answer, true, events),
        // A 404 may be a page someone unshared: not lucid's fault.
        Err(refusal) => {
            let expected = refusal.status == 404 && refusal.code == "object_not_found";
            (refusal.into(), expected, Vec::new())
        }
    }
}

impl Inner {
    /// Takes a token from the bucket; Some(wait until one is there) when empty.
    fn take_token(&mut self, at: Instant) -> Option<Duration> {
        let bucket = &mut self.bucket;
        if !bucket.enabled {
            return None;
        }
        let elapsed = at.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
        bucket.last = bucket.last.max(at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate))
        }
    }
}

fn route(
    state: &Arc<Shared>,
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &Value,
    body: &Value,
    events: &mut Vec<Value>,
) -> Result<Answer, Refusal> {
    let segments: Vec<&str> = path
        .strip_prefix("/v1/")
        .unwrap_or("")
        .trim_end_matches('/')
        .split('/')
        .collect();
    // Ids in the path must be UUIDs (with or without dashes).
    if let [kind, id, ..] = segments.as_slice()
        && *id != "me"
        && !is_uuid(id)
    {
        let name = match *kind {
            "pages" => "page_id",
            "databases" => "database_id",
            "data_sources" => "data_source_id",
            "blocks" => "block_id",
            "users" => "user_id",
            _ => "id",
        };
        return Err(Refusal::validation(format!(
            "path failed validation: path.{name} should be a valid uuid, instead was `\"{id}\"`."
        )));
    }
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users", "me"]) => ok(state.bot_json()),
        ("GET", ["users", id]) => {
            if normalize(id) == normalize(&state.bot.id) {
                return ok(state.bot_json());
            }
            let (id, name) = inner
                .people
                .iter()
                .find(|(p, _)| normalize(p) == normalize(id))
                .ok_or_else(|| Refusal::not_found("user", id))?;
            ok(person_json(id, name))
        }
        ("GET", ["databases", id]) => {
            let db = inner
                .database(id)
                .filter(|d| d.shared)
                .ok_or_else(|| Refusal::not_found("database", id))?;
            ok(db.json())
        }
        ("GET", ["data_sources", id]) => {
            let db = inner
                .data_source(id)
                .filter(|d| d.shared)
                .ok_or_else(|| Refusal::not_found("data_source", id))?;
            ok(db.data_source_json())
        }
        ("POST", ["data_sources", id, "query"]) => query_data_source(inner, id, body),
        ("GET", ["pages", id]) => {
            let page = inner
                .page(id)
                .filter(|p| p.shared)
                .ok_or_else(|| Refusal::not_found("page", id))?;
            ok(inner.page_json(page))
        }
        ("PATCH", ["pages", id]) => update_page(state, inner, id, body, events),
        ("GET", ["blocks", id, "children"]) => block_children(inner, id, query),
        ("PATCH", ["blocks", id, "children"]) => append_children(state, inner, id, body),
        ("POST", ["comments"]) => create_comment(state, inner, body, events),
        ("GET", ["comments"]) => list_comments(inner, query),
        ("GET", ["comments", id]) => {
            let comment = inner
                .comments
                .iter()
                .find(|c| normalize(&c.id) == normalize(id))
                .filter(|c| inner.page(&c.page_id).is_some_and(|p| p.shared))
                .ok_or_else(|| Refusal::not_found("comment", id))?;
            ok(comment_json(comment))
        }
        _ => Err(Refusal {
            status: 400,
            code: "invalid_request_url",
            message: "Invalid request URL.".into(),
        }),
    }
}

/// 32 hex digits, dashes anywhere ignored (Notion takes both spellings).
fn is_uuid(id: &str) -> bool {
    let n = normalize(id);
    n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())
}

/// A person as `GET /v1/users/{id}` answers (email from the name).
pub(super) fn person_json(id: &str, name: &str) -> Value {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    json!({
        "object": "user",
        "id": id,
        "type": "person",
        "name": name,
        "avatar_url": null,
        "person": {"email": email},
    })
}

/// A page of `items` (id, value) from `start_cursor` on: the list object.
fn paginate(
    items: Vec<(String, Value)>,
    start_cursor: Option<&str>,
    page_size: usize,
    kind: &str,
) -> Result<Value, Refusal> {
    let start = match start_cursor.filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => items
            .iter()
            .position(|(id, _)| normalize(id) == normalize(cursor))
            .ok_or_else(|| {
                Refusal::validation(format!(
                    "body failed validation: start_cursor `{cursor}` is not a valid cursor."
                ))
            })?,
    };
    let end = (start + page_size).min(items.len());
    let next = items.get(end).map(|(id, _)| id.clone());
    let results: Vec<Value> = items[start..end].iter().map(|(_, v)| v.clone()).collect();
    let mut list = json!({
        "object": "list",
        "results": results,
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": kind,
        "request_id": new_id(),
    });
    list[kind] = json!({});
    Ok(list)
}

fn query_data_source(inner: &Inner, id: &str, body: &Value) -> Result<Answer, Refusal> {
    let db = inner
        .data_source(id)
        .filter(|d| d.shared)
        .ok_or_else(|| Refusal::not_found("data_source", id))?;
    let page_size = validate::page_size("body.page_size", body.get("page_size"))?;
    let filter = body.get("filter").filter(|f| !f.is_null());
    let mut pages: Vec<&super::state::Page> = Vec::new();
    for page in inner
        .pages
        .iter()
        .filter(|p| p.shared && p.data_source_id == db.data_source_id)
    {
        let keep = match filter {
            None => true,
            Some(f) => matches(inner, page, f, "body.filter", 0)?,
        };
        if keep {
            pages.push(page);
        }
    }
    // Without sorts, the newest first (created_time descending).
    let sorts = body
        .get("sorts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, sort) in sorts.iter().enumerate() {
        let ok_timestamp = matches!(
            sort["timestamp"].as_str(),
            None | Some("created_time" | "last_edited_time")
        );
        let ok_property = sort["property"]
            .as_str()
            .is_none_or(|p| db.prop(p).is_some());
        let ok_direction = matches!(sort["direction"].as_str(), Some("ascending" | "descending"));
        if !ok_timestamp || !ok_property || !ok_direction {
            return Err(Refusal::validation(format!(
                "body.sorts[{i}] is not a valid sort: `{sort}`."
            )));
        }
    }
    pages.sort_by(|a, b| {
        for sort in &sorts {
            let descending = sort["direction"] == "descending";
            let ordering = if let Some(t) = sort["timestamp"].as_str() {
                let key = |p: &super::state::Page| {
                    if t == "created_time" {
                        p.created_ms
                    } else {
                        p.last_edited_ms
                    }
                };
                key(a).cmp(&key(b))
            } else {
                let name = sort["property"].as_str().unwrap_or_default();
                let key = |p: &super::state::Page| sort_key(p.values.get(name));
                key(a).cmp(&key(b))
            };
            let ordering = if descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        if sorts.is_empty() {
            b.created_ms.cmp(&a.created_ms)
        } else {
            Ordering::Equal
        }
    });
    let items = pages
        .into_iter()
        .map(|p| (p.id.clone(), inner.page_json(p)))
        .collect();
    let cursor = body["start_cursor"].as_str();
    ok(paginate(items, cursor, page_size, "page_or_data_source")?)
}

fn sort_key(value: Option<&Value>) -> String {
    match value {
        Some(Value::Array(_)) => plain_text(value.unwrap_or(&Value::Null)),
        Some(Value::Object(o)) => o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Whether `page` passes filter `f`.
fn matches(
    inner: &Inner,
    page: &super::state::Page,
    f: &Value,
    path: &str,
    depth: usize,
) -> Result<bool, Refusal> {
    let invalid = || Refusal::validation(format!("{path} is not a supported filter: `{f}`."));
    if let Some(all) = f.get("and").or(f.get("or")) {
        // Compound filters nest at most two levels.
        if depth >= 2 {
            return Err(Refusal::validation(format!(
                "{path}: compound filters may nest at most two levels."
            )));
        }
        let is_and = f.get("and").is_some();
        let items = all.as_array().ok_or_else(invalid)?;
        if items.len() > validate::MAX_ARRAY {
            return Err(Refusal::validation(format!(
                "{path}.length should be ≤ `100`, instead was `{}`.",
                items.len()
            )));
        }
        let mut result = is_and;
        for (i, item) in items.iter().enumerate() {
            let key = if is_and { "and" } else { "or" };
            let m = matches(inner, page, item, &format!("{path}.{key}[{i}]"), depth + 1)?;
            result = if is_and { result && m } else { result || m };
        }
        return Ok(result);
    }
    if let Some(timestamp) = f["timestamp"].as_str() {
        let at = match timestamp {
            "created_time" => page.created_ms,
            "last_edited_time" => page.last_edited_ms,
            _ => return Err(invalid()),
        };
        let condition = f
            .get(timestamp)
            .and_then(Value::as_object)
            .ok_or_else(invalid)?;
        return date_condition(at, condition, path);
    }
    let Some(name) = f["property"].as_str() else {
        return Err(invalid());
    };
    let db = inner.schema_of(page);
    let schema = db.prop(name).ok_or_else(|| {
        Refusal::validation(format!("Could not find property with name or id: {name}"))
    })?;
    let kind = schema.kind.name();
    let Some(condition) = f.get(kind).and_then(Value::as_object) else {
        let given = f
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "property").cloned())
            .unwrap_or_default();
        return Err(Refusal::validation(format!(
            "{path}: filter type `{given}` does not match property {name} of type {kind}."
        )));
    };
    let value = page
        .values
        .get(&schema.name)
        .cloned()
        .unwrap_or(Value::Null);
    let (op, operand) = condition.iter().next().ok_or_else(invalid)?;
    match schema.kind {
        PropKind::Status | PropKind::Select => {
            let current = value["name"].as_str();
            match op.as_str() {
                "equals" | "does_not_equal" => {
                    let wanted = operand.as_str().ok_or_else(invalid)?;
                    if schema.kind == PropKind::Status && schema.option(wanted).is_none() {
                        return Err(Refusal::validation(format!(
                            "Invalid status filter: no option \"{wanted}\" for property {name}."
                        )));
                    }
                    let eq = current == Some(wanted);
                    Ok(if op == "equals" { eq } else { !eq })
                }
                "is_empty" => Ok(current.is_none()),
                "is_not_empty" => Ok(current.is_some()),
                _ => Err(invalid()),
            }
        }
        PropKind::Title | PropKind::RichText | PropKind::Url => {
            let text = match &value {
                Value::String(s) => s.clone(),
                other => plain_text(other),
            };
            let arg = operand.as_str().unwrap_or_default();
            match op.as_str() {
                "equals" => Ok(text == arg),
                "does_not_equal" => Ok(text != arg),
                "contains" => Ok(text.contains(arg)),
                "does_not_contain" => Ok(!text.contains(arg)),
                "starts_with" => Ok(text.starts_with(arg)),
                "ends_with" => Ok(text.ends_with(arg)),
                "is_empty" => Ok(text.is_empty()),
                "is_not_empty" => Ok(!text.is_empty()),
                _ => Err(invalid()),
            }
        }
    }
}

fn date_condition(at: i128, condition: &Map<String, Value>, path: &str) -> Result<bool, Refusal> {
    let (op, operand) = condition
        .iter()
        .next()
        .ok_or_else(|| Refusal::validation(format!("{path}: empty date condition.")))?;
    let when = || {
        operand.as_str().and_then(parse_iso).ok_or_else(|| {
            Refusal::validation(format!(
                "{path}.{op} should be an ISO 8601 date, instead was `{operand}`."
            ))
        })
    };
    Ok(match op.as_str() {
        "after" => at > when()?,
        "on_or_after" => at >= when()?,
        "before" => at < when()?,
        "on_or_before" => at <= when()?,
        "equals" => at == when()?,
        "is_empty" => false,
        "is_not_empty" => true,
        _ => {
            return Err(Refusal::validation(format!(
                "{path}: unsupported date condition `{op}`."
            )));
        }
    })
}

fn update_page(
    state: &Arc<Shared>,
    inner: &mut Inner,
    id: &str,
    body: &Value,
    events: &mut Vec<Value>,
) -> Result<Answer, Refusal> {
    let i = inner
        .page_index(id)
        .filter(|&i| inner.pages[i].shared)
        .ok_or_else(|| Refusal::not_found("page", id))?;
    let mut changes = Vec::new();
    if let Some(properties) = body.get("properties") {
        let Some(properties) = properties.as_object() else {
            return Err(Refusal::validation(format!(
                "body.properties should be an object, instead was `{properties}`."
            )));
        };
        let db = inner.schema_of(&inner.pages[i]);
        for (key, value) in properties {
            let (name, stored) = validate::property_write(db, key, value)?;
            let prop_id = db.prop(&name).map(|p| p.id.clone()).unwrap_or_default();
            changes.push((name, stored, prop_id));
        }
    }
    let bot = state.bot.id.clone();
    let page_id = inner.pages[i].id.clone();
    if !changes.is_empty() {
        let ids: Vec<String> = changes.iter().map(|(_, _, id)| id.clone()).collect();
        apply(inner, i, changes, &bot);
        inner.writes.push(PropertyWrite {
            page_id: page_id.clone(),
            by: bot.clone(),
            properties: body["properties"].clone(),
            at: Instant::now(),
        });
        if inner.webhook.is_some() {
            events.push(state.properties_updated_event(inner, &page_id, &bot, true, &ids));
        }
    }
    ok(inner.page_json(&inner.pages[i]))
}

/// Stores property values on page `i`, edited by `by` now.
pub(super) fn apply(inner: &mut Inner, i: usize, changes: Vec<(String, Value, String)>, by: &str) {
    let (time, ms) = now_minute();
    let page = &mut inner.pages[i];
    for (name, value, _) in changes {
        page.values.insert(name, value);
    }
    page.last_edited_time = time;
    page.last_edited_ms = ms;
    page.last_edited_by = by.to_owned();
}

fn block_children(inner: &Inner, id: &str, query: &Value) -> Result<Answer, Refusal> {
    let page_size = validate::page_size("query.page_size", query.get("page_size"))?;
    let (page_id, children) = inner
        .children_of(id)
        .ok_or_else(|| Refusal::not_found("block", id))?;
    if !inner.page(&page_id).is_some_and(|p| p.shared) || inner.hidden.contains(&normalize(id)) {
        return Err(Refusal::not_found("block", id));
    }
    let items = children
        .iter()
        .filter_map(|b| inner.blocks.get(&normalize(b)))
        .map(|b| (b.id.clone(), b.json()))
        .collect();
    ok(paginate(
        items,
        query["start_cursor"].as_str(),
        page_size,
        "block",
    )?)
}

fn append_children(
    state: &Arc<Shared>,
    inner: &mut Inner,
    id: &str,
    body: &Value,
) -> Result<Answer, Refusal> {
    let (page_id, _) = inner
        .children_of(id)
        .ok_or_else(|| Refusal::not_found("block", id))?;
    if !inner.page(&page_id).is_some_and(|p| p.shared) {
        return Err(Refusal::not_found("block", id));
    }
    let Some(children) = body.get("children") else {
        return Err(Refusal::validation(
            "body failed validation: body.children should be defined, instead was `undefined`.",
        ));
    };
    validate::children("body.children", children)?;
    let bot = state.bot.id.clone();
    let added = insert_blocks(inner, &page_id, id, children, &bot);
    let results: Vec<Value> = added
        .iter()
        .filter_map(|b| inner.blocks.get(&normalize(b)))
        .map(Block::json)
        .collect();
    ok(json!({
        "object": "list",
        "results": results,
        "next_cursor": null,
        "has_more": false,
        "type": "block",
        "block": {},
        "request_id": new_id(),
    }))
}

/// Adds blocks (as sent in `children`) under `parent` (a page or block id) of page
/// `page_id`; returns the new top-level ids.
pub(super) fn insert_blocks(
    inner: &mut Inner,
    page_id: &str,
    parent: &str,
    children: &Value,
    by: &str,
) -> Vec<String> {
    let (time, _) = now_minute();
    let parent_is_page = normalize(parent) == normalize(page_id);
    let parent_json = if parent_is_page {
        json!({"type": "page_id", "page_id": page_id})
    } else {
        let parent_id = inner
            .blocks
            .get(&normalize(parent))
            .map(|b| b.id.clone())
            .unwrap_or_else(|| parent.to_owned());
        json!({"type": "block_id", "block_id": parent_id})
    };
    let mut ids = Vec::new();
    for block in children.as_array().into_iter().flatten() {
        let kind = block["type"]
            .as_str()
            .or_else(|| {
                block.as_object().and_then(|o| {
                    o.keys()
                        .find(|k| validate::BLOCK_TYPES.contains(&k.as_str()))
                        .map(String::as_str)
                })
            })
            .unwrap_or("paragraph")
            .to_owned();
        let mut content = block[kind.as_str()].clone();
        let nested = content.as_object_mut().and_then(|o| o.remove("children"));
        if let Some(rich) = content.get("rich_text").cloned() {
            content["rich_text"] = render_rich_text(&rich);
        }
        if content.get("color").is_none() && kind != "divider" {
            content["color"] = json!("default");
        }
        let id = new_id();
        inner.blocks.insert(
            normalize(&id),
            Block {
                id: id.clone(),
                parent: parent_json.clone(),
                page_id: page_id.to_owned(),
                kind,
                content,
                children: Vec::new(),
                created_time: time.clone(),
                created_by: by.to_owned(),
            },
        );
        if let Some(nested) = nested {
            let nested_ids = insert_blocks(inner, page_id, &id, &nested, by);
            if let Some(b) = inner.blocks.get_mut(&normalize(&id)) {
                b.children = nested_ids;
            }
        }
        ids.push(id);
    }
    if parent_is_page {
        if let Some(i) = inner.page_index(page_id) {
            inner.pages[i].blocks.extend(ids.iter().cloned());
        }
    } else if let Some(b) = inner.blocks.get_mut(&normalize(parent)) {
        b.children.extend(ids.iter().cloned());
    }
    ids
}

fn create_comment(
    state: &Arc<Shared>,
    inner: &mut Inner,
    body: &Value,
    events: &mut Vec<Value>,
) -> Result<Answer, Refusal> {
    let rich = body.get("rich_text").ok_or_else(|| {
        Refusal::validation(
            "body failed validation: body.rich_text should be defined, instead was `undefined`.",
        )
    })?;
    validate::rich_text("body.rich_text", rich)?;
    let (page_id, discussion_id) = if let Some(discussion) = body["discussion_id"].as_str() {
        let found = inner
            .comments
            .iter()
            .find(|c| normalize(&c.discussion_id) == normalize(discussion))
            .map(|c| (c.page_id.clone(), c.discussion_id.clone()));
        let (page_id, discussion_id) =
            found.ok_or_else(|| Refusal::not_found("discussion", discussion))?;
        if !inner.page(&page_id).is_some_and(|p| p.shared) {
            return Err(Refusal::not_found("discussion", discussion));
        }
        (page_id, discussion_id)
    } else if let Some(page) = body["parent"]["page_id"].as_str() {
        let page = inner
            .page(page)
            .filter(|p| p.shared)
            .ok_or_else(|| Refusal::not_found("page", page))?;
        (page.id.clone(), new_id())
    } else {
        return Err(Refusal::validation(
            "body failed validation. Fix one:\nbody.parent should be defined, instead was \
             `undefined`.\nbody.discussion_id should be defined, instead was `undefined`.",
        ));
    };
    let bot = state.bot.id.clone();
    let comment = add_comment(inner, &page_id, &discussion_id, &bot, rich);
    // Notion tells the subscription about the integration's own comments too.
    if inner.webhook.is_some() {
        events.push(state.comment_created_event(inner, &comment.id, &page_id, &bot, true));
    }
    ok(comment_json(&comment))
}

/// Records a comment; returns it.
pub(super) fn add_comment(
    inner: &mut Inner,
    page_id: &str,
    discussion_id: &str,
    author: &str,
    rich: &Value,
) -> NotionComment {
    let rendered = render_rich_text(rich);
    let comment = NotionComment {
        id: new_id(),
        page_id: page_id.to_owned(),
        discussion_id: discussion_id.to_owned(),
        author: author.to_owned(),
        text: plain_text(&rendered),
        rich_text: rendered,
        created_time: now_minute().0,
    };
    inner.comments.push(comment.clone());
    comment
}

pub(super) fn comment_json(c: &NotionComment) -> Value {
    json!({
        "object": "comment",
        "id": c.id,
        "parent": {"type": "page_id", "page_id": c.page_id},
        "discussion_id": c.discussion_id,
        "created_time": c.created_time,
        "last_edited_time": c.created_time,
        "created_by": {"object": "user", "id": c.author},
        "rich_text": c.rich_text,
        "display_name": {"type": "integration", "resolved_name": null},
    })
}

fn list_comments(inner: &Inner, query: &Value) -> Result<Answer, Refusal> {
    let Some(block_id) = query["block_id"].as_str() else {
        return Err(Refusal::validation(
            "query failed validation: query.block_id should be defined, instead was `undefined`.",
        ));
    };
    let page_size = validate::page_size("query.page_size", query.get("page_size"))?;
    // A page's comments; a block of a shared page has none (the fake comments on pages).
    let (page_id, _) = inner
        .children_of(block_id)
        .ok_or_else(|| Refusal::not_found("block", block_id))?;
    if !inner.page(&page_id).is_some_and(|p| p.shared) {
        return Err(Refusal::not_found("block", block_id));
    }
    let on_page = normalize(&page_id) == normalize(block_id);
    let items = inner
        .comments
        .iter()
        .filter(|c| on_page && c.page_id == page_id)
        .map(|c| (c.id.clone(), comment_json(c)))
        .collect();
    ok(paginate(
        items,
        query["start_cursor"].as_str(),
        page_size,
        "comment",
    )?)
}
