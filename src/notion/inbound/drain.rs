//! The inbox's reader: acts on the events the webhook kept, oldest first, after their
//! answer. Events about one page are read once (a burst of edits is one read of the
//! page as it is now). An event that cannot be acted on for a while (Notion out of
//! reach) waits in the inbox; one that never can (a page not shared) is named in the
//! log and let go, so nothing loops.

use super::reader::Read;
use super::route::{COMMENT, PAGE};
use crate::chat::Intake;
use crate::core::{Platform, Timestamp};
use crate::notion::NotionPlatform;
use crate::store::Inboxed;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How many events are read from the inbox at a time.
const BATCH: u32 = 500;
/// How often the inbox is looked at without news (another replica's events).
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// How long to wait before trying again while Notion is out of reach.
const AFTER_TROUBLE: Duration = Duration::from_secs(5);

pub async fn run(platform: Arc<NotionPlatform>, intake: Intake, stop: CancellationToken) {
    loop {
        let wait = match read_once(&platform, &intake).await {
            Ok(0) => LOOK_EVERY,
            Ok(_) => Duration::ZERO,
            Err(e) => {
                tracing::warn!(error = %e, "could not act on Notion's events yet; trying again");
                AFTER_TROUBLE
            }
        };
        if wait.is_zero() {
            if stop.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = platform.news.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Acts on one batch; answers how many events it let go.
async fn read_once(platform: &Arc<NotionPlatform>, intake: &Intake) -> anyhow::Result<usize> {
    let waiting = intake.store.inbox(&Platform::NOTION, BATCH).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    // One read per page, in the order pages first came in.
    let mut pages: BTreeMap<&str, (Timestamp, Vec<&Inboxed>)> = BTreeMap::new();
    let mut comments = Vec::new();
    for item in &waiting {
        match item.kind.as_str() {
            PAGE => {
                let entry = pages
                    .entry(item.subject.as_str())
                    .or_insert((item.received_at, Vec::new()));
                entry.1.push(item);
            }
            COMMENT => comments.push(item),
            _ => {}
        }
    }
    let mut order: Vec<_> = pages.into_iter().collect();
    order.sort_by_key(|(_, (first, _))| *first);
    let mut done = 0;
    for (page, (_, items)) in order {
        let read_at = Timestamp::now();
        let read = platform.take_page_id(intake, page).await?;
        log(page, &read);
        // Every event about the page kept before it was read, this batch's and later.
        let seen = intake
            .store
            .inbox_done_about(&Platform::NOTION, PAGE, page, read_at)
            .await?;
        done += items.len().max(seen as usize);
    }
    for item in comments {
        let (comment, page) = item.subject.split_once('/').unwrap_or((&item.subject, ""));
        let read = platform.take_comment_id(intake, comment, page).await?;
        log(page, &read);
        intake
            .store
            .inbox_done(&Platform::NOTION, std::slice::from_ref(&item.delivery))
            .await?;
        done += 1;
    }
    // Kinds lucid does not know (kept by a later version) are let go too.
    let unknown: Vec<String> = waiting
        .iter()
        .filter(|i| i.kind != PAGE && i.kind != COMMENT)
        .map(|i| i.delivery.clone())
        .collect();
    if !unknown.is_empty() {
        intake.store.inbox_done(&Platform::NOTION, &unknown).await?;
        done += unknown.len();
    }
    Ok(done)
}

fn log(page: &str, read: &Read) {
    match read {
        Read::Taken(taken) => tracing::info!(page, taken = %taken.to_json(), "Notion event taken"),
        Read::Nothing(why) => tracing::debug!(page, why, "Notion event: nothing to do"),
    }
}
