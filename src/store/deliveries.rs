//! Deliveries that start no session: a follow-up in a session's thread, a stop, a
//! refusal. Each is recorded with what it does in one transaction, so a platform's
//! retry of the same delivery does nothing twice, and nothing acknowledged is lost.

use super::sessions::transition_in;
use super::{Store, StoreError};
use crate::core::{DeliveryId, EventBody, Platform, SessionId, SessionState, Timestamp};

/// What a delivery does to the session it concerns.
#[derive(Clone, Debug)]
pub enum DeliveryAction {
    /// Nothing beyond remembering it (a refused request, answered once).
    Nothing,
    /// Someone said something to the session: it is logged for the running agent, or
    /// it resumes a finished session (queued again).
    Say {
        session: SessionId,
        author: String,
        text: String,
    },
    /// Someone said something in the session's thread without asking lucid: logged for
    /// a running agent, and kept as context (not resuming) when the session is over.
    Note {
        session: SessionId,
        author: String,
        text: String,
    },
    /// Someone asked the session to stop: a live session is cancelled.
    Stop { session: SessionId, reason: String },
    /// Someone asked the work tree to go back to a checkpoint (`None`: undo the last
    /// step): logged for the running session, or it takes a finished one up again.
    Revert {
        session: SessionId,
        author: String,
        checkpoint: Option<u32>,
    },
    /// Someone answered the agent's permission request: logged for the running agent
    /// (nothing for a finished session).
    Permission {
        session: SessionId,
        author: String,
        number: Option<u32>,
        allow: bool,
    },
    /// Someone asked to publish a port of the session's sandbox: logged for its
    /// worker (a finished session has no sandbox, and is not taken up again).
    Preview {
        session: SessionId,
        author: String,
        port: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// New: its action was taken. `resumed` when a finished session was queued again.
    New { resumed: bool },
    /// Seen before: nothing was done.
    Duplicate,
}

impl Store {
    pub async fn record_delivery(
        &self,
        platform: Platform,
        delivery: &DeliveryId,
        action: DeliveryAction,
    ) -> Result<Delivered, StoreError> {
        let now = Timestamp::now();
        let session = match &action {
            DeliveryAction::Nothing => None,
            DeliveryAction::Say { session, .. }
            | DeliveryAction::Note { session, .. }
            | DeliveryAction::Stop { session, .. }
            | DeliveryAction::Revert { session, .. }
            | DeliveryAction::Preview { session, .. }
            | DeliveryAction::Permission { session, .. } => Some(*session),
        };
        let delivered = self
            .write(async |conn| {
                let inserted = sqlx::query(
                    "INSERT INTO deliveries (platform, delivery_id, session_id, received_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (platform, delivery_id) DO NOTHING",
                )
                .bind(platform.as_str())
                .bind(delivery.as_str())
                .bind(session.map(|s| s.to_string()))
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(Delivered::Duplicate);
                }
                let state = match session {
                    Some(id) => Some(state_in(conn, id).await?),
                    None => None,
                };
                let mut resumed = false;
                match (&action, state) {
                    (
                        DeliveryAction::Say {
                            session,
                            author,
                            text,
                        }
                        | DeliveryAction::Note {
                            session,
                            author,
                            text,
                        },
                        Some(state),
                    ) => {
                        let said = EventBody::UserMessage {
                            author: author.clone(),
                            text: text.clone(),
                        };
                        super::events::append_in(conn, *session, &said, now).await?;
                        let resumes = matches!(action, DeliveryAction::Say { .. });
                        if resumes && state.is_terminal() {
                            transition_in(conn, *session, SessionState::Queued, None, None, now)
                                .await?;
                            resumed = true;
                        }
                    }
                    (
                        DeliveryAction::Revert {
                            session,
                            author,
                            checkpoint,
                        },
                        Some(state),
                    ) => {
                        let asked = EventBody::RevertAsked {
                            author: author.clone(),
                            checkpoint: *checkpoint,
                        };
                        super::events::append_in(conn, *session, &asked, now).await?;
                        if state.is_terminal() {
                            transition_in(conn, *session, SessionState::Queued, None, None, now)
                                .await?;
                            resumed = true;
                        }
                    }
                    (
                        DeliveryAction::Preview {
                            session,
                            author,
                            port,
                        },
                        Some(_),
                    ) => {
                        let asked = EventBody::PreviewAsked {
                            author: author.clone(),
                            port: *port,
                        };
                        super::events::append_in(conn, *session, &asked, now).await?;
                    }
                    (
                        DeliveryAction::Permission {
                            session,
                            author,
                            number,
                            allow,
                        },
                        Some(state),
                    ) if !state.is_terminal() => {
                        let answered = EventBody::PermissionAnswered {
                            author: author.clone(),
                            number: *number,
                            allow: *allow,
                        };
                        super::events::append_in(conn, *session, &answered, now).await?;
                    }
                    (DeliveryAction::Stop { session, reason }, Some(state))
                        if !state.is_terminal() =>
                    {
                        let reason = Some(reason.clone());
                        transition_in(conn, *session, SessionState::Cancelled, reason, None, now)
                            .await?;
                    }
                    _ => {}
                }
                Ok(Delivered::New { resumed })
            })
            .await?;
        if let Some(session) = session {
            self.announce(session);
        }
        Ok(delivered)
    }
}

async fn state_in(
    conn: &mut sqlx::AnyConnection,
    id: SessionId,
) -> Result<SessionState, StoreError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM sessions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let state = state.ok_or(StoreError::SessionNotFound(id))?;
    SessionState::parse(&state).map_err(|e| StoreError::Corrupt(e.to_string()))
}
