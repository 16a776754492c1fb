//! What sessions spent, totalled by day, repository, platform and person: the usage
//! report. A session counts on the day it was made (a resumed session's later runs
//! included), in UTC.

use super::{Session, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// Sessions and what they spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Total {
    pub sessions: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_micros: u64,
}

impl Total {
    fn add(&mut self, session: &Session) {
        self.sessions += 1;
        self.tokens_in += session.usage.tokens_in;
        self.tokens_out += session.usage.tokens_out;
        self.cost_micros += session.usage.cost_micros;
    }
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct DayTotal {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    #[serde(flatten)]
    pub total: Total,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct RepositoryTotal {
    /// None: sessions that never named one.
    pub repository: Option<String>,
    #[serde(flatten)]
    pub total: Total,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct PlatformTotal {
    pub platform: String,
    #[serde(flatten)]
    pub total: Total,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct PersonTotal {
    /// A person is their platform's: the same name on two platforms is two people.
    pub platform: String,
    pub id: String,
    /// The name they had on their newest session.
    pub name: String,
    #[serde(flatten)]
    pub total: Total,
}

/// The totals: days in order, the rest costliest first.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spending {
    pub total: Total,
    pub by_day: Vec<DayTotal>,
    pub by_repository: Vec<RepositoryTotal>,
    pub by_platform: Vec<PlatformTotal>,
    pub by_person: Vec<PersonTotal>,
}

/// `at`'s day, `YYYY-MM-DD` in UTC.
pub fn day_of(at: Timestamp) -> String {
    let seconds = at.as_millis().div_euclid(1_000);
    let date = ::time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Totals `sessions` by day, repository, platform and person.
pub fn spending(sessions: &[Session]) -> Spending {
    let mut total = Total::default();
    let mut days: BTreeMap<String, Total> = BTreeMap::new();
    let mut repos: BTreeMap<Option<String>, Total> = BTreeMap::new();
    let mut platforms: BTreeMap<String, Total> = BTreeMap::new();
    let mut people: BTreeMap<(String, String), (Timestamp, String, Total)> = BTreeMap::new();
    for session in sessions {
        total.add(session);
        days.entry(day_of(session.created_at))
            .or_default()
            .add(session);
        repos
            .entry(session.trigger.repo.as_ref().map(ToString::to_string))
            .or_default()
            .add(session);
        let platform = session.trigger.thread.platform().to_string();
        platforms.entry(platform.clone()).or_default().add(session);
        let author = &session.trigger.author;
        let person = people
            .entry((platform, author.id.clone()))
            .or_insert_with(|| {
                (
                    session.created_at,
                    author.display_name.clone(),
                    Total::default(),
                )
            });
        if session.created_at >= person.0 {
            person.0 = session.created_at;
            person.1 = author.display_name.clone();
        }
        person.2.add(session);
    }
    let costliest = |a: &Total, b: &Total| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then(b.sessions.cmp(&a.sessions))
    };
    let mut by_repository: Vec<RepositoryTotal> = repos
        .into_iter()
        .map(|(repository, total)| RepositoryTotal { repository, total })
        .collect();
    by_repository.sort_by(|a, b| costliest(&a.total, &b.total));
    let mut by_platform: Vec<PlatformTotal> = platforms
        .into_iter()
        .map(|(platform, total)| PlatformTotal { platform, total })
        .collect();
    by_platform.sort_by(|a, b| costliest(&a.total, &b.total));
    let mut by_person: Vec<PersonTotal> = people
        .into_iter()
        .map(|((platform, id), (_, name, total))| PersonTotal {
            platform,
            id,
            name,
            total,
        })
        .collect();
    by_person.sort_by(|a, b| costliest(&a.total, &b.total));
    Spending {
        total,
        by_day: days
            .into_iter()
            .map(|(day, total)| DayTotal { day, total })
            .collect(),
        by_repository,
        by_platform,
        by_person,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Author, DeliveryId, RepoRef, ThreadRef, Trigger, Usage};

    fn session(
        at_millis: i64,
        who: (&str, &str),
        repo: Option<&str>,
        slack: bool,
        cost: u64,
    ) -> Session {
        let thread = if slack {
            ThreadRef::Slack {
                team: "T".into(),
                channel: "C".into(),
                thread_ts: "1.1".into(),
            }
        } else {
            ThreadRef::Notion { page: "p".into() }
        };
        let trigger = Trigger {
            thread,
            author: Author {
                id: who.0.into(),
                display_name: who.1.into(),
            },
            task: "t".into(),
            title: None,
            repo: repo.map(|r| RepoRef::parse(r).unwrap()),
            delivery: DeliveryId::parse(&format!("d{at_millis}")).unwrap(),
            agent: None,
        };
        let mut session = Session::new(trigger, Timestamp::from_millis(at_millis));
        session.usage = Usage {
            tokens_in: cost * 10,
            tokens_out: cost,
            cost_micros: cost,
        };
        session
    }

    #[test]
    fn sessions_are_totalled_by_day_repository_platform_and_person() {
        // 2026-12-01T10:00Z, 2026-12-01T23:59Z, 2026-12-02T00:00Z.
        let (dec1, dec1_late, dec2) = (1_796_119_200_000, 1_796_169_540_000, 1_796_169_600_000);
        let all = [
            session(dec1, ("U1", "Ada"), Some("acme/app"), true, 100),
            session(dec1_late, ("U1", "Ada L."), Some("acme/web"), true, 300),
            session(dec2, ("U1", "Notion Ada"), Some("acme/app"), false, 50),
            session(dec2, ("U2", "Bob"), None, true, 0),
        ];
        let report = spending(&all);
        assert_eq!(
            report.total,
            Total {
                sessions: 4,
                tokens_in: 4_500,
                tokens_out: 450,
                cost_micros: 450
            }
        );
        let days: Vec<(&str, u64)> = report
            .by_day
            .iter()
            .map(|d| (d.day.as_str(), d.total.cost_micros))
            .collect();
        assert_eq!(days, [("2026-12-01", 400), ("2026-12-02", 50)]);
        let repos: Vec<(Option<&str>, u64)> = report
            .by_repository
            .iter()
            .map(|r| (r.repository.as_deref(), r.total.cost_micros))
            .collect();
        assert_eq!(
            repos,
            [(Some("acme/web"), 300), (Some("acme/app"), 150), (None, 0)]
        );
        let platforms: Vec<(&str, u64)> = report
            .by_platform
            .iter()
            .map(|p| (p.platform.as_str(), p.total.sessions))
            .collect();
        assert_eq!(platforms, [("slack", 3), ("notion", 1)]);
        let people: Vec<(&str, &str, &str, u64)> = report
            .by_person
            .iter()
            .map(|p| {
                (
                    p.platform.as_str(),
                    p.id.as_str(),
                    p.name.as_str(),
                    p.total.cost_micros,
                )
            })
            .collect();
        assert_eq!(
            people,
            [
                ("slack", "U1", "Ada L.", 400),
                ("notion", "U1", "Notion Ada", 50),
                ("slack", "U2", "Bob", 0)
            ],
            "a person is their platform's, named as on their newest session"
        );
        let json = serde_json::to_value(&report.by_day[0]).unwrap();
        assert_eq!(json["day"], "2026-12-01");
        assert_eq!(json["cost_micros"], 400);
        assert_eq!(spending(&[]), Spending::default());
    }
}
