//! Polling, for deployments Notion's webhooks cannot reach (and to catch what a lost
//! webhook missed): every interval each task database is asked for the pages edited
//! since its last poll (the first time: every page in the trigger status), and each
//! is read as a webhook event would have it read. Pages whose sessions are live or
//! ended within a day have their new comments read for follow-ups. Where each
//! database's reading left off is kept in the store, so a restart misses nothing.

use super::reader::Read;
use crate::chat::Intake;
use crate::core::{Platform, Timestamp};
use crate::notion::NotionPlatform;
use crate::notion::api::Page;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How far back a session's page is still read for comments.
const COMMENTS_FOR: Duration = Duration::from_secs(24 * 3_600);
/// How many sessions' pages are read for comments in one poll, newest first.
const COMMENT_PAGES: u32 = 20;
/// At most this many pages of a query are read in one poll.
const QUERY_PAGES: usize = 20;

pub async fn run(
    platform: Arc<NotionPlatform>,
    intake: Intake,
    stop: CancellationToken,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = CommentTurn::for_interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = poll_once(&platform, &intake, &mut turn).await {
            tracing::warn!(error = %e, "could not poll Notion; trying again at the next poll");
        }
    }
}

/// Which recent sessions' pages have their comments read this poll: at most about
/// one page a second of the interval (a third of Notion's pace), taking turns, so
/// reading comments never crowds out the databases' queries and lucid's writes.
pub struct CommentTurn {
    per_poll: usize,
    next: usize,
}

impl CommentTurn {
    pub fn for_interval(every: Duration) -> CommentTurn {
        CommentTurn {
            per_poll: usize::try_from(every.as_secs())
                .unwrap_or(usize::MAX)
                .max(1),
            next: 0,
        }
    }

    /// The indexes, among `len` pages, to read now.
    fn take(&mut self, len: usize) -> Vec<usize> {
        if len == 0 {
            return Vec::new();
        }
        let start = self.next % len;
        let count = self.per_poll.min(len);
        self.next = start + count;
        (start..start + count).map(|i| i % len).collect()
    }
}

/// One poll of every database, then of recent sessions' comments.
pub async fn poll_once(
    platform: &Arc<NotionPlatform>,
    intake: &Intake,
    turn: &mut CommentTurn,
) -> anyhow::Result<()> {
    if platform.sources().is_empty() {
        platform.learn_sources().await?;
    }
    for (source, _) in platform.sources() {
        poll_source(platform, intake, &source).await?;
    }
    poll_comments(platform, intake, turn).await
}

/// The mark a data source's last poll left: the minute it began.
fn mark_name(source: &str) -> String {
    format!("poll:{source}")
}

async fn poll_source(
    platform: &Arc<NotionPlatform>,
    intake: &Intake,
    source: &str,
) -> anyhow::Result<()> {
    let started = minute_of(Timestamp::now());
    let since = intake
        .store
        .mark(&Platform::NOTION, &mark_name(source))
        .await?;
    let filter = match &since {
        // Notion keeps edit times to the minute: the minute of the last poll is read
        // again, and what was taken then is known by its delivery.
        Some(since) => json!({
            "timestamp": "last_edited_time",
            "last_edited_time": { "on_or_after": since },
        }),
        None => json!({
            "property": platform.settings.status_property,
            "status": { "equals": platform.settings.statuses.trigger },
        }),
    };
    let mut cursor: Option<String> = None;
    for _ in 0..QUERY_PAGES {
        let read_at = Timestamp::now();
        let list = platform
            .api
            .query(source, Some(filter.clone()), cursor.as_deref())
            .await?;
        for page in &list.results {
            take(platform, intake, page, read_at).await?;
        }
        cursor = list.next_cursor.filter(|_| list.has_more);
        if cursor.is_none() {
            break;
        }
    }
    intake
        .store
        .set_mark(&Platform::NOTION, &mark_name(source), &started)
        .await?;
    Ok(())
}

async fn take(
    platform: &Arc<NotionPlatform>,
    intake: &Intake,
    page: &Page,
    read_at: Timestamp,
) -> anyhow::Result<()> {
    match platform.take_page(intake, page, read_at).await? {
        Read::Taken(taken) => {
            tracing::info!(page = %page.id, taken = %taken.to_json(), "Notion page taken by a poll")
        }
        Read::Nothing(why) => tracing::debug!(page = %page.id, why, "polled page: nothing to do"),
    }
    Ok(())
}

/// New comments on the pages of live and recent sessions, the ones whose turn it is.
async fn poll_comments(
    platform: &Arc<NotionPlatform>,
    intake: &Intake,
    turn: &mut CommentTurn,
) -> anyhow::Result<()> {
    let since =
        Timestamp::from_millis(Timestamp::now().as_millis() - COMMENTS_FOR.as_millis() as i64);
    let sessions = intake
        .store
        .recent_sessions(&Platform::NOTION, since, COMMENT_PAGES)
        .await?;
    // One session per page, the newest (a page may have had several).
    let mut pages = std::collections::HashSet::new();
    let sessions: Vec<_> = sessions
        .into_iter()
        .filter(|s| {
            crate::notion::platform::page_of(&s.trigger.thread)
                .is_ok_and(|page| pages.insert(page.to_owned()))
        })
        .collect();
    for index in turn.take(sessions.len()) {
        let session = &sessions[index];
        let Ok(page) = crate::notion::platform::page_of(&session.trigger.thread) else {
            continue;
        };
        // Comments are kept to the minute: the session's minute on.
        let from = minute_of(session.created_at);
        let mut cursor: Option<String> = None;
        loop {
            let list = platform.api.comments(page, cursor.as_deref()).await?;
            for comment in list
                .results
                .iter()
                .filter(|c| c.created_time.as_str() >= from.as_str())
            {
                platform.take_comment(intake, comment, page).await?;
            }
            cursor = list.next_cursor.filter(|_| list.has_more);
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(())
}

/// `at` rounded down to its minute, as Notion writes times (`2026-12-01T10:04:00.000Z`).
fn minute_of(at: Timestamp) -> String {
    let seconds = at.as_millis().div_euclid(60_000) * 60;
    let time = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:00.000Z");
    time.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_read_in_turns_of_about_a_page_a_second() {
        let mut turn = CommentTurn::for_interval(Duration::from_secs(2));
        assert_eq!(turn.take(5), [0, 1]);
        assert_eq!(turn.take(5), [2, 3]);
        assert_eq!(turn.take(5), [4, 0]);
        assert_eq!(turn.take(1), [0]);
        assert!(turn.take(0).is_empty());
        let mut long = CommentTurn::for_interval(Duration::from_secs(30));
        assert_eq!(
            long.take(20).len(),
            20,
            "every page, when the interval allows"
        );
    }

    #[test]
    fn times_are_rounded_to_the_minute_as_notion_writes_them() {
        // 2026-12-01T10:04:59.999Z
        let at = Timestamp::from_millis(1_796_119_499_999);
        assert_eq!(minute_of(at), "2026-12-01T10:04:00.000Z");
    }
}
