//! Discord's refusals (API v10): message bodies (content, embeds, components,
//! allowed mentions, flags), application commands, thread bodies. Limits from the
//! docs: 2000 characters of content; 10 embeds of at most 6000 characters together
//! (title 256, description 4096, 25 fields of name 256 / value 1024, footer 2048,
//! author 256); 5 action rows of at most 5 buttons (label 80, custom_id 100, unique in
//! the message); command and option names 1–32 lowercase, descriptions 1–100, 25
//! options, 25 choices.

use serde_json::{Map, Value, json};

/// A refusal in Discord's shape: `{"code", "message", "errors"?}`.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) code: i64,
    pub(super) message: String,
    pub(super) errors: Option<Value>,
}

impl ApiError {
    pub(super) fn new(status: u16, code: i64, message: &str) -> ApiError {
        ApiError {
            status,
            code,
            message: message.to_owned(),
            errors: None,
        }
    }

    pub(super) fn body(&self) -> Value {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(errors) = &self.errors {
            body["errors"] = errors.clone();
        }
        body
    }

    pub(super) fn unknown_channel() -> ApiError {
        ApiError::new(404, 10003, "Unknown Channel")
    }

    pub(super) fn unknown_message() -> ApiError {
        ApiError::new(404, 10008, "Unknown Message")
    }

    pub(super) fn empty_message() -> ApiError {
        ApiError::new(400, 50006, "Cannot send an empty message")
    }
}

/// Form errors gathered while checking a body: (path, code, message).
#[derive(Default)]
pub(super) struct FormErrors(Vec<(Vec<String>, String, String)>);

impl FormErrors {
    pub(super) fn add(&mut self, path: &[&str], code: &str, message: impl Into<String>) {
        self.0.push((
            path.iter().map(|s| (*s).to_owned()).collect(),
            code.to_owned(),
            message.into(),
        ));
    }

    fn add_owned(&mut self, path: Vec<String>, code: &str, message: impl Into<String>) {
        self.0.push((path, code.to_owned(), message.into()));
    }

    /// 400 50035 "Invalid Form Body" with the nested `errors` object.
    pub(super) fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut errors = Value::Object(Map::new());
        for (path, code, message) in self.0 {
            let mut node = &mut errors;
            for key in &path {
                node = node
                    .as_object_mut()
                    .expect("object")
                    .entry(key.clone())
                    .or_insert_with(|| json!({}));
            }
            let list = node
                .as_object_mut()
                .expect("object")
                .entry("_errors")
                .or_insert_with(|| json!([]));
            list.as_array_mut()
                .expect("array")
                .push(json!({"code": code, "message": message}));
        }
        Err(ApiError {
            status: 400,
            code: 50035,
            message: "Invalid Form Body".into(),
            errors: Some(errors),
        })
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn max_length(errors: &mut FormErrors, path: &[&str], v: &Value, max: usize) {
    if !v.is_null() && !v.is_string() {
        errors.add(path, "BASE_TYPE_STRING", "Must be a string.");
    } else if chars(v) > max {
        errors.add(
            path,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        );
    }
}

/// Where a message body comes from: flags allowed differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// `POST /channels/{id}/messages`.
    Create,
    /// `PATCH …/messages/{id}` (bot or webhook).
    Edit,
    /// Interaction response data (types 4, 7) or a follow-up: EPHEMERAL allowed.
    Interaction,
}

/// Checks a message body; `Err` is Discord's refusal.
pub(super) fn message_body(body: &Value, kind: BodyKind) -> Result<(), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::new(
            400,
            50109,
            "The request body contains invalid JSON.",
        ));
    };
    let mut errors = FormErrors::default();
    let content = object.get("content").unwrap_or(&Value::Null);
    max_length(&mut errors, &["content"], content, 2000);
    let embeds = object.get("embeds").unwrap_or(&Value::Null);
    let embeds_list = embeds.as_array().cloned().unwrap_or_default();
    if !embeds.is_null() && !embeds.is_array() {
        errors.add(&["embeds"], "BASE_TYPE_ARRAY", "Must be an array.");
    }
    if embeds_list.len() > 10 {
        errors.add(
            &["embeds"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        );
    }
    let mut total = 0;
    for (i, embed) in embeds_list.iter().enumerate() {
        let i = i.to_string();
        total += embed_text(&mut errors, &i, embed);
    }
    if total > 6000 {
        errors.add(
            &["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        );
    }
    let components = object.get("components").unwrap_or(&Value::Null);
    let flags = object.get("flags").and_then(Value::as_u64).unwrap_or(0);
    components_check(&mut errors, components, flags);
    if let Some(allowed) = object.get("allowed_mentions").filter(|v| !v.is_null()) {
        allowed_mentions(&mut errors, allowed);
    }
    if let Some(flags) = object.get("flags").filter(|v| !v.is_null()) {
        // SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2; EPHEMERAL for
        // interaction responses and follow-ups.
        let mut allowed = 4 | 4096 | 32768;
        if kind == BodyKind::Interaction {
            allowed |= 64;
        }
        match flags.as_u64() {
            Some(f) if f & !allowed == 0 => {}
            _ => errors.add(&["flags"], "MESSAGE_FLAGS_INVALID", "Invalid flags"),
        }
    }
    if let Some(tts) = object.get("tts").filter(|v| !v.is_null())
        && !tts.is_boolean()
    {
        errors.add(
            &["tts"],
            "BASE_TYPE_BOOLEAN",
            "Must be either true or false.",
        );
    }
    if let Some(reference) = object.get("message_reference").filter(|v| !v.is_null()) {
        if kind == BodyKind::Edit {
            // Ignored on edits by Discord; nothing to check.
        } else if reference["message_id"]
            .as_str()
            .is_none_or(|s| s.parse::<u64>().is_err())
        {
            errors.add(
                &["message_reference", "message_id"],
                "NUMBER_TYPE_COERCE",
                "Value is not snowflake.",
            );
        }
    }
    errors.into_result()?;
    if kind != BodyKind::Edit {
        let has_content = content.as_str().is_some_and(|s| !s.is_empty());
        let has_stickers = object
            .get("sticker_ids")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let has_components = components.as_array().is_some_and(|a| !a.is_empty());
        if !has_content && embeds_list.is_empty() && !has_components && !has_stickers {
            return Err(ApiError::empty_message());
        }
    }
    Ok(())
}

/// Checks one embed's limits and returns its characters towards the 6000.
fn embed_text(errors: &mut FormErrors, i: &str, embed: &Value) -> usize {
    if !embed.is_object() {
        errors.add(
            &["embeds", i],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
        return 0;
    }
    let mut total = 0;
    for (field, max) in [("title", 256), ("description", 4096)] {
        let v = &embed[field];
        max_length(errors, &["embeds", i, field], v, max);
        total += chars(v);
    }
    max_length(
        errors,
        &["embeds", i, "footer", "text"],
        &embed["footer"]["text"],
        2048,
    );
    total += chars(&embed["footer"]["text"]);
    max_length(
        errors,
        &["embeds", i, "author", "name"],
        &embed["author"]["name"],
        256,
    );
    total += chars(&embed["author"]["name"]);
    if let Some(fields) = embed["fields"].as_array() {
        if fields.len() > 25 {
            errors.add(
                &["embeds", i, "fields"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            );
        }
        for (j, field) in fields.iter().enumerate() {
            let j = j.to_string();
            for (key, max) in [("name", 256), ("value", 1024)] {
                let v = &field[key];
                if v.as_str().is_none_or(str::is_empty) {
                    errors.add(
                        &["embeds", i, "fields", &j, key],
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    );
                } else {
                    max_length(errors, &["embeds", i, "fields", &j, key], v, max);
                }
                total += chars(v);
            }
        }
    }
    total
}

fn components_check(errors: &mut FormErrors, components: &Value, flags: u64) {
    if components.is_null() {
        return;
    }
    let Some(rows) = components.as_array() else {
        errors.add(&["components"], "BASE_TYPE_ARRAY", "Must be an array.");
        return;
    };
    if flags & 32768 != 0 {
        // Components V2 layouts: not modelled; only the count Discord caps.
        if rows.len() > 40 {
            errors.add(
                &["components"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 40 or fewer in length.",
            );
        }
        return;
    }
    if rows.len() > 5 {
        errors.add(
            &["components"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        );
    }
    // Every component's custom_id is unique in its message.
    let mut custom_ids = std::collections::HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let i = i.to_string();
        if row["type"].as_u64() != Some(1) {
            errors.add(
                &["components", &i],
                "UNION_TYPE_CHOICES",
                format!("Value of field \"type\" must be one of ({}).", 1),
            );
            continue;
        }
        let children = row["components"].as_array().cloned().unwrap_or_default();
        if children.is_empty() {
            errors.add(
                &["components", &i, "components"],
                "BASE_TYPE_MIN_LENGTH",
                "Must be 1 or more in length.",
            );
        }
        if children.len() > 5 {
            errors.add(
                &["components", &i, "components"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            );
        }
        let selects = children
            .iter()
            .filter(|c| matches!(c["type"].as_u64(), Some(3 | 5..=8)))
            .count();
        if selects > 0 && children.len() > 1 {
            errors.add(
                &["components", &i, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            );
        }
        for (j, child) in children.iter().enumerate() {
            let path: Vec<String> = ["components", &i, "components", &j.to_string()]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            if let Some(custom_id) = child["custom_id"].as_str()
                && !custom_id.is_empty()
                && !custom_ids.insert(custom_id.to_owned())
            {
                let mut at = path.clone();
                at.push("custom_id".to_owned());
                errors.add_owned(
                    at,
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id was already specified",
                );
            }
            component(errors, path, child);
        }
    }
}

fn component(errors: &mut FormErrors, path: Vec<String>, c: &Value) {
    let at = |key: &str| {
        let mut p = path.clone();
        p.push(key.to_owned());
        p
    };
    match c["type"].as_u64() {
        Some(2) => {
            let style = c["style"].as_u64().unwrap_or(0);
            let custom_id = &c["custom_id"];
            let url = &c["url"];
            match style {
                1..=4 => {
                    if custom_id.as_str().is_none_or(str::is_empty) {
                        errors.add_owned(
                            at("custom_id"),
                            "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                            "A custom id is required",
                        );
                    } else if chars(custom_id) > 100 {
                        errors.add_owned(
                            at("custom_id"),
                            "BASE_TYPE_MAX_LENGTH",
                            "Must be 100 or fewer in length.",
                        );
                    }
                    if !url.is_null() {
                        errors.add_owned(
                            at("url"),
                            "BUTTON_COMPONENT_INVALID_URL",
                            "A url cannot be specified for a non-link button",
                        );
                    }
                }
                5 => {
                    if url.as_str().is_none_or(|u| {
                        !(u.starts_with("https://")
                            || u.starts_with("http://")
                            || u.starts_with("discord://"))
                    }) {
                        errors.add_owned(
                            at("url"),
                            "BUTTON_COMPONENT_URL_REQUIRED",
                            "A url is required",
                        );
                    } else if chars(url) > 512 {
                        errors.add_owned(
                            at("url"),
                            "BASE_TYPE_MAX_LENGTH",
                            "Must be 512 or fewer in length.",
                        );
                    }
                    if !custom_id.is_null() {
                        errors.add_owned(
                            at("custom_id"),
                            "BUTTON_COMPONENT_CUSTOM_ID_INVALID",
                            "A custom id cannot be specified for a link button",
                        );
                    }
                }
                6 => {
                    if c["sku_id"].as_str().is_none() {
                        errors.add_owned(
                            at("sku_id"),
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        );
                    }
                }
                _ => errors.add_owned(
                    at("style"),
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 2, 3, 4, 5, 6}.",
                ),
            }
            if chars(&c["label"]) > 80 {
                errors.add_owned(
                    at("label"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 80 or fewer in length.",
                );
            }
            if style != 6 && c["label"].as_str().is_none_or(str::is_empty) && c["emoji"].is_null() {
                errors.add_owned(
                    at("label"),
                    "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED",
                    "A label or emoji is required",
                );
            }
        }
        Some(3 | 5..=8) => {
            if c["custom_id"].as_str().is_none_or(str::is_empty) {
                errors.add_owned(
                    at("custom_id"),
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                );
            } else if chars(&c["custom_id"]) > 100 {
                errors.add_owned(
                    at("custom_id"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                );
            }
            if c["type"].as_u64() == Some(3) {
                let n = c["options"].as_array().map_or(0, Vec::len);
                if n == 0 || n > 25 {
                    errors.add_owned(
                        at("options"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 25 in length.",
                    );
                }
            }
            if chars(&c["placeholder"]) > 150 {
                errors.add_owned(
                    at("placeholder"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 150 or fewer in length.",
                );
            }
        }
        _ => errors.add_owned(
            at("type"),
            "UNION_TYPE_CHOICES",
            "Value of field \"type\" must be one of (2, 3, 5, 6, 7, 8).",
        ),
    }
}

fn allowed_mentions(errors: &mut FormErrors, allowed: &Value) {
    let Some(object) = allowed.as_object() else {
        errors.add(
            &["allowed_mentions"],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
        return;
    };
    let parse: Vec<&str> = object
        .get("parse")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for p in &parse {
        if !["roles", "users", "everyone"].contains(p) {
            errors.add(
                &["allowed_mentions", "parse"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {'roles', 'users', 'everyone'}.",
            );
        }
    }
    for (key, kind) in [("users", "users"), ("roles", "roles")] {
        if let Some(list) = object.get(key).and_then(Value::as_array) {
            if list.len() > 100 {
                errors.add(
                    &["allowed_mentions", key],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                );
            }
            if parse.contains(&kind) && !list.is_empty() {
                errors.add(
                    &["allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    format!("parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive."),
                );
            }
        }
    }
}

/// Name rule of chat-input commands and options: 1–32 of `-`, `_`, letters, digits,
/// Devanagari, Thai; lowercase where a letter has a lowercase form.
fn valid_command_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name.chars().all(|c| {
            c == '-'
                || c == '_'
                || c.is_alphanumeric()
                || ('\u{0900}'..='\u{097F}').contains(&c)
                || ('\u{0E00}'..='\u{0E7F}').contains(&c)
        })
        && name
            .chars()
            .all(|c| c.to_lowercase().eq(std::iter::once(c)))
}

/// Checks a bulk overwrite body (an array of commands).
pub(super) fn commands(body: &Value) -> Result<(), ApiError> {
    let Some(list) = body.as_array() else {
        let mut errors = FormErrors::default();
        errors.add(&[], "BASE_TYPE_ARRAY", "Must be an array.");
        return errors.into_result();
    };
    let mut errors = FormErrors::default();
    if list.len() > 110 {
        errors.add(
            &[],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 110 or fewer in length.",
        );
    }
    let mut seen = Vec::new();
    let mut per_type = [0usize; 4];
    for (i, command) in list.iter().enumerate() {
        let i = i.to_string();
        let kind = command["type"].as_u64().unwrap_or(1);
        let name = command["name"].as_str().unwrap_or_default();
        if !(1..=3).contains(&kind) && kind != 4 {
            errors.add(
                &[&i, "type"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 2, 3, 4}.",
            );
        }
        per_type[(kind.min(3)) as usize] += 1;
        if seen.contains(&(kind, name.to_owned())) {
            errors.add(
                &[&i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                format!("Application command names must be unique ({name})"),
            );
        }
        seen.push((kind, name.to_owned()));
        if kind == 1 {
            if !valid_command_name(name) {
                errors.add(
                    &[&i, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    format!("Command name is invalid ({name})"),
                );
            }
            let d = chars(&command["description"]);
            if !(1..=100).contains(&d) {
                errors.add(
                    &[&i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                );
            }
            options(&mut errors, vec![i.clone()], &command["options"], 0);
            if total_chars(command) > 4000 {
                errors.add(
                    &[&i],
                    "APPLICATION_COMMAND_TOO_LARGE",
                    "Command exceeds maximum size (4000)",
                );
            }
        } else {
            let n = name.chars().count();
            if !(1..=32).contains(&n) {
                errors.add(
                    &[&i, "name"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 32 in length.",
                );
            }
            if command["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
            {
                errors.add(
                    &[&i, "description"],
                    "APPLICATION_COMMAND_DESCRIPTION_NOT_EMPTY",
                    "Description must be empty for this command type",
                );
            }
            if command["options"].as_array().is_some_and(|o| !o.is_empty()) {
                errors.add(
                    &[&i, "options"],
                    "APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED",
                    "Options are not allowed for this command type",
                );
            }
        }
        if let Some(p) = command
            .get("default_member_permissions")
            .filter(|v| !v.is_null())
            && p.as_str().is_none_or(|s| s.parse::<u64>().is_err())
        {
            errors.add(
                &[&i, "default_member_permissions"],
                "NUMBER_TYPE_COERCE",
                "Value is not a valid integer.",
            );
        }
    }
    if per_type[1] > 100 || per_type[2] > 5 || per_type[3] > 5 {
        return Err(ApiError::new(
            400,
            30032,
            "Maximum number of application commands reached",
        ));
    }
    errors.into_result()
}

fn total_chars(command: &Value) -> usize {
    let mut n = chars(&command["name"]) + chars(&command["description"]);
    if let Some(options) = command["options"].as_array() {
        for o in options {
            n += total_chars(o);
            if let Some(choices) = o["choices"].as_array() {
                for c in choices {
                    n += chars(&c["name"])
                        + c["value"]
                            .as_str()
                            .map_or_else(|| c["value"].to_string().len(), |s| s.chars().count());
                }
            }
        }
    }
    n
}

fn options(errors: &mut FormErrors, path: Vec<String>, value: &Value, depth: usize) {
    if value.is_null() {
        return;
    }
    let mut at = path.clone();
    at.push("options".into());
    let Some(list) = value.as_array() else {
        errors.add_owned(at, "BASE_TYPE_ARRAY", "Must be an array.");
        return;
    };
    if list.len() > 25 {
        errors.add_owned(
            at.clone(),
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        );
    }
    let mut optional_seen = false;
    let mut names = Vec::new();
    for (j, option) in list.iter().enumerate() {
        let mut p = at.clone();
        p.push(j.to_string());
        let field = |key: &str| {
            let mut q = p.clone();
            q.push(key.to_owned());
            q
        };
        let kind = option["type"].as_u64().unwrap_or(0);
        if !(1..=11).contains(&kind) {
            errors.add_owned(
                field("type"),
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.",
            );
            continue;
        }
        let name = option["name"].as_str().unwrap_or_default();
        if !valid_command_name(name) {
            errors.add_owned(
                field("name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                format!("Command name is invalid ({name})"),
            );
        }
        if names.contains(&name) {
            errors.add_owned(
                field("name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            );
        }
        names.push(name);
        let d = chars(&option["description"]);
        if !(1..=100).contains(&d) {
            errors.add_owned(
                field("description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            );
        }
        let required = option["required"].as_bool().unwrap_or(false);
        if kind > 2 {
            if required && optional_seen {
                errors.add_owned(
                    field("required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                );
            }
            if !required {
                optional_seen = true;
            }
        }
        if let Some(choices) = option["choices"].as_array() {
            if !matches!(kind, 3 | 4 | 10) {
                errors.add_owned(
                    field("choices"),
                    "APPLICATION_COMMAND_OPTION_CHOICES_NOT_ALLOWED",
                    "Choices are not allowed for this option type",
                );
            }
            if choices.len() > 25 {
                errors.add_owned(
                    field("choices"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                );
            }
            if option["autocomplete"].as_bool() == Some(true) && !choices.is_empty() {
                errors.add_owned(
                    field("autocomplete"),
                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be enabled with choices",
                );
            }
            for c in choices {
                let n = chars(&c["name"]);
                if !(1..=100).contains(&n) {
                    errors.add_owned(
                        field("choices"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    );
                }
                if kind == 3 && (c["value"].as_str().is_none() || chars(&c["value"]) > 100) {
                    errors.add_owned(
                        field("choices"),
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    );
                }
            }
        }
        for (key, min) in [("min_length", 0), ("max_length", 1)] {
            if let Some(v) = option.get(key).filter(|v| !v.is_null()) {
                if kind != 3 {
                    errors.add_owned(
                        field(key),
                        "APPLICATION_COMMAND_OPTION_LENGTH_NOT_ALLOWED",
                        "Lengths are only allowed for string options",
                    );
                } else if v.as_u64().is_none_or(|n| n < min || n > 6000) {
                    errors.add_owned(
                        field(key),
                        "NUMBER_TYPE_MAX",
                        format!("int value should be between {min} and 6000."),
                    );
                }
            }
        }
        if kind <= 2 {
            if depth >= 2 || (kind == 2 && depth >= 1) {
                errors.add_owned(
                    field("type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-commands nest at most two deep",
                );
            }
            options(errors, p.clone(), &option["options"], depth + 1);
        } else if option["options"].as_array().is_some_and(|o| !o.is_empty()) {
            errors.add_owned(
                field("options"),
                "APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED",
                "Only sub-commands have options",
            );
        }
    }
}

/// Checks a start-thread body.
pub(super) fn thread_body(body: &Value) -> Result<(), ApiError> {
    let mut errors = FormErrors::default();
    match body["name"].as_str() {
        None => errors.add(&["name"], "BASE_TYPE_REQUIRED", "This field is required"),
        Some(name) if !(1..=100).contains(&name.chars().count()) => errors.add(
            &["name"],
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ),
        Some(_) => {}
    }
    if let Some(d) = body.get("auto_archive_duration").filter(|v| !v.is_null())
        && !d
            .as_u64()
            .is_some_and(|d| [60, 1440, 4320, 10080].contains(&d))
    {
        errors.add(
            &["auto_archive_duration"],
            "BASE_TYPE_CHOICES",
            "Value must be one of {60, 1440, 4320, 10080}.",
        );
    }
    if let Some(r) = body.get("rate_limit_per_user").filter(|v| !v.is_null())
        && r.as_u64().is_none_or(|r| r > 21600)
    {
        errors.add(
            &["rate_limit_per_user"],
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 21600.",
        );
    }
    errors.into_result()
}
