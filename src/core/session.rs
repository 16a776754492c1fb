//! A session and its state machine. Transitions are pure: the store applies them, the
//! tests check them without I/O.

use super::ids::{InvalidId, SessionId};
use super::time::Timestamp;
use super::trigger::Trigger;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Queued,
    Provisioning,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl SessionState {
    pub const ALL: [SessionState; 6] = [
        SessionState::Queued,
        SessionState::Provisioning,
        SessionState::Running,
        SessionState::Completed,
        SessionState::Failed,
        SessionState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Queued => "queued",
            SessionState::Provisioning => "provisioning",
            SessionState::Running => "running",
            SessionState::Completed => "completed",
            SessionState::Failed => "failed",
            SessionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                InvalidId::from_message(format!(
                    "{s:?} is not a session state (one of queued, provisioning, running, completed, failed, cancelled)"
                ))
            })
    }

    /// A finished session: nothing runs for it any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Completed | SessionState::Failed | SessionState::Cancelled
        )
    }

    /// The one place that says which moves are allowed:
    /// `Queued → Provisioning → Running → Completed`, and from any live state to
    /// `Failed` or `Cancelled`. A finished session moves only back to `Queued`, when a
    /// follow-up in its thread resumes it; it never runs again without being queued.
    pub fn transition(self, to: SessionState) -> Result<SessionState, IllegalTransition> {
        use SessionState::*;
        let legal = matches!(
            (self, to),
            (Queued, Provisioning)
                | (Provisioning, Running)
                | (Running, Completed)
                | (Queued | Provisioning | Running, Failed | Cancelled)
                | (Completed | Failed | Cancelled, Queued)
        );
        if legal {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a session cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: SessionState,
    pub to: SessionState,
}

/// What a session has spent so far. Cost is in millionths of a US dollar so that sums
/// stay exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_micros: u64,
}

/// A worker's claim on a session, valid until `expires_at`. A worker that dies stops
/// renewing it, and another takes the session over once it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub owner: String,
    pub expires_at: Timestamp,
}

impl Lease {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub trigger: Trigger,
    pub state: SessionState,
    /// Why a session failed or was cancelled, in words for the thread.
    pub reason: Option<String>,
    pub branch: Option<String>,
    pub pr_url: Option<String>,
    pub usage: Usage,
    /// The model the session's agent asked for, once lucid's model gateway saw it.
    pub model: Option<String>,
    pub lease: Option<Lease>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Session {
    pub fn new(trigger: Trigger, now: Timestamp) -> Self {
        Self {
            id: SessionId::new(),
            trigger,
            state: SessionState::Queued,
            reason: None,
            branch: None,
            pr_url: None,
            usage: Usage::default(),
            model: None,
            lease: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves the session to `to`. A finished session gives up its lease.
    pub fn transition(
        &mut self,
        to: SessionState,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<(), IllegalTransition> {
        let from = self.state;
        self.state = self.state.transition(to)?;
        if reason.is_some() {
            self.reason = reason;
        } else if from.is_terminal() {
            // Resumed: the old ending no longer describes it.
            self.reason = None;
        }
        if to.is_terminal() {
            self.lease = None;
        }
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use super::*;
    use crate::core::{Author, DeliveryId, ThreadRef};

    const LEGAL: [(SessionState, SessionState); 12] = [
        (Queued, Provisioning),
        (Queued, Failed),
        (Queued, Cancelled),
        (Provisioning, Running),
        (Provisioning, Failed),
        (Provisioning, Cancelled),
        (Running, Completed),
        (Running, Failed),
        (Running, Cancelled),
        (Completed, Queued),
        (Failed, Queued),
        (Cancelled, Queued),
    ];

    #[test]
    fn every_legal_transition_is_allowed() {
        for (from, to) in LEGAL {
            assert_eq!(from.transition(to), Ok(to), "{from} -> {to}");
        }
    }

    #[test]
    fn every_other_transition_is_an_error() {
        let mut illegal = 0;
        for from in SessionState::ALL {
            for to in SessionState::ALL {
                if LEGAL.contains(&(from, to)) {
                    continue;
                }
                assert_eq!(
                    from.transition(to),
                    Err(IllegalTransition { from, to }),
                    "{from} -> {to} was allowed"
                );
                illegal += 1;
            }
        }
        // 36 pairs in all, 12 legal.
        assert_eq!(illegal, 24);
    }

    #[test]
    fn finished_states_are_terminal() {
        let terminal: Vec<_> = SessionState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![Completed, Failed, Cancelled]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in SessionState::ALL {
            assert_eq!(SessionState::parse(state.as_str()).unwrap(), state);
        }
        assert!(SessionState::parse("paused").is_err());
    }

    #[test]
    fn illegal_transitions_say_what_was_tried() {
        let err = Completed.transition(Running).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a session cannot go from completed to running"
        );
    }

    fn session() -> Session {
        let trigger = Trigger {
            thread: ThreadRef::Web { id: "w1".into() },
            author: Author {
                id: "u1".into(),
                display_name: "Ada".into(),
            },
            task: "fix the build".into(),
            title: None,
            repo: None,
            delivery: DeliveryId::parse("d1").unwrap(),
            agent: None,
        };
        Session::new(trigger, Timestamp::from_millis(1))
    }

    #[test]
    fn a_session_walks_the_happy_path_and_drops_its_lease_at_the_end() {
        let mut s = session();
        s.lease = Some(Lease {
            owner: "worker-1".into(),
            expires_at: Timestamp::from_millis(100),
        });
        s.transition(Provisioning, None, Timestamp::from_millis(2))
            .unwrap();
        s.transition(Running, None, Timestamp::from_millis(3))
            .unwrap();
        assert!(s.lease.is_some());
        s.transition(Completed, None, Timestamp::from_millis(4))
            .unwrap();
        assert_eq!(s.state, Completed);
        assert_eq!(s.lease, None);
        assert_eq!(s.updated_at, Timestamp::from_millis(4));
    }

    #[test]
    fn a_failed_transition_changes_nothing() {
        let mut s = session();
        let before = s.clone();
        assert!(
            s.transition(Completed, None, Timestamp::from_millis(9))
                .is_err()
        );
        assert_eq!(s, before);
    }

    #[test]
    fn a_failure_keeps_its_reason() {
        let mut s = session();
        s.transition(
            Failed,
            Some("repository not found".into()),
            Timestamp::from_millis(2),
        )
        .unwrap();
        assert_eq!(s.reason.as_deref(), Some("repository not found"));
    }

    #[test]
    fn a_resumed_session_is_queued_again_without_its_old_ending() {
        let mut s = session();
        s.transition(
            Failed,
            Some("the model failed".into()),
            Timestamp::from_millis(2),
        )
        .unwrap();
        s.transition(Queued, None, Timestamp::from_millis(3))
            .unwrap();
        assert_eq!(s.state, Queued);
        assert_eq!(s.reason, None);
    }

    #[test]
    fn leases_are_live_until_they_expire() {
        let lease = Lease {
            owner: "w".into(),
            expires_at: Timestamp::from_millis(10),
        };
        assert!(lease.is_live(Timestamp::from_millis(9)));
        assert!(!lease.is_live(Timestamp::from_millis(10)));
    }
}
