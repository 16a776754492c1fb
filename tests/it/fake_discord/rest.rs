//! The REST API under `/api/v10`: routing, bot authentication, rate limits (headers on
//! every answer, 429s on demand or when a bucket is exceeded), the routes themselves,
//! and the record of every call.

use super::interactions;
use super::records::{DiscordCall, DiscordReaction, PostedVia};
use super::state::{self, Channel, GUILD_MESSAGES, GUILDS, Inner, Shared};
use super::validate::{self, ApiError, BodyKind};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The routes the fake serves, with their ids.
#[derive(Debug)]
enum Route {
    Gateway,
    GatewayBot,
    Me,
    /// Create DM.
    Dm,
    Member {
        guild: String,
        user: String,
    },
    Commands {
        app: String,
        guild: String,
    },
    Channel {
        channel: String,
    },
    Messages {
        channel: String,
    },
    Message {
        channel: String,
        message: String,
    },
    Thread {
        channel: String,
        message: String,
    },
    Reaction {
        channel: String,
        message: String,
        emoji: String,
    },
    Callback {
        id: String,
        token: String,
    },
    Webhook {
        app: String,
        token: String,
    },
    WebhookMessage {
        app: String,
        token: String,
        message: String,
    },
}

impl Route {
    fn parse(method: &Method, segments: &[&str]) -> Option<Route> {
        let s = |i: usize| segments.get(i).map(|x| (*x).to_owned()).unwrap_or_default();
        let m = method.as_str();
        Some(match (m, segments) {
            ("GET", ["gateway"]) => Route::Gateway,
            ("GET", ["gateway", "bot"]) => Route::GatewayBot,
            ("GET", ["users", "@me"]) => Route::Me,
            ("POST", ["users", "@me", "channels"]) => Route::Dm,
            ("GET", ["guilds", _, "members", _]) => Route::Member {
                guild: s(1),
                user: s(3),
            },
            ("GET" | "PUT", ["applications", _, "guilds", _, "commands"]) => Route::Commands {
                app: s(1),
                guild: s(3),
            },
            ("GET", ["channels", _]) => Route::Channel { channel: s(1) },
            ("GET" | "POST", ["channels", _, "messages"]) => Route::Messages { channel: s(1) },
            ("GET" | "PATCH" | "DELETE", ["channels", _, "messages", _]) => Route::Message {
                channel: s(1),
                message: s(3),
            },
            ("POST", ["channels", _, "messages", _, "threads"]) => Route::Thread {
                channel: s(1),
                message: s(3),
            },
            ("PUT" | "DELETE", ["channels", _, "messages", _, "reactions", _, "@me"]) => {
                Route::Reaction {
                    channel: s(1),
                    message: s(3),
                    emoji: percent_decode(segments[5]),
                }
            }
            ("POST", ["interactions", _, _, "callback"]) => Route::Callback {
                id: s(1),
                token: s(2),
            },
            ("POST", ["webhooks", _, _]) => Route::Webhook {
                app: s(1),
                token: s(2),
            },
            ("GET" | "PATCH" | "DELETE", ["webhooks", _, _, "messages", _]) => {
                Route::WebhookMessage {
                    app: s(1),
                    token: s(2),
                    message: s(4),
                }
            }
            _ => return None,
        })
    }

    /// Whether the route needs `Authorization: Bot <token>`.
    fn bot(&self) -> bool {
        !matches!(
            self,
            Route::Callback { .. } | Route::Webhook { .. } | Route::WebhookMessage { .. }
        )
    }

    /// The route's template (its bucket, without the top-level resource) and the
    /// top-level resource.
    fn bucket(&self, method: &Method) -> (String, String) {
        let (template, major) = match self {
            Route::Gateway => ("/gateway", String::new()),
            Route::GatewayBot => ("/gateway/bot", String::new()),
            Route::Me => ("/users/@me", String::new()),
            Route::Dm => ("/users/@me/channels", String::new()),
            Route::Member { guild, .. } => ("/guilds/:g/members/:u", guild.clone()),
            Route::Commands { guild, .. } => ("/applications/:a/guilds/:g/commands", guild.clone()),
            Route::Channel { channel } => ("/channels/:c", channel.clone()),
            Route::Messages { channel } => ("/channels/:c/messages", channel.clone()),
            Route::Message { channel, .. } => ("/channels/:c/messages/:m", channel.clone()),
            Route::Thread { channel, .. } => ("/channels/:c/messages/:m/threads", channel.clone()),
            Route::Reaction { channel, .. } => {
                ("/channels/:c/messages/:m/reactions/:e/@me", channel.clone())
            }
            Route::Callback { id, .. } => ("/interactions/:i/:t/callback", id.clone()),
            Route::Webhook { app, token } => ("/webhooks/:w/:t", format!("{app}/{token}")),
            Route::WebhookMessage { app, token, .. } => {
                ("/webhooks/:w/:t/messages/:m", format!("{app}/{token}"))
            }
        };
        (format!("{method} {template}"), major)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A short stable hash of a route template, as the `X-RateLimit-Bucket` value.
fn bucket_hash(template: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

struct Answer {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    code: Option<i64>,
    unexpected: Option<String>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body: Some(body),
            headers: Vec::new(),
            code: None,
            unexpected: None,
        }
    }

    fn no_content() -> Answer {
        Answer {
            status: 204,
            body: None,
            headers: Vec::new(),
            code: None,
            unexpected: None,
        }
    }

    fn error(error: &ApiError) -> Answer {
        Answer {
            status: error.status,
            body: Some(error.body()),
            headers: Vec::new(),
            code: Some(error.code),
            unexpected: None,
        }
    }
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body_json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let body_is_json = body.is_empty() || !body_json.is_null();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match segments.as_slice() {
        ["api", "v10", rest @ ..] => Route::parse(&method, rest),
        _ => None,
    };

    let mut bucket_key = None;
    let mut answer = match &route {
        None => {
            let mut a = Answer::json(404, json!({"message": "404: Not Found", "code": 0}));
            a.code = Some(0);
            a.unexpected = Some(format!("{method} {path}: no such route"));
            a
        }
        Some(route) => {
            let authorized = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == format!("Bot {}", shared.token));
            if route.bot() && !authorized {
                let mut a = Answer::json(401, json!({"message": "401: Unauthorized", "code": 0}));
                a.code = Some(0);
                a.unexpected = Some(format!("{method} {path}: missing or wrong bot token"));
                a
            } else {
                let (template, major) = route.bucket(&method);
                bucket_key = Some(format!("{template} [{major}]"));
                let write = method != Method::GET;
                match rate_limit(&shared, route.bot(), write, &template, &major, at) {
                    Err(limited) => *limited,
                    Ok(mut rate_headers) => {
                        let mut a = if !body_is_json {
                            Answer::error(&ApiError::new(
                                400,
                                50109,
                                "The request body contains invalid JSON.",
                            ))
                        } else {
                            match serve(&shared, route, &method, &query, &body_json, at) {
                                Ok(a) => a,
                                Err(e) => Answer::error(&e),
                            }
                        };
                        a.headers.append(&mut rate_headers);
                        // An edit of an answer Discord has not taken yet (it raced the
                        // answer itself) is Discord's honest 10015, which the client
                        // is expected to try again; it is counted, not flagged.
                        let answer_in_flight = a.status == 404
                            && a.body.as_ref().is_some_and(|b| b["code"] == 10015)
                            && path.contains("/messages/@original");
                        if a.status >= 400 && a.unexpected.is_none() && !answer_in_flight {
                            a.unexpected = Some(format!(
                                "{method} {path} -> {} {}",
                                a.status,
                                a.body.as_ref().map(Value::to_string).unwrap_or_default()
                            ));
                        }
                        a
                    }
                }
            }
        }
    };
    let latency = at.elapsed();
    {
        let mut inner = shared.inner();
        if let Some(what) = answer.unexpected.clone() {
            inner.flag(what);
        }
        let (body_json, response) = match inner.keep_little {
            true => (Value::Null, Value::Null),
            false => (body_json, answer.body.clone().unwrap_or(Value::Null)),
        };
        inner.calls.push(DiscordCall {
            method: method.to_string(),
            path: path.clone(),
            query,
            status: answer.status,
            code: answer.code,
            body: body_json,
            response,
            latency,
            at,
            bucket: bucket_key,
            unexpected: answer.unexpected.take(),
        });
    }
    shared.recorded.notify_waiters();

    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(*name, value);
    }
    match answer.body {
        Some(body) => response
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string())),
        None => response.body(axum::body::Body::empty()),
    }
    .unwrap()
}

/// The rate-limit verdict: Err(429 answer) or Ok(headers to add to the answer).
fn rate_limit(
    shared: &Shared,
    bot: bool,
    write: bool,
    template: &str,
    major: &str,
    now: Instant,
) -> Result<Vec<(&'static str, String)>, Box<Answer>> {
    let mut inner = shared.inner();
    let key = format!("{template} [{major}]");
    let limit = inner.bucket_limit;
    let per = inner.bucket_per;
    let hash = bucket_hash(template);
    let limited = |retry_after: Duration, global: bool, scope: &str, ignored: bool| {
        let secs = retry_after.as_secs_f64();
        let mut a = Answer::json(
            429,
            json!({
                "message": "You are being rate limited.",
                "retry_after": (secs * 1000.0).round() / 1000.0,
                "global": global,
            }),
        );
        a.headers
            .push(("retry-after", format!("{}", secs.ceil() as u64)));
        a.headers.push(("x-ratelimit-scope", scope.to_owned()));
        if global {
            a.headers.push(("x-ratelimit-global", "true".into()));
        } else {
            a.headers.push(("x-ratelimit-limit", limit.to_string()));
            a.headers.push(("x-ratelimit-remaining", "0".into()));
            a.headers.push((
                "x-ratelimit-reset",
                format!("{:.3}", state::unix_now() + secs),
            ));
            a.headers
                .push(("x-ratelimit-reset-after", format!("{secs:.3}")));
            a.headers.push(("x-ratelimit-bucket", hash.clone()));
        }
        if ignored {
            a.unexpected = Some(format!(
                "{template} [{major}] came {secs:.3}s before the retry_after it was given ran out"
            ));
        }
        Box::new(a)
    };
    if !bot {
        // Interaction webhooks and callbacks: as on Discord, a bucket per interaction
        // (the major parameter is the webhook id and token, or the interaction id: see
        // `Route::bucket`), outside the bot's global limit and `rate_limit_next`; the
        // fake sends their headers and never limits them.
        return Ok(vec![
            ("x-ratelimit-limit", "5".into()),
            ("x-ratelimit-remaining", "4".into()),
            (
                "x-ratelimit-reset",
                format!("{:.3}", state::unix_now() + 1.0),
            ),
            ("x-ratelimit-reset-after", "1.000".into()),
            ("x-ratelimit-bucket", hash),
        ]);
    }
    // A request inside a live retry_after: Discord answers 429 again.
    if let Some(until) = inner.global_retry_until.filter(|u| *u > now) {
        return Err(limited(until - now, true, "global", true));
    }
    let bucket = inner.buckets.entry(key.clone()).or_default();
    if let Some(until) = bucket.retry_until.filter(|u| *u > now) {
        return Err(limited(until - now, false, "user", true));
    }
    if write && inner.rate_limited > 0 {
        inner.rate_limited -= 1;
        let retry_after = inner.rate_retry_after;
        let global = inner.rate_global;
        if global {
            inner.global_retry_until = Some(now + retry_after);
        } else {
            inner.buckets.entry(key).or_default().retry_until = Some(now + retry_after);
        }
        return Err(limited(
            retry_after,
            global,
            if global { "global" } else { "user" },
            false,
        ));
    }
    let bucket = inner.buckets.entry(key).or_default();
    let start = match bucket.window_start {
        Some(start) if now.duration_since(start) < per => start,
        _ => {
            bucket.window_start = Some(now);
            bucket.count = 0;
            now
        }
    };
    let reset_after = per.saturating_sub(now.duration_since(start));
    if bucket.count >= limit {
        bucket.retry_until = Some(now + reset_after);
        return Err(limited(reset_after, false, "user", false));
    }
    bucket.count += 1;
    let remaining = limit - bucket.count;
    let secs = reset_after.as_secs_f64();
    Ok(vec![
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        (
            "x-ratelimit-reset",
            format!("{:.3}", state::unix_now() + secs),
        ),
        ("x-ratelimit-reset-after", format!("{secs:.3}")),
        ("x-ratelimit-bucket", hash),
    ])
}

fn serve(
    shared: &Shared,
    route: &Route,
    method: &Method,
    query: &str,
    body: &Value,
    at: Instant,
) -> Result<Answer, ApiError> {
    let mut inner = shared.inner();
    let inner = &mut *inner;
    match route {
        Route::Gateway => Ok(Answer::json(200, json!({"url": shared.gateway_url}))),
        Route::GatewayBot => Ok(Answer::json(
            200,
            json!({
                "url": shared.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - inner.identify_count.min(1000),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }),
        )),
        Route::Me => Ok(Answer::json(200, shared.bot_user_json())),
        Route::Dm => Ok(Answer::json(200, super::direct::open(shared, inner, body)?)),
        // Get Guild Member: the person's member object with their user.
        Route::Member { guild, user } => {
            if !inner.guilds.contains_key(guild) {
                return Err(ApiError::new(404, 10004, "Unknown Guild"));
            }
            if !inner.people.contains_key(user) {
                return Err(ApiError::new(404, 10007, "Unknown Member"));
            }
            let mut member = inner.member_json(user);
            member["user"] = inner.user_json(shared, user);
            Ok(Answer::json(200, member))
        }
        Route::Commands { app, guild } => commands(shared, inner, method, app, guild, body),
        Route::Channel { channel } => {
            let c = inner
                .channels
                .get(channel)
                .ok_or_else(ApiError::unknown_channel)?;
            Ok(Answer::json(200, inner.channel_json(c)))
        }
        Route::Messages { channel } => {
            if !inner.channels.contains_key(channel) {
                return Err(ApiError::unknown_channel());
            }
            if method == Method::GET {
                history(shared, inner, channel, query)
            } else {
                create_message(shared, inner, channel, body)
            }
        }
        Route::Message { channel, message } => {
            if !inner.channels.contains_key(channel) {
                return Err(ApiError::unknown_channel());
            }
            let i = inner
                .message_index(channel, message)
                .ok_or_else(ApiError::unknown_message)?;
            match *method {
                Method::GET => {
                    let m = &inner.messages[i];
                    let show = show_content(shared, inner, m);
                    Ok(Answer::json(200, inner.message_json(shared, m, show)))
                }
                Method::PATCH => {
                    if inner.messages[i].author_id != shared.bot.user_id {
                        return Err(ApiError::new(
                            403,
                            50005,
                            "Cannot edit a message authored by another user",
                        ));
                    }
                    edit_message(shared, inner, i, body)
                }
                _ => {
                    if inner.messages[i].author_id != shared.bot.user_id {
                        return Err(ApiError::new(403, 50013, "Missing Permissions"));
                    }
                    let m = inner.remove_message(i);
                    let (id, channel_id, guild_id) =
                        (m.id.clone(), m.channel_id.clone(), m.guild_id.clone());
                    inner.deleted.push(m);
                    inner.dispatch(
                        "MESSAGE_DELETE",
                        GUILD_MESSAGES,
                        |_| json!({"id": id, "channel_id": channel_id, "guild_id": guild_id}),
                    );
                    Ok(Answer::no_content())
                }
            }
        }
        Route::Thread { channel, message } => start_thread(shared, inner, channel, message, body),
        Route::Reaction {
            channel,
            message,
            emoji,
        } => react(shared, inner, method, channel, message, emoji),
        Route::Callback { id, token } => {
            let with_response = query_param(query, "with_response").as_deref() == Some("true");
            interactions::callback(shared, inner, id, token, body, with_response, at)
                .map(|v| v.map_or_else(Answer::no_content, |v| Answer::json(200, v)))
        }
        Route::Webhook { app, token } => {
            interactions::follow_up(shared, inner, app, token, body).map(|v| Answer::json(200, v))
        }
        Route::WebhookMessage {
            app,
            token,
            message,
        } => interactions::webhook_message(shared, inner, method, app, token, message, body)
            .map(|v| v.map_or_else(Answer::no_content, |v| Answer::json(200, v))),
    }
}

/// Whether the bot may read a message's content: always its own, a mention of it, a
/// DM; others only with the MESSAGE_CONTENT privileged intent enabled for the app.
pub(super) fn show_content(
    shared: &Shared,
    inner: &Inner,
    m: &super::records::DiscordMessage,
) -> bool {
    inner.allow_message_content
        || m.author_id == shared.bot.user_id
        || m.guild_id.is_none()
        || state::mentioned_ids(&m.content).contains(&shared.bot.user_id)
}

fn commands(
    shared: &Shared,
    inner: &mut Inner,
    method: &Method,
    app: &str,
    guild: &str,
    body: &Value,
) -> Result<Answer, ApiError> {
    if app != shared.bot.application_id {
        return Err(ApiError::new(403, 50001, "Missing Access"));
    }
    if !inner.guilds.contains_key(guild) {
        return Err(ApiError::new(403, 50001, "Missing Access"));
    }
    if *method == Method::GET {
        let list = inner.commands.get(guild).cloned().unwrap_or_default();
        return Ok(Answer::json(200, Value::Array(list)));
    }
    validate::commands(body)?;
    let previous = inner.commands.get(guild).cloned().unwrap_or_default();
    let version = inner.next_id();
    let mut registered = Vec::new();
    for command in body.as_array().into_iter().flatten() {
        let kind = command["type"].as_u64().unwrap_or(1);
        let name = command["name"].as_str().unwrap_or_default();
        let id = previous
            .iter()
            .find(|c| c["name"] == name && c["type"] == kind)
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| inner.next_id());
        let mut c = json!({
            "id": id,
            "application_id": shared.bot.application_id,
            "guild_id": guild,
            "version": version,
            "type": kind,
            "name": name,
            "name_localizations": null,
            "description": command["description"].as_str().unwrap_or_default(),
            "description_localizations": null,
            "default_member_permissions": command.get("default_member_permissions").cloned().unwrap_or(Value::Null),
            "nsfw": command["nsfw"].as_bool().unwrap_or(false),
        });
        if let Some(options) = command.get("options").filter(|o| o.is_array()) {
            c["options"] = options.clone();
        }
        registered.push(c);
    }
    inner.commands.insert(guild.to_owned(), registered.clone());
    Ok(Answer::json(200, Value::Array(registered)))
}

fn history(shared: &Shared, inner: &Inner, channel: &str, query: &str) -> Result<Answer, ApiError> {
    let limit = match query_param(query, "limit") {
        None => 50,
        Some(l) => match l.parse::<u64>() {
            Ok(l) if (1..=100).contains(&l) => l as usize,
            _ => {
                let mut errors = validate::FormErrors::default();
                errors.add(
                    &["limit"],
                    "NUMBER_TYPE_MAX",
                    "int value should be between 1 and 100.",
                );
                return errors.into_result().map(|()| unreachable!());
            }
        },
    };
    let id = |s: &str| s.parse::<u64>().unwrap_or(0);
    let mut list: Vec<&super::records::DiscordMessage> = inner.messages_in(channel).collect();
    list.sort_by_key(|m| id(&m.id));
    let chosen: Vec<_> = if let Some(after) = query_param(query, "after") {
        let after = id(&after);
        list.into_iter()
            .filter(|m| id(&m.id) > after)
            .take(limit)
            .collect()
    } else {
        let before = query_param(query, "before").map_or(u64::MAX, |b| id(&b));
        let mut older: Vec<_> = list.into_iter().filter(|m| id(&m.id) < before).collect();
        let skip = older.len().saturating_sub(limit);
        older.drain(..skip);
        older
    };
    let out: Vec<Value> = chosen
        .iter()
        .rev()
        .map(|m| inner.message_json(shared, m, show_content(shared, inner, m)))
        .collect();
    Ok(Answer::json(200, Value::Array(out)))
}

fn create_message(
    shared: &Shared,
    inner: &mut Inner,
    channel: &str,
    body: &Value,
) -> Result<Answer, ApiError> {
    validate::message_body(body, BodyKind::Create)?;
    if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
        let target = reference["message_id"].as_str().unwrap_or_default();
        let target_channel = reference["channel_id"].as_str().unwrap_or(channel);
        let exists = inner.message_index(target_channel, target).is_some();
        if !exists && reference["fail_if_not_exists"].as_bool() != Some(false) {
            let mut errors = validate::FormErrors::default();
            errors.add(
                &["message_reference"],
                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                "Unknown message",
            );
            errors.into_result()?;
        }
    }
    let guild_id = inner
        .channels
        .get(channel)
        .map(|c| c.guild_id.clone())
        .filter(|g| !g.is_empty());
    let dm = super::direct::is_dm(inner, channel);
    let id = inner.next_id();
    let message = state::new_message(
        id,
        channel,
        guild_id,
        &shared.bot.user_id,
        true,
        body,
        PostedVia::BotToken,
    );
    let json = inner.message_json(shared, &message, true);
    inner.push_message(message);
    if !dm {
        dispatch_message(inner, "MESSAGE_CREATE", json.clone());
    }
    Ok(Answer::json(200, json))
}

/// MESSAGE_CREATE / MESSAGE_UPDATE of the bot's own message (content always visible to
/// itself).
pub(super) fn dispatch_message(inner: &mut Inner, event: &str, json: Value) {
    inner.dispatch(event, GUILD_MESSAGES, |_| json.clone());
}

fn edit_message(
    shared: &Shared,
    inner: &mut Inner,
    i: usize,
    body: &Value,
) -> Result<Answer, ApiError> {
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
    Ok(Answer::json(200, json))
}

fn start_thread(
    shared: &Shared,
    inner: &mut Inner,
    channel: &str,
    message: &str,
    body: &Value,
) -> Result<Answer, ApiError> {
    let parent = inner
        .channels
        .get(channel)
        .ok_or_else(ApiError::unknown_channel)?;
    if parent.kind != 0 {
        return Err(ApiError::new(
            400,
            50024,
            "Cannot execute action on this channel type",
        ));
    }
    let guild_id = parent.guild_id.clone();
    let i = inner
        .message_index(channel, message)
        .ok_or_else(ApiError::unknown_message)?;
    if inner.messages[i].thread_id.is_some() || inner.channels.contains_key(message) {
        return Err(ApiError::new(
            400,
            160004,
            "A thread has already been created for this message",
        ));
    }
    validate::thread_body(body)?;
    let thread = Channel {
        id: message.to_owned(),
        guild_id,
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        kind: 11,
        parent_id: Some(channel.to_owned()),
        owner_id: Some(shared.bot.user_id.clone()),
        auto_archive_duration: body["auto_archive_duration"].as_u64().unwrap_or(4320),
        created: state::timestamp(),
    };
    let mut json = inner.channel_json(&thread);
    inner.channels.insert(message.to_owned(), thread);
    inner.messages[i].thread_id = Some(message.to_owned());
    inner.messages[i].flags |= 32; // HAS_THREAD
    json["member"] = json!({
        "id": message,
        "user_id": shared.bot.user_id,
        "join_timestamp": state::timestamp(),
        "flags": 0,
    });
    let mut created = json.clone();
    created["newly_created"] = json!(true);
    inner.dispatch("THREAD_CREATE", GUILDS, |_| created.clone());
    Ok(Answer::json(201, json))
}

fn react(
    shared: &Shared,
    inner: &mut Inner,
    method: &Method,
    channel: &str,
    message: &str,
    emoji: &str,
) -> Result<Answer, ApiError> {
    if !inner.channels.contains_key(channel) {
        return Err(ApiError::unknown_channel());
    }
    if inner.message_index(channel, message).is_none() {
        return Err(ApiError::unknown_message());
    }
    // A unicode emoji has no ASCII letters or digits; `name:id` is a custom emoji,
    // which the fake's guilds have none of.
    if emoji.is_empty() || emoji.contains(':') || emoji.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::new(400, 10014, "Unknown Emoji"));
    }
    let reaction = DiscordReaction {
        channel_id: channel.to_owned(),
        message_id: message.to_owned(),
        emoji: emoji.to_owned(),
        user_id: shared.bot.user_id.clone(),
    };
    if *method == Method::PUT {
        if !inner.reactions.contains(&reaction) {
            inner.reactions.push(reaction);
        }
    } else {
        inner.reactions.retain(|r| r != &reaction);
    }
    Ok(Answer::no_content())
}
