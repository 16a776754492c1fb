//! How much one person and one place may have lucid do at once: at most so many
//! sessions not yet finished per person and per place (a channel, a repository's
//! issues), and so many new sessions per person an hour. The counts come from the
//! store (so they hold across replicas); the rule is here, and [`decide`] applies it
//! to a request that would start a session. Words in a session's thread are never
//! limited.
//!
//! [`decide`]: super::decide

use super::decide::Refusal;
use super::time::Timestamp;
use super::trigger::ThreadRef;
use std::time::Duration;

/// The span the new-sessions limit counts over.
pub const HOUR: Duration = Duration::from_secs(60 * 60);

/// The limits, each 0 for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Sessions not yet finished one person may have.
    pub running_per_person: u32,
    /// Sessions not yet finished one place may have.
    pub running_per_place: u32,
    /// New sessions one person may ask for in an hour.
    pub new_per_person_hour: u32,
}

impl Limits {
    /// No limit at all.
    pub const NONE: Limits = Limits {
        running_per_person: 0,
        running_per_place: 0,
        new_per_person_hour: 0,
    };

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        *self != Limits::NONE
    }
}

/// What the person asking and the place already have, read from the store when a
/// request could start a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    pub limits: Limits,
    /// When the counts were read.
    pub now: Timestamp,
    /// The person's sessions not yet finished.
    pub person_running: u32,
    /// The place's sessions not yet finished.
    pub place_running: u32,
    /// When the person's sessions of the last hour were made, newest first (at most
    /// `limits.new_per_person_hour` of them).
    pub person_recent: Vec<Timestamp>,
}

impl Busy {
    /// Why a new session may not start, if a limit is reached: the person's running
    /// sessions first (the one they can do most about), then the place's, then the
    /// hour's.
    pub fn refusal(&self) -> Option<Refusal> {
        let Limits {
            running_per_person,
            running_per_place,
            new_per_person_hour,
        } = self.limits;
        if running_per_person > 0 && self.person_running >= running_per_person {
            return Some(Refusal::TooManyRunning {
                running: self.person_running,
            });
        }
        if running_per_place > 0 && self.place_running >= running_per_place {
            return Some(Refusal::PlaceBusy {
                running: self.place_running,
            });
        }
        let hour_ago = Timestamp::from_millis(self.now.as_millis() - HOUR.as_millis() as i64);
        let recent: Vec<Timestamp> = self
            .person_recent
            .iter()
            .copied()
            .filter(|at| *at > hour_ago)
            .collect();
        let limit = new_per_person_hour as usize;
        if limit > 0 && recent.len() >= limit {
            // With the newest `limit - 1` alone in the hour, one more may start: that
            // is when the `limit`th newest is an hour old.
            return Some(Refusal::TooManyNew {
                started: new_per_person_hour,
                again_at: recent[limit - 1].plus(HOUR),
            });
        }
        None
    }
}

impl ThreadRef {
    /// The place a thread is in, for the place's limit: the channel of a Slack or
    /// Discord thread, the repository of an issue. None for lucid's own pages and
    /// API, which are not limited per person or place (they need the API token, and
    /// the API has a rate of its own).
    pub fn place(&self) -> Option<String> {
        match self {
            ThreadRef::Github { repo, .. } => Some(repo.to_string()),
            ThreadRef::Slack { team, channel, .. } => Some(format!("{team}/{channel}")),
            ThreadRef::Discord { channel, .. } => Some(channel.clone()),
            // A task page is its own place.
            ThreadRef::Notion { page } => Some(page.clone()),
            ThreadRef::Web { .. } => None,
            ThreadRef::Other { place, .. } => Some(place.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::RepoRef;

    fn busy(person: u32, place: u32, recent_minutes_ago: &[i64]) -> Busy {
        let now = Timestamp::from_millis(10 * 3_600_000);
        Busy {
            limits: Limits {
                running_per_person: 3,
                running_per_place: 5,
                new_per_person_hour: 2,
            },
            now,
            person_running: person,
            place_running: place,
            person_recent: recent_minutes_ago
                .iter()
                .map(|m| Timestamp::from_millis(now.as_millis() - m * 60_000))
                .collect(),
        }
    }

    #[test]
    fn each_limit_refuses_at_its_count_and_not_below() {
        assert_eq!(busy(2, 4, &[1]).refusal(), None);
        assert_eq!(
            busy(3, 9, &[1, 2]).refusal(),
            Some(Refusal::TooManyRunning { running: 3 })
        );
        assert_eq!(
            busy(0, 5, &[]).refusal(),
            Some(Refusal::PlaceBusy { running: 5 })
        );
        // Two in the hour: the next may come when the older of them is an hour old.
        let at = busy(0, 0, &[10, 50]).refusal();
        let again_at = Timestamp::from_millis(10 * 3_600_000 + 10 * 60_000);
        assert_eq!(
            at,
            Some(Refusal::TooManyNew {
                started: 2,
                again_at
            })
        );
        // One older than the hour does not count.
        assert_eq!(busy(0, 0, &[10, 61]).refusal(), None);
    }

    #[test]
    fn zero_is_no_limit() {
        let mut b = busy(100, 100, &[1, 2, 3, 4]);
        b.limits = Limits::NONE;
        assert_eq!(b.refusal(), None);
        assert!(!Limits::NONE.any());
    }

    #[test]
    fn a_threads_place_is_its_channel_or_repository() {
        let slack = ThreadRef::Slack {
            team: "T1".into(),
            channel: "C1".into(),
            thread_ts: "1.2".into(),
        };
        assert_eq!(slack.place().as_deref(), Some("T1/C1"));
        let issue = ThreadRef::Github {
            repo: RepoRef::parse("acme/app").unwrap(),
            issue: 7,
        };
        assert_eq!(issue.place().as_deref(), Some("acme/app"));
        let discord = ThreadRef::Discord {
            channel: "C9".into(),
            thread: Some("T9".into()),
        };
        assert_eq!(discord.place().as_deref(), Some("C9"));
        assert_eq!(ThreadRef::Web { id: "x".into() }.place(), None);
    }
}
