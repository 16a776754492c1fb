//! The gateway: a WebSocket server (plain `ws://` on its own loopback port) speaking
//! gateway v10 in JSON without compression. HELLO on connect; IDENTIFY (token,
//! intents, privileged intents) → READY and a GUILD_CREATE per guild; HEARTBEAT →
//! HEARTBEAT_ACK; RESUME replays what the session missed, then RESUMED. Refusals close
//! the connection with Discord's close codes (4001 unknown opcode, 4002 decode error,
//! 4003 not authenticated, 4004 authentication failed, 4005 already authenticated,
//! 4007 invalid seq, 4010 invalid shard, 4013 invalid intents, 4014 disallowed intents).

use super::records::{GatewayFrame, GatewaySession};
use super::state::{
    ALL_INTENTS, Connection, GUILDS, GwOut, Inner, MESSAGE_CONTENT, OTHER_PRIVILEGED, Session,
    Shared,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, shared.clone()));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let number = {
        let mut inner = shared.inner();
        inner.connection_count += 1;
        let number = inner.connection_count;
        inner.connections.push(Connection {
            number,
            tx,
            session: None,
        });
        let hello = json!({
            "op": 10,
            "d": {"heartbeat_interval": inner.heartbeat_interval},
            "s": null,
            "t": null,
        });
        inner.send_frame(number, hello.to_string());
        number
    };
    shared.recorded.notify_waiters();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(GwOut::Text(text)) => {
                    if ws.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(GwOut::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    let _ = ws.close(Some(frame)).await;
                    // Let the client answer the close, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    break;
                }
                Some(GwOut::Drop) | None => break,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    handle_frame(&shared, number, &text);
                    shared.recorded.notify_waiters();
                }
                Some(Ok(Message::Binary(_))) => {
                    // The fake speaks JSON text frames only (no ETF).
                    close(&mut shared.inner(), number, 4002, "Error while decoding payload.");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    // Dropping `ws` closes the TCP connection (without a close frame for Drop).
    drop(ws);
    {
        let mut inner = shared.inner();
        inner.connections.retain(|c| c.number != number);
        for session in &mut inner.sessions {
            if session.connection == Some(number) {
                session.connection = None;
                session.record.connected = false;
            }
        }
    }
    shared.recorded.notify_waiters();
}

fn close(inner: &mut Inner, number: usize, code: u16, reason: &str) {
    if let Some(c) = inner.connections.iter().find(|c| c.number == number) {
        let _ = c.tx.send(GwOut::Close(code, reason.to_owned()));
    }
    inner.frames.push(GatewayFrame {
        connection: number,
        from_client: false,
        frame: json!({"close": code, "reason": reason}),
        at: Instant::now(),
    });
}

fn token_ok(shared: &Shared, token: &Value) -> bool {
    token
        .as_str()
        .is_some_and(|t| t == shared.token || t.strip_prefix("Bot ") == Some(shared.token.as_str()))
}

fn handle_frame(shared: &Shared, number: usize, text: &str) {
    let mut inner = shared.inner();
    let inner = &mut *inner;
    let frame: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            inner.flag(format!(
                "gateway connection {number}: undecodable frame {text}"
            ));
            close(inner, number, 4002, "Error while decoding payload.");
            return;
        }
    };
    inner.frames.push(GatewayFrame {
        connection: number,
        from_client: true,
        frame: frame.clone(),
        at: Instant::now(),
    });
    let session = inner
        .connections
        .iter()
        .find(|c| c.number == number)
        .and_then(|c| c.session.clone());
    let d = &frame["d"];
    match frame["op"].as_u64() {
        Some(1) => {
            inner.send_frame(
                number,
                json!({"op": 11, "d": null, "s": null, "t": null}).to_string(),
            );
        }
        Some(2) => identify(shared, inner, number, session.is_some(), d),
        Some(6) => resume(shared, inner, number, session.is_some(), d),
        Some(3 | 4 | 8 | 31) if session.is_some() => {}
        Some(3 | 4 | 8 | 31) => {
            inner.flag(format!(
                "gateway connection {number}: op {} before IDENTIFY",
                frame["op"]
            ));
            close(inner, number, 4003, "Not authenticated.");
        }
        _ => {
            inner.flag(format!(
                "gateway connection {number}: unknown opcode in {frame}"
            ));
            close(inner, number, 4001, "Unknown opcode.");
        }
    }
}

fn identify(shared: &Shared, inner: &mut Inner, number: usize, authenticated: bool, d: &Value) {
    let refuse = |inner: &mut Inner, code: u16, reason: &str| {
        inner.flag(format!("gateway IDENTIFY refused: {code} {reason}: {d}"));
        close(inner, number, code, reason);
    };
    if authenticated {
        return refuse(inner, 4005, "Already authenticated.");
    }
    if !token_ok(shared, &d["token"]) {
        return refuse(inner, 4004, "Authentication failed.");
    }
    let Some(intents) = d["intents"].as_u64() else {
        return refuse(inner, 4013, "Invalid intent(s).");
    };
    if intents & !ALL_INTENTS != 0 {
        return refuse(inner, 4013, "Invalid intent(s).");
    }
    if (intents & MESSAGE_CONTENT != 0 && !inner.allow_message_content)
        || intents & OTHER_PRIVILEGED != 0
    {
        return refuse(inner, 4014, "Disallowed intent(s).");
    }
    let properties = &d["properties"];
    if ["os", "browser", "device"]
        .iter()
        .any(|k| !properties[k].is_string())
    {
        return refuse(inner, 4002, "Error while decoding payload.");
    }
    let shard = match d.get("shard").filter(|s| !s.is_null()) {
        None => json!([0, 1]),
        Some(s) => match (s[0].as_u64(), s[1].as_u64()) {
            (Some(id), Some(n)) if id < n && n >= 1 => json!([id, n]),
            _ => return refuse(inner, 4010, "Invalid shard."),
        },
    };
    inner.identify_count += 1;
    let session_id = format!(
        "{:032x}",
        0xfa6e_d15c_0000_0000u64 + inner.identify_count as u64
    );
    if let Some(c) = inner.connections.iter_mut().find(|c| c.number == number) {
        c.session = Some(session_id.clone());
    }
    inner.sessions.push(Session {
        record: GatewaySession {
            session_id: session_id.clone(),
            intents,
            identify: {
                let mut d = d.clone();
                d["token"] = json!("<redacted>");
                d
            },
            seq: 0,
            connected: true,
            resumable: true,
            resumes: 0,
            dispatches: Vec::new(),
        },
        frames: Vec::new(),
        connection: Some(number),
    });
    let index = inner.sessions.len() - 1;
    let mut user = shared.bot_user_json();
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["flags"] = json!(0);
    user["email"] = Value::Null;
    let guilds: Vec<Value> = inner
        .guilds
        .keys()
        .map(|id| json!({"id": id, "unavailable": true}))
        .collect();
    let ready = json!({
        "v": 10,
        "user_settings": {},
        "user": user,
        "session_type": "normal",
        "session_id": session_id,
        "resume_gateway_url": shared.gateway_url,
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "guilds": guilds,
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["rotterdam"],
        "shard": shard,
        "application": {"id": shared.bot.application_id, "flags": 565_248},
        "_trace": ["[\"fake-discord-gateway\",{\"micros\":0,\"calls\":[]}]"],
    });
    inner.dispatch_to(index, "READY", ready);
    if intents & GUILDS != 0 {
        let ids: Vec<String> = inner.guilds.keys().cloned().collect();
        for id in ids {
            let guild = guild_json(shared, inner, &id);
            inner.dispatch_to(index, "GUILD_CREATE", guild);
        }
    }
}

fn resume(shared: &Shared, inner: &mut Inner, number: usize, authenticated: bool, d: &Value) {
    if authenticated {
        inner.flag(format!(
            "gateway RESUME on an authenticated connection: {d}"
        ));
        return close(inner, number, 4005, "Already authenticated.");
    }
    if !token_ok(shared, &d["token"]) {
        inner.flag("gateway RESUME with a wrong token".into());
        return close(inner, number, 4004, "Authentication failed.");
    }
    let index = d["session_id"]
        .as_str()
        .and_then(|s| inner.session_index(s))
        .filter(|i| inner.sessions[*i].record.resumable);
    let Some(index) = index else {
        // Not resumable: the client must identify again.
        inner.send_frame(
            number,
            json!({"op": 9, "d": false, "s": null, "t": null}).to_string(),
        );
        return;
    };
    let seq = d["seq"].as_u64().unwrap_or(0);
    if seq > inner.sessions[index].record.seq {
        inner.flag(format!(
            "gateway RESUME with seq {seq} beyond the session's"
        ));
        return close(inner, number, 4007, "Invalid seq.");
    }
    // A connection still holding the session is cut off.
    if let Some(old) = inner.sessions[index].connection.take()
        && let Some(c) = inner.connections.iter_mut().find(|c| c.number == old)
    {
        c.session = None;
        let _ = c.tx.send(GwOut::Drop);
    }
    let session_id = inner.sessions[index].record.session_id.clone();
    if let Some(c) = inner.connections.iter_mut().find(|c| c.number == number) {
        c.session = Some(session_id);
    }
    inner.resume_count += 1;
    let session = &mut inner.sessions[index];
    session.connection = Some(number);
    session.record.connected = true;
    session.record.resumes += 1;
    let missed: Vec<String> = session
        .frames
        .iter()
        .filter(|(s, _)| *s > seq)
        .map(|(_, text)| text.clone())
        .collect();
    for text in missed {
        inner.send_frame(number, text);
    }
    inner.dispatch_to(
        index,
        "RESUMED",
        json!({"_trace": ["[\"fake-discord-gateway\",{\"micros\":0,\"calls\":[]}]"]}),
    );
}

/// A full guild as GUILD_CREATE carries it.
pub(super) fn guild_json(shared: &Shared, inner: &Inner, guild_id: &str) -> Value {
    let name = inner
        .guilds
        .get(guild_id)
        .map(|g| g.name.clone())
        .unwrap_or_default();
    let mut role_ids: Vec<String> = inner.roles.values().flatten().cloned().collect();
    role_ids.sort();
    role_ids.dedup();
    let role = |id: &str, name: &str, position: usize| {
        json!({
            "id": id,
            "name": name,
            "description": null,
            "permissions": "559623605571137",
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "managed": false,
            "mentionable": false,
            "icon": null,
            "unicode_emoji": null,
            "flags": 0,
        })
    };
    let mut roles = vec![role(guild_id, "@everyone", 0)];
    for (i, id) in role_ids.iter().enumerate() {
        roles.push(role(id, &format!("role-{id}"), i + 1));
    }
    let channels: Vec<Value> = inner
        .channels
        .values()
        .filter(|c| c.guild_id == guild_id && c.kind == 0)
        .map(|c| inner.channel_json(c))
        .collect();
    let threads: Vec<Value> = inner
        .channels
        .values()
        .filter(|c| c.guild_id == guild_id && c.kind == 11)
        .map(|c| inner.channel_json(c))
        .collect();
    let mut bot_member = inner.member_json(&shared.bot.user_id);
    bot_member["user"] = shared.bot_user_json();
    let mut guild = json!({
        "id": guild_id,
        "name": name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": inner.people.keys().next().cloned().unwrap_or_else(|| shared.bot.user_id.clone()),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "nsfw": false,
        "stickers": [],
        "premium_progress_bar_enabled": false,
    });
    let extra = json!({
        "safety_alerts_channel_id": null,
        "incidents_data": null,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "large": false,
        "unavailable": false,
        "member_count": inner.people.len() + 1,
        "voice_states": [],
        "members": [bot_member],
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
        "application_command_counts": {},
        "lazy": true,
    });
    if let (Some(guild), Value::Object(extra)) = (guild.as_object_mut(), extra) {
        guild.extend(extra);
    }
    guild
}
