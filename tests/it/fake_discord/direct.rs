//! Direct messages: `POST /users/@me/channels` with a `recipient_id` opens (or finds)
//! the bot's DM channel with that person, as Discord's Create DM does; the bot then
//! posts in it like in any channel. DM channels belong to no guild, and their
//! messages reach the gateway only with the DIRECT_MESSAGES intent (which lucid does
//! not ask for), so none are dispatched.

use super::state::{self, Channel, Inner, Shared};
use super::validate::ApiError;
use serde_json::{Value, json};

/// Discord's channel type of a DM.
pub(super) const DM: u64 = 1;

/// Create DM: the channel's JSON.
pub(super) fn open(shared: &Shared, inner: &mut Inner, body: &Value) -> Result<Value, ApiError> {
    let Some(recipient) = body["recipient_id"].as_str().map(str::to_owned) else {
        return Err(ApiError::new(400, 50035, "Invalid Form Body"));
    };
    if !inner.people.contains_key(&recipient) {
        return Err(ApiError::new(400, 50033, "Invalid Recipient(s)"));
    }
    let found = inner
        .channels
        .values()
        .find(|c| c.kind == DM && c.owner_id.as_deref() == Some(recipient.as_str()))
        .map(|c| c.id.clone());
    let id = match found {
        Some(id) => id,
        None => {
            let id = inner.next_id();
            inner.channels.insert(
                id.clone(),
                Channel {
                    id: id.clone(),
                    guild_id: String::new(),
                    name: String::new(),
                    kind: DM,
                    parent_id: None,
                    // The person the DM is with.
                    owner_id: Some(recipient.clone()),
                    auto_archive_duration: 0,
                    created: state::timestamp(),
                },
            );
            id
        }
    };
    Ok(json!({
        "id": id,
        "type": DM,
        "last_message_id": null,
        "flags": 0,
        "recipients": [inner.user_json(shared, &recipient)],
    }))
}

/// Whether `channel` is a DM.
pub(super) fn is_dm(inner: &Inner, channel: &str) -> bool {
    inner.channels.get(channel).is_some_and(|c| c.kind == DM)
}

/// The DM channel with `person`, if the bot opened one.
pub(super) fn with(inner: &Inner, person: &str) -> Option<String> {
    inner
        .channels
        .values()
        .find(|c| c.kind == DM && c.owner_id.as_deref() == Some(person))
        .map(|c| c.id.clone())
}
