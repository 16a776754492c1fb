//! The store's pending thread ends (a session's end not yet in its thread), run against
//! SQLite and a real PostgreSQL server: held by the follower that writes it, given
//! the worker's lease when the session ends, claimable by a sweep only once the
//! session finished and no live hold is on it, by one claimer at a time.

use crate::harness::{Backend, migrated_store, new_session, on_both_stores};
use lucid::core::{SessionState, Timestamp};
use lucid::store::{Removed, Serves, Store};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

fn serving(platform: &str) -> Serves {
    Serves {
        platforms: vec![lucid::core::Platform::parse(platform).unwrap()],
        forges: vec!["github".into()],
    }
}

/// Claimed by a worker `w` and followed by its follower `w/f`, then finished by it.
async fn finished_by_a_worker(store: &Store, delivery: &str) -> (lucid::core::Session, Timestamp) {
    let session = new_session(store, delivery).await;
    let claimed_at = Timestamp::now();
    let claimed = store
        .claim_next("w", LEASE, claimed_at, &serving("github"))
        .await
        .unwrap()
        .expect("a queued session");
    store
        .mark_end_pending(claimed.id, "w/f", LEASE, claimed_at)
        .await
        .unwrap();
    let before_the_end = store
        .claim_pending_end(
            "sweep",
            LEASE,
            claimed_at.plus(LEASE * 3),
            &serving("github"),
        )
        .await
        .unwrap();
    assert!(before_the_end.is_none(), "a live session's end was claimed");
    for state in [
        SessionState::Provisioning,
        SessionState::Running,
        SessionState::Completed,
    ] {
        store
            .transition(claimed.id, state, None, Some("w"))
            .await
            .unwrap();
    }
    (session, claimed_at)
}

on_both_stores!(
    a_finished_sessions_end_is_claimed_once_its_writers_hold_ran_out,
    sweeps_at_once_claim_an_end_once,
    an_end_without_a_live_worker_is_claimable_at_once_and_goes_with_its_session,
);

async fn a_finished_sessions_end_is_claimed_once_its_writers_hold_ran_out(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let (session, claimed_at) = finished_by_a_worker(&store, "d-end-1").await;
    let lease_ends = claimed_at.plus(LEASE);
    let claim = |who: &'static str, at: Timestamp, platform: &'static str| {
        let store = store.clone();
        async move {
            store
                .claim_pending_end(who, LEASE, at, &serving(platform))
                .await
                .unwrap()
        }
    };
    // The worker's follower keeps the hold the session's lease had.
    assert!(claim("sweep", Timestamp::now(), "github").await.is_none());
    assert!(
        claim("sweep", lease_ends.plus(LEASE), "slack")
            .await
            .is_none()
    );
    let after = lease_ends.plus(Duration::from_millis(1));
    let claimed = claim("sweep", after, "github")
        .await
        .expect("a pending end");
    assert_eq!(claimed.session.id, session.id);
    assert_eq!(claimed.session.state, SessionState::Completed);
    let since_end = Timestamp::now().as_millis() - claimed.ended_at.as_millis();
    assert!((0..60_000).contains(&since_end), "ended {since_end} ms ago");
    // Held by the sweep now: nobody else claims it, and the first follower lost it.
    assert!(claim("other", after, "github").await.is_none());
    assert!(
        !store
            .hold_pending_end(session.id, "w/f", LEASE, after)
            .await
            .unwrap()
    );
    assert!(
        store
            .hold_pending_end(session.id, "sweep", LEASE, after)
            .await
            .unwrap()
    );
    // Only its holder clears it.
    store.clear_pending_end(session.id, "w/f").await.unwrap();
    let much_later = after.plus(LEASE * 10);
    assert!(claim("other", much_later, "github").await.is_some());
    store.clear_pending_end(session.id, "other").await.unwrap();
    assert!(
        claim("again", much_later.plus(LEASE * 10), "github")
            .await
            .is_none()
    );
}

async fn sweeps_at_once_claim_an_end_once(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let (session, claimed_at) = finished_by_a_worker(&store, "d-end-2").await;
    let after = claimed_at.plus(LEASE * 2);
    let mut sweeps = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        sweeps.spawn(async move {
            store
                .claim_pending_end(&format!("sweep-{n}"), LEASE, after, &serving("github"))
                .await
                .unwrap()
        });
    }
    let claimed: Vec<_> = sweeps.join_all().await.into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1, "{claimed:#?}");
    assert_eq!(claimed[0].session.id, session.id);
}

async fn an_end_without_a_live_worker_is_claimable_at_once_and_goes_with_its_session(
    backend: Backend,
) {
    let (store, _db) = migrated_store(backend).await;
    let session = new_session(&store, "d-end-3").await;
    let now = Timestamp::now();
    store
        .mark_end_pending(session.id, "w/f", LEASE, now)
        .await
        .unwrap();
    // Stopped from its thread while no worker ran it.
    store
        .transition(session.id, SessionState::Cancelled, None, None)
        .await
        .unwrap();
    let claimed = store
        .claim_pending_end("sweep", LEASE, Timestamp::now(), &serving("github"))
        .await
        .unwrap()
        .expect("claimable at once");
    assert_eq!(claimed.session.state, SessionState::Cancelled);
    // Let go by a lucid that stops: claimable at once again.
    store
        .release_pending_end(session.id, "sweep")
        .await
        .unwrap();
    let again = store
        .claim_pending_end("next", LEASE, Timestamp::now(), &serving("github"))
        .await
        .unwrap();
    assert!(again.is_some());
    assert_eq!(
        store.delete_finished_session(session.id).await.unwrap(),
        Removed::Deleted
    );
    let later = Timestamp::now().plus(LEASE * 10);
    let gone = store
        .claim_pending_end("sweep", LEASE, later, &serving("github"))
        .await
        .unwrap();
    assert!(gone.is_none());
}
