//! `POST /webhooks/discord/interactions`: verify, parse, hand to the intake, answer
//! within Discord's 3 seconds. A new session's answer is deferred (Discord shows
//! "lucid is thinking…") and written right after with the status message, from which
//! the session's thread is started; refusals are answered at once, seen only by the
//! person who asked.

use super::{Button, Command, DiscordRequest, parse_interaction};
use crate::chat::{ChatPlatform, Intake, Taken};
use crate::core::{Ask, Author, DeliveryId, Intent, Origin, Policy, SessionId, ThreadRef};
use crate::discord::outbound::client::{ALLOW_PREFIX, COMMAND, REJECT_PREFIX, STOP_PREFIX};
use crate::discord::{DiscordPlatform, SESSION_THREAD_PREFIX};
use crate::http::ApiError;
use crate::messages::{self, Text};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Interaction response types and message flags.
const PONG: u8 = 1;
const CHANNEL_MESSAGE: u8 = 4;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;
const DEFERRED_UPDATE_MESSAGE: u8 = 6;
const EPHEMERAL: u64 = 1 << 6;

type Hook = State<(Arc<DiscordPlatform>, Intake)>;

pub fn routes(platform: Arc<DiscordPlatform>, intake: Intake) -> axum::Router {
    axum::Router::new()
        .route(
            crate::discord::INTERACTIONS_PATH,
            axum::routing::post(receive),
        )
        .with_state((platform, intake))
}

async fn receive(
    State((platform, intake)): Hook,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Discord sends badly signed requests on purpose, and removes an endpoint that
    // takes them.
    if !platform.verify(header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER), &body) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid request signature",
        ));
    }
    match parse_interaction(&body).map_err(|e| ApiError::bad_request(e.reason()))? {
        DiscordRequest::Ping => Ok(answer(json!({ "type": PONG }))),
        DiscordRequest::Command(command) => on_command(&platform, &intake, command).await,
        DiscordRequest::Button(button) => on_button(&platform, &intake, button).await,
        DiscordRequest::Ignored(reason) => Ok(with_reason(
            only_you(&platform, &messages::not_set_up_here()),
            &reason,
        )),
    }
}

async fn on_command(
    platform: &Arc<DiscordPlatform>,
    intake: &Intake,
    command: Command,
) -> Result<Response, ApiError> {
    let allowed = command
        .guild
        .as_deref()
        .is_some_and(|g| platform.guild_allowed(g));
    if command.name != COMMAND || !allowed {
        return Ok(only_you(platform, &messages::not_set_up_here()));
    }
    let person = &command.person;
    let author = Author {
        id: person.id.clone(),
        display_name: person.name.clone(),
    };
    let channel = command.thread_parent.as_deref().unwrap_or(&command.channel);
    if let Some(refusal) = platform.refusal(channel, &person.id, &person.roles) {
        return Ok(only_you(platform, &messages::refusal(&refusal, &author)));
    }
    let task = command
        .task
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if task.is_empty() {
        return Ok(only_you(platform, &messages::command_usage("/lucid task:")));
    }
    let repo = match command.repo.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(named) => match intake.forges.iter().find_map(|f| f.find_repo(named)) {
            Some(repo) => Some(repo),
            None => return Ok(only_you(platform, &messages::not_a_repository(named))),
        },
    };
    // An agent not here is said at once, to the person only, like a repository
    // lucid cannot read; in a session's thread the option changes nothing (the
    // session keeps its agent).
    let agent = match command.agent.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(named) => match intake.agents.find(named) {
            Ok(id) => Some(id.to_owned()),
            Err(refusal) => return Ok(only_you(platform, &messages::refusal(&refusal, &author))),
        },
    };
    let delivery = DeliveryId::parse(&command.id)
        .map_err(|e| ApiError::bad_request(format!("the interaction's id is unusable: {e}")))?;
    // Typed in a thread, the command speaks in that thread; elsewhere it answers with
    // the session's status message and the thread is started from it.
    let (thread, fresh) = match &command.thread_parent {
        Some(parent) => (
            ThreadRef::Discord {
                channel: parent.clone(),
                thread: Some(command.channel.clone()),
            },
            false,
        ),
        None => {
            platform.expect_answer(&command.id, &command.token, intake.agents.words(&task));
            (
                ThreadRef::Discord {
                    channel: command.channel.clone(),
                    thread: Some(format!("{SESSION_THREAD_PREFIX}{}", command.id)),
                },
                true,
            )
        }
    };
    let intent = Intent {
        origin: Origin {
            delivery,
            thread,
            author: author.clone(),
            message: None,
            addressed: true,
        },
        ask: Ask::Task {
            text: task.clone(),
            repo,
            title: None,
            whole: None,
            agent,
        },
    };
    let policy = Policy {
        refusal: None,
        may_start: true,
        default_repo: platform.settings.channel_repo(channel).cloned(),
    };
    let taken = intake
        .take(&as_dyn(platform), intent, policy, None, fresh)
        .await?;
    Ok(match (&taken, fresh) {
        // The thread's first message, written as soon as it is known (a held
        // request's once the forge answers).
        (Taken::Started(_) | Taken::AskedForRepo | Taken::Duplicate | Taken::Held, true) => {
            with_taken(answer(json!({ "type": DEFERRED_CHANNEL_MESSAGE })), &taken)
        }
        // Said in a direct message (a login's code is for the person alone).
        (Taken::Account(_), _) => with_taken(
            only_you(platform, &messages::answered_in_direct_message()),
            &taken,
        ),
        (Taken::Ignored(_) | Taken::Refused(_), _) => with_taken(
            only_you(platform, &messages::command_usage("/lucid task:")),
            &taken,
        ),
        // In a thread: the request, as the person typed it, for everyone to see.
        _ => with_taken(
            message(platform, &messages::asked(&author, &task), 0),
            &taken,
        ),
    })
}

/// What a click on one of lucid's buttons asks, with the rest of its `custom_id` (the
/// session, and for Allow and Reject the request's number), not yet read.
#[derive(Debug, PartialEq, Eq)]
enum Clicked<'a> {
    Stop(&'a str),
    Permission { rest: &'a str, allow: bool },
}

impl<'a> Clicked<'a> {
    fn of(custom_id: &'a str) -> Option<Clicked<'a>> {
        if let Some(rest) = custom_id.strip_prefix(STOP_PREFIX) {
            Some(Clicked::Stop(rest))
        } else if let Some(rest) = custom_id.strip_prefix(ALLOW_PREFIX) {
            Some(Clicked::Permission { rest, allow: true })
        } else {
            custom_id
                .strip_prefix(REJECT_PREFIX)
                .map(|rest| Clicked::Permission { rest, allow: false })
        }
    }

    /// The session the button is for, and what it asks; else why the `custom_id` is
    /// unreadable.
    fn read(&self) -> Result<(SessionId, Ask), String> {
        let session = |s: &str| {
            s.parse::<SessionId>()
                .map_err(|e| format!("the button names no session: {e}"))
        };
        match *self {
            Clicked::Stop(rest) => Ok((session(rest)?, Ask::Stop)),
            Clicked::Permission { rest, allow } => {
                let (id, number) = rest.split_once(':').ok_or_else(|| {
                    format!("the button's {rest:?} is not <session id>:<request number>")
                })?;
                let number = number
                    .parse()
                    .map_err(|_| format!("the button's {number:?} is not a request number"))?;
                Ok((
                    session(id)?,
                    Ask::Permission {
                        number: Some(number),
                        allow,
                    },
                ))
            }
        }
    }

    /// Said only to the person who pressed it, when they may not.
    fn not_yours(&self) -> Text {
        match self {
            Clicked::Stop(_) => messages::may_not_stop(),
            Clicked::Permission { .. } => messages::may_not_answer(),
        }
    }
}

async fn on_button(
    platform: &Arc<DiscordPlatform>,
    intake: &Intake,
    button: Button,
) -> Result<Response, ApiError> {
    let Some(clicked) = Clicked::of(&button.custom_id) else {
        return Ok(only_you(platform, &messages::not_set_up_here()));
    };
    let allowed = button
        .guild
        .as_deref()
        .is_some_and(|g| platform.guild_allowed(g));
    let person = &button.person;
    if !allowed || platform.person_refusal(&person.id, &person.roles).is_some() {
        return Ok(only_you(platform, &clicked.not_yours()));
    }
    let (session, ask) = clicked.read().map_err(ApiError::bad_request)?;
    let Some(found) = intake
        .store
        .session(session)
        .await
        .map_err(ApiError::from)?
    else {
        return Ok(answer(json!({ "type": DEFERRED_UPDATE_MESSAGE })));
    };
    let thread = found.trigger.thread.clone();
    if let Ask::Permission { .. } = ask {
        // A button left on an older session's message must not answer the thread's
        // newer one.
        let state = intake
            .store
            .thread_state(&thread)
            .await
            .map_err(ApiError::from)?;
        if state.session.map(|(id, _)| id) != Some(session) {
            return Ok(with_reason(
                answer(json!({ "type": DEFERRED_UPDATE_MESSAGE })),
                "the button is on the status message of a session that is not the thread's",
            ));
        }
    }
    let delivery = DeliveryId::parse(&button.id)
        .map_err(|e| ApiError::bad_request(format!("the interaction's id is unusable: {e}")))?;
    let intent = Intent {
        origin: Origin {
            delivery,
            thread,
            author: Author {
                id: person.id.clone(),
                display_name: person.name.clone(),
            },
            message: None,
            addressed: true,
        },
        ask,
    };
    let taken = intake
        .take(&as_dyn(platform), intent, Policy::open(), None, false)
        .await?;
    // The status message shows the stop or the answer when the session's worker
    // writes it.
    Ok(with_taken(
        answer(json!({ "type": DEFERRED_UPDATE_MESSAGE })),
        &taken,
    ))
}

fn as_dyn(platform: &Arc<DiscordPlatform>) -> Arc<dyn ChatPlatform> {
    platform.clone()
}

fn answer(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// A message answering the interaction; `flags` 64 shows it to its author only.
fn message(platform: &Arc<DiscordPlatform>, text: &Text, flags: u64) -> Response {
    answer(json!({
        "type": CHANNEL_MESSAGE,
        "data": {
            "content": messages::shorten(&as_dyn(platform).render(text), 2_000),
            "allowed_mentions": { "parse": [] },
            "flags": flags,
        }
    }))
}

fn only_you(platform: &Arc<DiscordPlatform>, text: &Text) -> Response {
    message(platform, text, EPHEMERAL)
}

/// What lucid made of the request, for its logs and tests (Discord reads only the
/// body).
fn with_taken(mut response: Response, taken: &Taken) -> Response {
    if let Ok(value) = taken.to_json().to_string().parse() {
        response.headers_mut().insert("x-lucid-taken", value);
    }
    response
}

fn with_reason(mut response: Response, reason: &str) -> Response {
    if let Ok(value) = json!({ "ignored": reason }).to_string().parse() {
        response.headers_mut().insert("x-lucid-taken", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

    fn read(custom_id: &str) -> Option<Result<(SessionId, Ask), String>> {
        Clicked::of(custom_id).map(|clicked| clicked.read())
    }

    #[test]
    fn allow_reject_and_stop_are_read_from_the_custom_id() {
        use crate::discord::outbound::client::permission_custom_id;
        let session: SessionId = SESSION.parse().unwrap();
        assert_eq!(
            read(&permission_custom_id(true, SESSION, 2)),
            Some(Ok((
                session,
                Ask::Permission {
                    number: Some(2),
                    allow: true
                }
            )))
        );
        assert_eq!(
            read(&permission_custom_id(false, SESSION, 7)),
            Some(Ok((
                session,
                Ask::Permission {
                    number: Some(7),
                    allow: false
                }
            )))
        );
        assert_eq!(
            read(&format!("stop:{SESSION}")),
            Some(Ok((session, Ask::Stop)))
        );
        assert_eq!(read("other:1"), None);
    }

    #[test]
    fn an_unreadable_custom_id_says_why() {
        let reason = |id: &str| read(id).unwrap().unwrap_err();
        assert!(
            reason(&format!("allow:{SESSION}")).contains("is not <session id>:<request number>")
        );
        assert!(
            reason(&format!("reject:{SESSION}:two")).contains("\"two\" is not a request number")
        );
        assert!(reason("allow:nope:1").contains("the button names no session"));
        assert!(reason("stop:nope").contains("the button names no session"));
    }
}
