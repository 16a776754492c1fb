//! Notion's request limits and the validation of what lucid sends, with Notion's error
//! messages (`body failed validation: …`-style paths).
//!
//! From developers.notion.com/reference/request-limits: any rich text `text.content`
//! and any `text.link.url` at most 2000 characters, any URL at most 2000 characters,
//! arrays of rich text, blocks (`children`) and similar at most 100 elements, at most
//! 1000 block elements and 500 KB per request, and `page_size` at most 100.

use super::state::{Database, PropKind, PropSchema};
use serde_json::{Value, json};

pub(super) const MAX_TEXT: usize = 2000;
pub(super) const MAX_URL: usize = 2000;
pub(super) const MAX_ARRAY: usize = 100;
pub(super) const MAX_BLOCKS_PER_REQUEST: usize = 1000;
pub(super) const MAX_BODY_BYTES: usize = 500 * 1000;
pub(super) const MAX_PAGE_SIZE: u64 = 100;

/// The block types the fake serves (and accepts in `children`).
pub(super) const BLOCK_TYPES: &[&str] = &[
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "code",
    "toggle",
    "quote",
    "callout",
    "divider",
];

/// A refusal: HTTP status, Notion's `code`, message.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn validation(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            code: "validation_error",
            message: message.into(),
        }
    }

    pub(super) fn not_found(kind: &str, id: &str) -> Refusal {
        Refusal {
            status: 404,
            code: "object_not_found",
            message: format!(
                "Could not find {kind} with ID: {id}. Make sure the relevant pages and \
                 databases are shared with your integration."
            ),
        }
    }

    pub(super) fn body(&self) -> Value {
        json!({
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": super::state::new_id(),
        })
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A rich text array at `path` (e.g. `body.rich_text`): at most 100 items, each
/// `text.content` at most 2000 characters, each link at most 2000.
pub(super) fn rich_text(path: &str, value: &Value) -> Result<(), Refusal> {
    let Some(items) = value.as_array() else {
        return Err(Refusal::validation(format!(
            "{path} should be an array, instead was `{value}`."
        )));
    };
    if items.len() > MAX_ARRAY {
        return Err(Refusal::validation(format!(
            "{path}.length should be ≤ `{MAX_ARRAY}`, instead was `{}`.",
            items.len()
        )));
    }
    for (i, item) in items.iter().enumerate() {
        let kind = item["type"].as_str().unwrap_or("text");
        match kind {
            "text" => {
                let Some(content) = item["text"]["content"].as_str() else {
                    return Err(Refusal::validation(format!(
                        "{path}[{i}].text.content should be defined, instead was `undefined`."
                    )));
                };
                if chars(content) > MAX_TEXT {
                    return Err(Refusal::validation(format!(
                        "{path}[{i}].text.content.length should be ≤ `{MAX_TEXT}`, instead was `{}`.",
                        chars(content)
                    )));
                }
                if let Some(url) = item["text"]["link"]["url"].as_str()
                    && chars(url) > MAX_URL
                {
                    return Err(Refusal::validation(format!(
                        "{path}[{i}].text.link.url.length should be ≤ `{MAX_URL}`, instead was `{}`.",
                        chars(url)
                    )));
                }
            }
            "mention" | "equation" => {}
            other => {
                return Err(Refusal::validation(format!(
                    "{path}[{i}].type should be `text`, `mention` or `equation`, instead was `\"{other}\"`."
                )));
            }
        }
    }
    Ok(())
}

/// A `page_size`: 1 to 100.
pub(super) fn page_size(path: &str, value: Option<&Value>) -> Result<usize, Refusal> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(MAX_PAGE_SIZE as usize);
    };
    let n = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
    match n {
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n as usize),
        Some(n) if n > MAX_PAGE_SIZE => Err(Refusal::validation(format!(
            "{path} should be ≤ `{MAX_PAGE_SIZE}`, instead was `{n}`."
        ))),
        _ => Err(Refusal::validation(format!(
            "{path} should be a number between 1 and 100, instead was `{value}`."
        ))),
    }
}

/// A `children` array of blocks to append: at most 100 per array, at most 1000 in
/// all, nested at most two levels, each of a known type with valid rich text.
pub(super) fn children(path: &str, value: &Value) -> Result<(), Refusal> {
    let mut total = 0;
    blocks(path, value, 1, &mut total)
}

fn blocks(path: &str, value: &Value, depth: usize, total: &mut usize) -> Result<(), Refusal> {
    let Some(items) = value.as_array() else {
        return Err(Refusal::validation(format!(
            "{path} should be an array, instead was `{value}`."
        )));
    };
    if items.len() > MAX_ARRAY {
        return Err(Refusal::validation(format!(
            "{path}.length should be ≤ `{MAX_ARRAY}`, instead was `{}`.",
            items.len()
        )));
    }
    if depth > 3 {
        return Err(Refusal::validation(format!(
            "{path} is nested too deep: a request may nest children at most two levels."
        )));
    }
    for (i, block) in items.iter().enumerate() {
        *total += 1;
        if *total > MAX_BLOCKS_PER_REQUEST {
            return Err(Refusal::validation(format!(
                "The request has more than {MAX_BLOCKS_PER_REQUEST} block elements."
            )));
        }
        let here = format!("{path}[{i}]");
        let kind = block["type"]
            .as_str()
            .or_else(|| {
                block
                    .as_object()
                    .and_then(|o| o.keys().find(|k| BLOCK_TYPES.contains(&k.as_str())))
                    .map(String::as_str)
            })
            .unwrap_or_default();
        if !BLOCK_TYPES.contains(&kind) {
            return Err(Refusal::validation(format!(
                "{here}.type should be a supported block type, instead was `{}`.",
                block["type"]
            )));
        }
        let content = &block[kind];
        if !content.is_object() {
            return Err(Refusal::validation(format!(
                "{here}.{kind} should be an object, instead was `{content}`."
            )));
        }
        if kind != "divider" {
            rich_text(&format!("{here}.{kind}.rich_text"), &content["rich_text"])?;
        }
        if let Some(nested) = content.get("children") {
            blocks(&format!("{here}.{kind}.children"), nested, depth + 1, total)?;
        }
    }
    Ok(())
}

/// One property value in a page update, against its schema; returns the value part
/// to store (`status`'s option, `title`'s rendered rich text, …).
pub(super) fn property_write(
    db: &Database,
    key: &str,
    value: &Value,
) -> Result<(String, Value), Refusal> {
    let Some(schema) = db.prop(key) else {
        return Err(Refusal::validation(format!(
            "{key} is not a property that exists."
        )));
    };
    let path = format!("body.properties.{key}");
    let type_name = schema.kind.name();
    let Some(object) = value.as_object() else {
        return Err(Refusal::validation(format!(
            "{path} should be an object, instead was `{value}`."
        )));
    };
    // The value is keyed by its type; any other type's key is a mismatch.
    let given = object
        .keys()
        .find(|k| *k != "type" && *k != "id")
        .cloned()
        .unwrap_or_default();
    if given != type_name || object.get("type").is_some_and(|t| t != type_name) {
        return Err(Refusal::validation(format!(
            "{} is expected to be {type_name}.",
            schema.name
        )));
    }
    let inner = &value[type_name];
    let stored = match schema.kind {
        PropKind::Title | PropKind::RichText => {
            rich_text(&format!("{path}.{type_name}"), inner)?;
            super::state::render_rich_text(inner)
        }
        PropKind::Url => match inner {
            Value::Null => Value::Null,
            Value::String(url) if chars(url) <= MAX_URL => inner.clone(),
            Value::String(url) => {
                return Err(Refusal::validation(format!(
                    "{path}.url.length should be ≤ `{MAX_URL}`, instead was `{}`.",
                    chars(url)
                )));
            }
            _ => {
                return Err(Refusal::validation(format!(
                    "{path}.url should be a string or `null`, instead was `{inner}`."
                )));
            }
        },
        PropKind::Status => option(schema, &path, inner, false)?,
        PropKind::Select => option(schema, &path, inner, true)?,
    };
    Ok((schema.name.clone(), stored))
}

/// A status or select value `{"name": …}` or `{"id": …}` (or null for select).
fn option(schema: &PropSchema, path: &str, inner: &Value, select: bool) -> Result<Value, Refusal> {
    let kind = schema.kind.name();
    if inner.is_null() {
        return Ok(Value::Null);
    }
    let found = if let Some(name) = inner["name"].as_str() {
        match schema.option(name) {
            Some(o) => o.json(),
            // A select takes a new option name (Notion adds it); a status does not.
            None if select => {
                json!({"id": super::state::new_id(), "name": name, "color": "default"})
            }
            None => {
                return Err(Refusal::validation(format!(
                    "Invalid status option. Status option \"{name}\" does not exist for property \"{}\".",
                    schema.name
                )));
            }
        }
    } else if let Some(id) = inner["id"].as_str() {
        match schema.options.iter().find(|o| o.id == id) {
            Some(o) => o.json(),
            None => {
                return Err(Refusal::validation(format!(
                    "{path}.{kind}.id: option with id `{id}` does not exist for property \"{}\".",
                    schema.name
                )));
            }
        }
    } else {
        return Err(Refusal::validation(format!(
            "{path}.{kind}.name should be defined, instead was `undefined`."
        )));
    };
    Ok(found)
}
