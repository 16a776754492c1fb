//! Interactions: the payloads Discord POSTs to an app's endpoint (built by the test
//! through the fake, which remembers id and token), the initial response (lucid's HTTP
//! answer or `POST /interactions/{id}/{token}/callback`) and the interaction webhook
//! (`@original`, follow-ups, their edits), which the token opens for 15 minutes.

use super::records::{DiscordEphemeral, InteractionResponse, PostedVia};
use super::rest::dispatch_message;
use super::state::{self, Inner, Interaction, Shared};
use super::validate::{self, ApiError, BodyKind};
use axum::http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Discord waits this long for the initial response, then shows "The application did
/// not respond" and forgets the interaction.
pub(super) const RESPONSE_WINDOW: Duration = Duration::from_secs(3);

const EPHEMERAL: u64 = 64;
const LOADING: u64 = 128;

fn unknown_interaction() -> ApiError {
    ApiError::new(404, 10062, "Unknown interaction")
}

fn invalid_token() -> ApiError {
    ApiError::new(401, 50027, "Invalid Webhook Token")
}

fn unknown_webhook() -> ApiError {
    ApiError::new(404, 10015, "Unknown Webhook")
}

/// A new interaction's id and token, remembered with where it happened.
pub(super) fn register(
    inner: &mut Inner,
    kind: u64,
    guild: Option<&str>,
    channel: Option<&str>,
    user: Option<&str>,
    message: Option<&str>,
) -> (String, String) {
    let id = inner.next_id();
    // Real tokens are long opaque strings; this one is unique and URL-safe.
    let token = format!("aW50ZXJhY3Rpb246{id}OmZha2UtZGlzY29yZC10b2tlbg");
    inner.interaction_by_token.insert(token.clone(), id.clone());
    inner.interactions.insert(
        id.clone(),
        Interaction {
            id: id.clone(),
            token: token.clone(),
            kind,
            channel_id: channel.map(str::to_owned),
            guild_id: guild.map(str::to_owned),
            user_id: user.map(str::to_owned),
            message_id: message.map(str::to_owned),
            created: Instant::now(),
            responded: None,
            original: None,
            original_ephemeral: false,
        },
    );
    (id, token)
}

/// The fields every guild interaction carries (as in a recorded real button click).
#[allow(clippy::too_many_arguments)]
pub(super) fn guild_interaction(
    shared: &Shared,
    inner: &Inner,
    id: &str,
    token: &str,
    kind: u64,
    guild: &str,
    channel: &str,
    user: &str,
    data: Value,
) -> Value {
    let mut member = inner.member_json(user);
    member["user"] = inner.user_json(shared, user);
    member["permissions"] = json!("2248473465835073");
    member["unusual_dm_activity_until"] = Value::Null;
    let mut channel_json = inner.channels.get(channel).map_or_else(
        || json!({"id": channel, "type": 0, "guild_id": guild}),
        |c| inner.channel_json(c),
    );
    channel_json["permissions"] = json!("2248473465835073");
    json!({
        "app_permissions": "2248473465835073",
        "application_id": shared.bot.application_id,
        "attachment_size_limit": 10_485_760,
        "authorizing_integration_owners": {"0": guild},
        "channel": channel_json,
        "channel_id": channel,
        "context": 0,
        "data": data,
        "entitlement_sku_ids": [],
        "entitlements": [],
        "guild": {"features": [], "id": guild, "locale": "en-US"},
        "guild_id": guild,
        "guild_locale": "en-US",
        "id": id,
        "locale": "en-US",
        "member": member,
        "token": token,
        "type": kind,
        "version": 1,
    })
}

/// Records lucid's HTTP answer to a delivered interaction as its initial response.
pub(super) fn record_delivery(
    shared: &Shared,
    inner: &mut Inner,
    id: &str,
    status: u16,
    body: &Value,
    latency: Duration,
) {
    let Some(interaction) = inner.interactions.get(id) else {
        inner.flag(format!(
            "delivered interaction {id} the fake did not create"
        ));
        return;
    };
    let kind = interaction.kind;
    let already = interaction.responded.is_some();
    let mut response = InteractionResponse {
        interaction_id: id.to_owned(),
        interaction_type: kind,
        status,
        body: body.clone(),
        response_type: body["type"].as_u64(),
        latency,
        accepted: false,
        failure: None,
        via_callback_endpoint: false,
    };
    if latency > RESPONSE_WINDOW {
        response.failure = Some("The application did not respond".into());
    } else if !(200..300).contains(&status) {
        response.failure = Some(format!("The application did not respond (HTTP {status})"));
    } else if body.is_null() && already {
        // Answered through the callback endpoint already; the HTTP answer is empty.
        response.accepted = true;
    } else {
        match initial_response(shared, inner, id, body, latency) {
            Ok(_) => response.accepted = true,
            Err(e) => response.failure = Some(format!("{} {}", e.code, e.message)),
        }
    }
    if let Some(failure) = &response.failure {
        inner.flag(format!(
            "interaction {id} (type {kind}): {failure}; answer HTTP {status} {body} after {latency:?}"
        ));
    }
    inner.interaction_responses.push(response);
}

/// `POST /interactions/{id}/{token}/callback`.
pub(super) fn callback(
    shared: &Shared,
    inner: &mut Inner,
    id: &str,
    token: &str,
    body: &Value,
    with_response: bool,
    at: Instant,
) -> Result<Option<Value>, ApiError> {
    let interaction = inner
        .interactions
        .get(id)
        .filter(|i| i.token == token)
        .ok_or_else(unknown_interaction)?;
    let kind = interaction.kind;
    let latency = at.duration_since(interaction.created);
    let result = initial_response(shared, inner, id, body, latency);
    inner.interaction_responses.push(InteractionResponse {
        interaction_id: id.to_owned(),
        interaction_type: kind,
        status: if result.is_ok() { 200 } else { 400 },
        body: body.clone(),
        response_type: body["type"].as_u64(),
        latency,
        accepted: result.is_ok(),
        failure: result
            .as_ref()
            .err()
            .map(|e| format!("{} {}", e.code, e.message)),
        via_callback_endpoint: true,
    });
    let resource = result?;
    if !with_response {
        return Ok(None);
    }
    let interaction = &inner.interactions[id];
    let message = resource.as_ref();
    Ok(Some(json!({
        "interaction": {
            "id": id,
            "type": kind,
            "activity_instance_id": null,
            "response_message_id": message.map(|m| m["id"].clone()),
            "response_message_loading": message.is_some_and(|m| m["flags"].as_u64().unwrap_or(0) & LOADING != 0),
            "response_message_ephemeral": interaction.original_ephemeral,
        },
        "resource": {"type": body["type"], "message": resource},
    })))
}

/// Applies an initial response: checks it as Discord would and makes its effect
/// (message, deferred message, update). Answers the message it made or changed.
fn initial_response(
    shared: &Shared,
    inner: &mut Inner,
    id: &str,
    body: &Value,
    latency: Duration,
) -> Result<Option<Value>, ApiError> {
    let interaction = inner.interactions.get(id).ok_or_else(unknown_interaction)?;
    if latency > RESPONSE_WINDOW {
        return Err(unknown_interaction());
    }
    if interaction.responded.is_some() {
        return Err(ApiError::new(
            400,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    let kind = interaction.kind;
    let response_type = body["type"].as_u64();
    let allowed: &[u64] = match kind {
        1 => &[1],
        2 => &[4, 5, 9, 12],
        3 => &[4, 5, 6, 7, 9, 12],
        4 => &[8],
        _ => &[4, 5, 6, 7],
    };
    let Some(response_type) = response_type.filter(|t| allowed.contains(t)) else {
        let mut errors = validate::FormErrors::default();
        errors.add(
            &["type"],
            "INTERACTION_RESPONSE_TYPE_INVALID",
            format!("Interaction response type is not valid for an interaction of type {kind}"),
        );
        errors.into_result()?;
        unreachable!();
    };
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    match response_type {
        4 => validate::message_body(&data, BodyKind::Interaction)?,
        5 => {
            let flags = data["flags"].as_u64().unwrap_or(0);
            if flags & !EPHEMERAL != 0 {
                let mut errors = validate::FormErrors::default();
                errors.add(&["data", "flags"], "MESSAGE_FLAGS_INVALID", "Invalid flags");
                errors.into_result()?;
            }
        }
        7 => validate::message_body(&data, BodyKind::Edit)?,
        9 => modal(&data)?,
        _ => {}
    }
    let interaction = inner.interactions.get_mut(id).expect("interaction");
    interaction.responded = Some(response_type);
    let (channel, guild, user, component_message) = (
        interaction.channel_id.clone().unwrap_or_default(),
        interaction.guild_id.clone(),
        interaction.user_id.clone().unwrap_or_default(),
        interaction.message_id.clone(),
    );
    match response_type {
        4 | 5 => {
            let mut data = if data.is_object() { data } else { json!({}) };
            if response_type == 5 {
                data["content"] = json!("");
                let flags = data["flags"].as_u64().unwrap_or(0) | LOADING;
                data["flags"] = json!(flags);
            }
            let flags = data["flags"].as_u64().unwrap_or(0);
            let message = if flags & EPHEMERAL != 0 {
                let e = new_ephemeral(inner, id, &channel, &user, &data);
                inner
                    .interactions
                    .get_mut(id)
                    .expect("interaction")
                    .original = Some(e.id.clone());
                inner
                    .interactions
                    .get_mut(id)
                    .expect("interaction")
                    .original_ephemeral = true;
                let json = ephemeral_json(shared, &e);
                inner.ephemeral_ids.insert(e.id.clone());
                inner.ephemerals.push(e);
                json
            } else {
                let message_id = inner.next_id();
                let mut m = state::new_message(
                    message_id.clone(),
                    &channel,
                    guild,
                    &shared.bot.user_id,
                    true,
                    &data,
                    PostedVia::Interaction(id.to_owned()),
                );
                m.kind = if kind == 2 { 20 } else { 0 };
                inner
                    .interactions
                    .get_mut(id)
                    .expect("interaction")
                    .original = Some(message_id);
                let json = inner.message_json(shared, &m, true);
                inner.push_message(m);
                dispatch_message(inner, "MESSAGE_CREATE", json.clone());
                json
            };
            Ok(Some(message))
        }
        6 | 7 => {
            let Some(message_id) = component_message else {
                return Ok(None);
            };
            inner
                .interactions
                .get_mut(id)
                .expect("interaction")
                .original = Some(message_id.clone());
            let Some(i) = inner.message_index(&channel, &message_id) else {
                return Ok(None);
            };
            if response_type == 7 {
                state::apply_edit(&mut inner.messages[i], &data);
                let json = inner.message_json(shared, &inner.messages[i], true);
                dispatch_message(inner, "MESSAGE_UPDATE", json.clone());
                return Ok(Some(json));
            }
            Ok(Some(inner.message_json(shared, &inner.messages[i], true)))
        }
        _ => Ok(None),
    }
}

fn modal(data: &Value) -> Result<(), ApiError> {
    let mut errors = validate::FormErrors::default();
    let custom_id = data["custom_id"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .count();
    if !(1..=100).contains(&custom_id) {
        errors.add(
            &["data", "custom_id"],
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        );
    }
    let title = data["title"].as_str().unwrap_or_default().chars().count();
    if !(1..=45).contains(&title) {
        errors.add(
            &["data", "title"],
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 45 in length.",
        );
    }
    let n = data["components"].as_array().map_or(0, Vec::len);
    if !(1..=5).contains(&n) {
        errors.add(
            &["data", "components"],
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 5 in length.",
        );
    }
    errors.into_result()
}

fn new_ephemeral(
    inner: &mut Inner,
    id: &str,
    channel: &str,
    user: &str,
    data: &Value,
) -> DiscordEphemeral {
    DiscordEphemeral {
        id: inner.next_id(),
        interaction_id: id.to_owned(),
        channel_id: channel.to_owned(),
        user_id: user.to_owned(),
        content: data["content"].as_str().unwrap_or_default().to_owned(),
        embeds: data
            .get("embeds")
            .filter(|e| e.is_array())
            .cloned()
            .unwrap_or(json!([])),
        components: data
            .get("components")
            .filter(|e| e.is_array())
            .cloned()
            .unwrap_or(json!([])),
        flags: data["flags"].as_u64().unwrap_or(0),
        body: data.clone(),
        edits: Vec::new(),
    }
}

fn ephemeral_json(shared: &Shared, e: &DiscordEphemeral) -> Value {
    json!({
        "id": e.id,
        "channel_id": e.channel_id,
        "author": shared.bot_user_json(),
        "content": e.content,
        "embeds": e.embeds,
        "components": e.components,
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": false,
        "pinned": false,
        "tts": false,
        "timestamp": state::timestamp(),
        "edited_timestamp": null,
        "type": 20,
        "flags": e.flags,
        "webhook_id": shared.bot.application_id,
        "application_id": shared.bot.application_id,
    })
}

/// The interaction a webhook token opens, if the token is alive.
fn by_token(shared: &Shared, inner: &Inner, app: &str, token: &str) -> Result<String, ApiError> {
    if app != shared.bot.application_id {
        return Err(unknown_webhook());
    }
    let ttl = inner.token_ttl;
    let interaction = inner
        .interaction_by_token
        .get(token)
        .and_then(|id| inner.interactions.get(id))
        .filter(|i| i.created.elapsed() < ttl)
        .ok_or_else(invalid_token)?;
    if interaction.responded.is_none() {
        // The webhook exists once the interaction was answered.
        return Err(unknown_webhook());
    }
    Ok(interaction.id.clone())
}

/// `POST /webhooks/{application_id}/{token}`: a follow-up message.
pub(super) fn follow_up(
    shared: &Shared,
    inner: &mut Inner,
    app: &str,
    token: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let id = by_token(shared, inner, app, token)?;
    validate::message_body(body, BodyKind::Interaction)?;
    let interaction = &inner.interactions[&id];
    let (channel, guild, user) = (
        interaction.channel_id.clone().unwrap_or_default(),
        interaction.guild_id.clone(),
        interaction.user_id.clone().unwrap_or_default(),
    );
    if body["flags"].as_u64().unwrap_or(0) & EPHEMERAL != 0 {
        let e = new_ephemeral(inner, &id, &channel, &user, body);
        let json = ephemeral_json(shared, &e);
        inner.ephemeral_ids.insert(e.id.clone());
        inner.ephemerals.push(e);
        return Ok(json);
    }
    let message_id = inner.next_id();
    let mut m = state::new_message(
        message_id,
        &channel,
        guild,
        &shared.bot.user_id,
        true,
        body,
        PostedVia::Interaction(id),
    );
    m.kind = 0;
    let json = inner.message_json(shared, &m, true);
    inner.push_message(m);
    dispatch_message(inner, "MESSAGE_CREATE", json.clone());
    Ok(json)
}

/// `GET|PATCH|DELETE /webhooks/{application_id}/{token}/messages/{id|@original}`.
pub(super) fn webhook_message(
    shared: &Shared,
    inner: &mut Inner,
    method: &Method,
    app: &str,
    token: &str,
    message: &str,
    body: &Value,
) -> Result<Option<Value>, ApiError> {
    let id = by_token(shared, inner, app, token)?;
    let interaction = &inner.interactions[&id];
    let target = if message == "@original" {
        interaction
            .original
            .clone()
            .ok_or_else(ApiError::unknown_message)?
    } else {
        message.to_owned()
    };
    // An ephemeral of this interaction?
    let ephemeral = if inner.ephemeral_ids.contains(&target) {
        inner
            .ephemerals
            .iter()
            .position(|e| e.id == target && e.interaction_id == id)
    } else {
        None
    };
    if let Some(e) = ephemeral {
        return match *method {
            Method::GET => Ok(Some(ephemeral_json(shared, &inner.ephemerals[e]))),
            Method::PATCH => {
                validate::message_body(body, BodyKind::Interaction)?;
                let eph = &mut inner.ephemerals[e];
                if let Some(content) = body.get("content") {
                    eph.content = content.as_str().unwrap_or_default().to_owned();
                }
                if let Some(embeds) = body.get("embeds") {
                    eph.embeds = embeds.clone();
                }
                if let Some(components) = body.get("components") {
                    eph.components = components.clone();
                }
                eph.flags &= !LOADING;
                eph.edits.push(body.clone());
                Ok(Some(ephemeral_json(shared, &inner.ephemerals[e])))
            }
            _ => {
                let e = inner.ephemerals.remove(e);
                inner.ephemeral_ids.remove(&e.id);
                Ok(None)
            }
        };
    }
    // A channel message this interaction's webhook made (or the component's message
    // after a type 6/7 response: `@original`).
    let i = inner
        .message_position(&target)
        .filter(|&i| {
            let m = &inner.messages[i];
            matches!(&m.via, PostedVia::Interaction(via) if *via == id)
                || inner.interactions[&id].original.as_deref() == Some(m.id.as_str())
        })
        .ok_or_else(ApiError::unknown_message)?;
    match *method {
        Method::GET => Ok(Some(inner.message_json(shared, &inner.messages[i], true))),
        Method::PATCH => {
            validate::message_body(body, BodyKind::Edit)?;
            let mut after = inner.messages[i].clone();
            state::apply_edit(&mut after, body);
            if after.content.is_empty()
                && after.embeds.as_array().is_none_or(Vec::is_empty)
                && after.components.as_array().is_none_or(Vec::is_empty)
            {
                return Err(ApiError::empty_message());
            }
            inner.messages[i] = after;
            let json = inner.message_json(shared, &inner.messages[i], true);
            dispatch_message(inner, "MESSAGE_UPDATE", json.clone());
            Ok(Some(json))
        }
        _ => {
            let m = inner.remove_message(i);
            inner.deleted.push(m);
            Ok(None)
        }
    }
}
