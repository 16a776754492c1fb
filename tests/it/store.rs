//! The store's contract, run against SQLite and against a real PostgreSQL server.

use crate::harness::{Backend, migrated_store, new_session, on_both_stores, trigger, trigger_in};
use lucid::core::{EventBody, SessionState, ThreadRef, Timestamp, Usage};
use lucid::store::crypto::{OpenError, SecretKey};
use lucid::store::{Recorded, Serves, SessionFilter, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::time::Duration;

/// What a worker serving GitHub, as a platform and a forge, claims.
fn github() -> Serves {
    serves(&["github"], &["github"])
}

fn serves(platforms: &[&str], forges: &[&str]) -> Serves {
    Serves {
        platforms: platforms
            .iter()
            .map(|p| lucid::core::Platform::parse(p).unwrap())
            .collect(),
        forges: forges.iter().map(|f| f.to_string()).collect(),
    }
}

on_both_stores!(
    a_trigger_becomes_a_queued_session_with_its_first_event,
    the_same_delivery_twice_creates_one_session,
    the_same_delivery_sent_concurrently_creates_one_session,
    the_same_delivery_id_on_two_platforms_is_two_deliveries,
    two_claimers_one_winner,
    many_claimers_never_share_a_session,
    an_expired_lease_can_be_reclaimed_and_the_old_owner_loses_it,
    transitions_follow_the_state_machine_and_are_logged,
    only_the_lease_holder_may_move_a_leased_session,
    events_are_numbered_without_gaps_even_when_appended_concurrently,
    usage_events_update_the_session_totals,
    sessions_list_newest_first_filtered_and_paged,
    a_thread_maps_to_its_newest_session,
    credentials_are_sealed_and_a_wrong_key_is_a_clear_error,
    migrations_are_tracked_and_idempotent,
    acknowledged_sessions_survive_a_restart,
    a_question_waits_in_its_thread_and_is_asked_once_per_delivery,
    a_session_or_a_question_moves_to_its_real_thread,
    a_note_is_logged_without_resuming_and_a_mention_resumes,
    thread_messages_written_at_once_all_land_and_a_bad_one_fails_alone,
    a_worker_claims_only_the_platforms_it_serves_and_the_rest_wait,
    a_title_is_kept_as_data,
    a_threads_state_is_read_at_once,
    an_event_kept_in_the_inbox_waits_until_done_and_is_kept_once,
    a_mark_is_kept_and_replaced,
    a_held_request_is_kept_once_claimed_by_one_and_released,
);

async fn a_held_request_is_kept_once_claimed_by_one_and_released(backend: Backend) {
    use lucid::core::{DeliveryId, Platform};
    use lucid::store::{DeliveryAction, HeldRequest};
    let (store, _db) = migrated_store(backend).await;
    let now = Timestamp::now();
    let held = HeldRequest {
        platform: Platform::GITHUB,
        delivery: DeliveryId::parse("d-held").unwrap(),
        intent: "{}".into(),
        policy: "{}".into(),
        forge: "github".into(),
        login: "ada".into(),
        attempts: 0,
        created_at: now,
    };
    assert!(store.hold_request(&held, now).await.unwrap());
    assert!(!store.hold_request(&held, now).await.unwrap(), "held twice");
    assert!(store.is_held(&held.platform, &held.delivery).await.unwrap());

    // Two replicas claim at once: one gets it.
    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(
        store.claim_held(now, lease, 10),
        store.claim_held(now, lease, 10)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 1, "{a:?} {b:?}");
    // Claimed, it is not due again until its lease ends.
    assert!(store.claim_held(now, lease, 10).await.unwrap().is_empty());

    // Deferred: counted, due at its new time.
    let later = now.plus(Duration::from_secs(5));
    store
        .defer_held(&held, later, "GitHub answered 503")
        .await
        .unwrap();
    assert!(store.claim_held(now, lease, 10).await.unwrap().is_empty());
    let again = store.claim_held(later, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(
        (again[0].login.as_str(), again[0].forge.as_str()),
        ("ada", "github")
    );

    store.release_held(&held).await.unwrap();
    assert!(!store.is_held(&held.platform, &held.delivery).await.unwrap());
    // A delivery decided already is not held again.
    store
        .record_delivery(
            held.platform.clone(),
            &held.delivery,
            DeliveryAction::Nothing,
        )
        .await
        .unwrap();
    assert!(!store.hold_request(&held, now).await.unwrap());
}

async fn an_event_kept_in_the_inbox_waits_until_done_and_is_kept_once(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let notion = lucid::core::Platform::NOTION;
    assert!(
        store
            .put_in_inbox(&notion, "e1", "p1", "page")
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_in_inbox(&notion, "e1", "p1", "page")
            .await
            .unwrap(),
        "a redelivery"
    );
    assert!(
        store
            .put_in_inbox(&notion, "e2", "p1", "page")
            .await
            .unwrap()
    );
    assert!(
        store
            .put_in_inbox(&notion, "e3", "c1/p2", "comment")
            .await
            .unwrap()
    );
    // Another platform's events are its own.
    let toy = lucid::core::Platform::parse("toy").unwrap();
    assert!(store.put_in_inbox(&toy, "e1", "x", "page").await.unwrap());
    let waiting = store.inbox(&notion, 10).await.unwrap();
    let ids: Vec<&str> = waiting.iter().map(|i| i.delivery.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"]);
    assert_eq!(waiting[2].subject, "c1/p2");
    // The page was read after both its events: both are done; the comment waits.
    let read_at = Timestamp::now();
    let done = store
        .inbox_done_about(&notion, "page", "p1", read_at)
        .await
        .unwrap();
    assert_eq!(done, 2);
    let waiting = store.inbox(&notion, 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    store.inbox_done(&notion, &["e3".to_owned()]).await.unwrap();
    assert!(store.inbox(&notion, 10).await.unwrap().is_empty());
    // Done, it is still known: a redelivery is not kept again.
    assert!(
        !store
            .put_in_inbox(&notion, "e3", "c1/p2", "comment")
            .await
            .unwrap()
    );
    assert_eq!(store.inbox(&toy, 10).await.unwrap().len(), 1);
}

async fn a_mark_is_kept_and_replaced(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let notion = lucid::core::Platform::NOTION;
    assert_eq!(store.mark(&notion, "poll:ds").await.unwrap(), None);
    store
        .set_mark(&notion, "poll:ds", "2026-12-01T10:04:00.000Z")
        .await
        .unwrap();
    store
        .set_mark(&notion, "poll:ds", "2026-12-01T10:05:00.000Z")
        .await
        .unwrap();
    assert_eq!(
        store.mark(&notion, "poll:ds").await.unwrap().as_deref(),
        Some("2026-12-01T10:05:00.000Z")
    );
}

async fn a_threads_state_is_read_at_once(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let slack = |ts: &str| ThreadRef::Slack {
        team: "T1".into(),
        channel: "C1".into(),
        thread_ts: ts.into(),
    };
    // Nothing there.
    let empty = store.thread_state(&slack("1.0")).await.unwrap();
    assert_eq!(empty, lucid::core::ThreadState::default());
    // A question waiting.
    let asked = trigger_in(slack("2.0"), "d-ask");
    store
        .record_question(&asked.delivery, &asked)
        .await
        .unwrap();
    let waiting = store.thread_state(&slack("2.0")).await.unwrap();
    assert_eq!(waiting.session, None);
    assert_eq!(waiting.question, Some(asked));
    // A session, with its state as it is now.
    let Recorded::Created(session) = store
        .record_trigger(trigger_in(slack("3.0"), "d-start"))
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    store
        .transition(session.id, SessionState::Cancelled, None, None)
        .await
        .unwrap();
    let running = store.thread_state(&slack("3.0")).await.unwrap();
    assert_eq!(running.session, Some((session.id, SessionState::Cancelled)));
    assert_eq!(running.question, None);
}

async fn a_worker_claims_only_the_platforms_it_serves_and_the_rest_wait(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let toy = lucid::core::Platform::parse("toy").unwrap();
    let thread = ThreadRef::Other {
        platform: toy.clone(),
        place: "room/1".into(),
    };
    let recorded = store
        .record_trigger(trigger_in(thread, "d-toy"))
        .await
        .unwrap();
    let Recorded::Created(waiting) = recorded else {
        panic!("not created")
    };
    let now = Timestamp::now();
    let ttl = Duration::from_secs(30);
    let claim = async |serving: Serves| {
        store
            .claim_next("w", ttl, now, &serving)
            .await
            .unwrap()
            .map(|s| s.id)
    };
    assert_eq!(claim(serves(&["slack"], &["github"])).await, None);
    assert_eq!(claim(Serves::default()).await, None);
    // A name that contains another's is not that other.
    assert_eq!(claim(serves(&["toys"], &["github"])).await, None);
    // The platform but not the repository's forge (acme/app is on GitHub).
    assert_eq!(claim(serves(&["toy"], &["gitlab"])).await, None);
    // Waiting, not dropped: counted for the worker to say so.
    let slack_only = serves(&["slack"], &["github"]);
    assert_eq!(store.count_unserved(&slack_only).await.unwrap(), 1);
    assert_eq!(
        store.count_unserved(&serves(&["toy"], &[])).await.unwrap(),
        1
    );
    assert_eq!(
        store.session(waiting.id).await.unwrap().unwrap().state,
        SessionState::Queued
    );
    let both = serves(&["slack", "toy"], &["gitlab", "github"]);
    assert_eq!(store.count_unserved(&both).await.unwrap(), 0);
    assert_eq!(claim(both).await, Some(waiting.id));
    let claimed = store.session(waiting.id).await.unwrap().unwrap();
    assert_eq!(claimed.trigger.thread.platform(), toy);
}

async fn a_title_is_kept_as_data(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let trigger = lucid::core::Trigger {
        title: Some("add() subtracts".into()),
        ..trigger("d-title")
    };
    let Recorded::Created(session) = store.record_trigger(trigger).await.unwrap() else {
        panic!("not created")
    };
    let read = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(read.trigger.title.as_deref(), Some("add() subtracts"));
    let untitled = new_session(&store, "d-untitled").await;
    let read = store.session(untitled.id).await.unwrap().unwrap();
    assert_eq!(read.trigger.title, None);
}

async fn thread_messages_written_at_once_all_land_and_a_bad_one_fails_alone(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let mut sessions = Vec::new();
    for i in 0..40 {
        sessions.push(new_session(&store, &format!("d-tm-{i}")).await.id);
    }
    // A session that does not exist: its row breaks the foreign key.
    let stranger = lucid::core::SessionId::new();
    let writes = sessions
        .iter()
        .chain([&stranger])
        .enumerate()
        .map(|(i, id)| {
            let store = store.clone();
            let id = *id;
            tokio::spawn(async move {
                store
                    .set_thread_message(id, "status", &format!("ts-{i}"))
                    .await
            })
        });
    let results: Vec<_> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        results.last().unwrap().is_err(),
        "a row for no session was written"
    );
    assert!(results[..40].iter().all(Result::is_ok), "{results:?}");
    for (i, id) in sessions.iter().enumerate() {
        let ts = store.thread_message(*id, "status").await.unwrap();
        assert_eq!(ts.as_deref(), Some(format!("ts-{i}").as_str()));
    }
    // Written again, it is replaced.
    store
        .set_thread_message(sessions[0], "status", "ts-new")
        .await
        .unwrap();
    assert_eq!(
        store
            .thread_message(sessions[0], "status")
            .await
            .unwrap()
            .as_deref(),
        Some("ts-new")
    );
}

async fn a_question_waits_in_its_thread_and_is_asked_once_per_delivery(backend: Backend) {
    use lucid::store::Delivered;
    let (store, _db) = migrated_store(backend).await;
    let thread = ThreadRef::Slack {
        team: "T1".into(),
        channel: "C1".into(),
        thread_ts: "1.1".into(),
    };
    let mut asked = trigger_in(thread.clone(), "Ev-ask");
    asked.repo = None;
    assert_eq!(store.open_question(&thread).await.unwrap(), None);
    let first = store
        .record_question(&asked.delivery, &asked)
        .await
        .unwrap();
    assert_eq!(first, Delivered::New { resumed: false });
    let again = store
        .record_question(&asked.delivery, &asked)
        .await
        .unwrap();
    assert_eq!(again, Delivered::Duplicate);
    assert_eq!(store.open_question(&thread).await.unwrap(), Some(asked));
    // No session until the answer.
    assert!(store.session_for_thread(&thread).await.unwrap().is_none());
    store.close_question(&thread).await.unwrap();
    assert_eq!(store.open_question(&thread).await.unwrap(), None);
}

async fn a_note_is_logged_without_resuming_and_a_mention_resumes(backend: Backend) {
    use lucid::core::DeliveryId;
    use lucid::core::Platform;
    use lucid::store::{Delivered, DeliveryAction};
    let (store, _db) = migrated_store(backend).await;
    let session = new_session(&store, "d-note").await;
    store
        .transition(
            session.id,
            SessionState::Cancelled,
            Some("stopped".into()),
            None,
        )
        .await
        .unwrap();
    let note = DeliveryAction::Note {
        session: session.id,
        author: "U1".into(),
        text: "thanks!".into(),
    };
    let id = DeliveryId::parse("Ev-note").unwrap();
    let noted = store
        .record_delivery(Platform::SLACK, &id, note.clone())
        .await
        .unwrap();
    assert_eq!(noted, Delivered::New { resumed: false });
    assert_eq!(
        store
            .record_delivery(Platform::SLACK, &id, note)
            .await
            .unwrap(),
        Delivered::Duplicate
    );
    let now = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(
        now.state,
        SessionState::Cancelled,
        "a note resumed the session"
    );
    let said = DeliveryAction::Say {
        session: session.id,
        author: "U1".into(),
        text: "one more thing".into(),
    };
    let id = DeliveryId::parse("Ev-say").unwrap();
    let resumed = store
        .record_delivery(Platform::SLACK, &id, said)
        .await
        .unwrap();
    assert_eq!(resumed, Delivered::New { resumed: true });
    let events = store.events_after(session.id, 0, 100).await.unwrap();
    let messages: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserMessage { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["thanks!", "one more thing"]);
}

async fn a_trigger_becomes_a_queued_session_with_its_first_event(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let created = new_session(&store, "d-1").await;
    let loaded = store.session(created.id).await.unwrap().unwrap();
    assert_eq!(loaded, created);
    assert_eq!(loaded.state, SessionState::Queued);
    let events = store.events_after(created.id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(
        events[0].body,
        EventBody::Status {
            state: SessionState::Queued,
            message: None
        }
    );
}

async fn the_same_delivery_twice_creates_one_session(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let first = new_session(&store, "d-dup").await;
    match store.record_trigger(trigger("d-dup")).await.unwrap() {
        Recorded::Duplicate { session } => assert_eq!(session, Some(first.id)),
        Recorded::Created(_) => panic!("a retried delivery made a second session"),
    }
    let all = store.list_sessions(&page(100)).await.unwrap();
    assert_eq!(all.len(), 1);
}

async fn the_same_delivery_sent_concurrently_creates_one_session(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.record_trigger(trigger("d-race")).await.unwrap() })
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .into_iter()
        .filter(|r| matches!(r.as_ref().unwrap(), Recorded::Created(_)))
        .count();
    assert_eq!(created, 1);
    assert_eq!(store.list_sessions(&page(100)).await.unwrap().len(), 1);
}

async fn the_same_delivery_id_on_two_platforms_is_two_deliveries(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    new_session(&store, "same-id").await;
    let slack = ThreadRef::Slack {
        team: "T1".into(),
        channel: "C1".into(),
        thread_ts: "1.2".into(),
    };
    let recorded = store
        .record_trigger(trigger_in(slack, "same-id"))
        .await
        .unwrap();
    assert!(matches!(recorded, Recorded::Created(_)));
}

async fn two_claimers_one_winner(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let session = new_session(&store, "d-claim").await;
    let now = Timestamp::now();
    let claim = |owner: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_next(owner, Duration::from_secs(30), now, &github())
                .await
                .unwrap()
        })
    };
    let (a, b) = tokio::join!(claim("worker-a"), claim("worker-b"));
    let winners: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "{winners:#?}");
    assert_eq!(winners[0].id, session.id);
    let lease = winners[0].lease.clone().unwrap();
    assert!(["worker-a", "worker-b"].contains(&lease.owner.as_str()));
    assert_eq!(lease.expires_at, now.plus(Duration::from_secs(30)));
}

async fn many_claimers_never_share_a_session(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let mut expected = HashSet::new();
    for i in 0..20 {
        expected.insert(new_session(&store, &format!("d-{i}")).await.id);
    }
    let now = Timestamp::now();
    let workers = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            while let Some(s) = store
                .claim_next(&owner, Duration::from_secs(60), now, &github())
                .await
                .unwrap()
            {
                mine.push(s.id);
            }
            mine
        })
    });
    let mut claimed = Vec::new();
    for worker in futures::future::join_all(workers).await {
        claimed.extend(worker.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        20,
        "some session was claimed twice or not at all"
    );
    assert_eq!(unique, expected);
}

async fn an_expired_lease_can_be_reclaimed_and_the_old_owner_loses_it(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let session = new_session(&store, "d-lease").await;
    let ttl = Duration::from_secs(30);
    let t0 = Timestamp::now();
    store
        .claim_next("old", ttl, t0, &github())
        .await
        .unwrap()
        .unwrap();
    store
        .transition(session.id, SessionState::Provisioning, None, Some("old"))
        .await
        .unwrap();

    let before_expiry = t0.plus(ttl - Duration::from_millis(1));
    assert!(
        store
            .claim_next("new", ttl, before_expiry, &github())
            .await
            .unwrap()
            .is_none()
    );

    let after_expiry = t0.plus(ttl);
    let taken = store
        .claim_next("new", ttl, after_expiry, &github())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, session.id);
    assert_eq!(taken.state, SessionState::Provisioning);
    assert_eq!(taken.lease.unwrap().owner, "new");

    assert!(
        !store
            .renew_lease(session.id, "old", ttl, after_expiry)
            .await
            .unwrap()
    );
    assert!(
        store
            .renew_lease(session.id, "new", ttl, after_expiry)
            .await
            .unwrap()
    );
}

async fn transitions_follow_the_state_machine_and_are_logged(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let s = new_session(&store, "d-fsm").await;
    let err = store
        .transition(s.id, SessionState::Completed, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Queued
    );

    for to in [SessionState::Provisioning, SessionState::Running] {
        store.transition(s.id, to, None, None).await.unwrap();
    }
    let done = store
        .transition(
            s.id,
            SessionState::Failed,
            Some("the model's key was refused".into()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.reason.as_deref(), Some("the model's key was refused"));
    assert!(done.lease.is_none());

    let states: Vec<_> = store
        .events_after(s.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.body {
            EventBody::Status { state, .. } => state,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    use SessionState::*;
    assert_eq!(states, [Queued, Provisioning, Running, Failed]);

    let again = store
        .transition(s.id, Running, None, None)
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::IllegalTransition(_)));
}

async fn only_the_lease_holder_may_move_a_leased_session(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let s = new_session(&store, "d-owner").await;
    store
        .claim_next(
            "worker-a",
            Duration::from_secs(60),
            Timestamp::now(),
            &github(),
        )
        .await
        .unwrap()
        .unwrap();
    let err = store
        .transition(s.id, SessionState::Provisioning, None, Some("worker-b"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err}");
    store
        .transition(s.id, SessionState::Provisioning, None, Some("worker-a"))
        .await
        .unwrap();
}

async fn events_are_numbered_without_gaps_even_when_appended_concurrently(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let s = new_session(&store, "d-events").await;
    let appends = (0..40).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_event(
                    s.id,
                    EventBody::Thought {
                        text: format!("step {i}"),
                    },
                )
                .await
                .unwrap()
        })
    });
    for append in futures::future::join_all(appends).await {
        append.unwrap();
    }
    let events = store.events_after(s.id, 0, 1000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=41).collect::<Vec<_>>());

    let page = store.events_after(s.id, 10, 5).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [11, 12, 13, 14, 15]
    );
    assert_eq!(store.count_events().await.unwrap(), 41);
}

async fn usage_events_update_the_session_totals(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let s = new_session(&store, "d-usage").await;
    let usage = Usage {
        tokens_in: 1200,
        tokens_out: 340,
        cost_micros: 5_600,
    };
    store
        .append_event(s.id, EventBody::usage(usage))
        .await
        .unwrap();
    assert_eq!(store.session(s.id).await.unwrap().unwrap().usage, usage);
}

async fn sessions_list_newest_first_filtered_and_paged(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(new_session(&store, &format!("d-list-{i}")).await.id);
    }
    store
        .transition(ids[1], SessionState::Cancelled, None, None)
        .await
        .unwrap();

    let first = store.list_sessions(&page(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let second = store
        .list_sessions(&SessionFilter {
            before: Some(ids[3]),
            ..page(10)
        })
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]]
    );
    let cancelled = store
        .list_sessions(&SessionFilter {
            state: Some(SessionState::Cancelled),
            ..page(10)
        })
        .await
        .unwrap();
    assert_eq!(cancelled.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[1]]);

    let counts = store.count_sessions_by_state().await.unwrap();
    let count = |state| counts.iter().find(|(s, _)| *s == state).unwrap().1;
    assert_eq!(count(SessionState::Queued), 4);
    assert_eq!(count(SessionState::Cancelled), 1);
    assert_eq!(count(SessionState::Running), 0);
}

async fn a_thread_maps_to_its_newest_session(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let thread = ThreadRef::Discord {
        channel: "c".into(),
        thread: Some("t".into()),
    };
    assert_eq!(store.session_for_thread(&thread).await.unwrap(), None);
    let Recorded::Created(first) = store
        .record_trigger(trigger_in(thread.clone(), "a"))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        store.session_for_thread(&thread).await.unwrap(),
        Some(first.id)
    );
    let Recorded::Created(second) = store
        .record_trigger(trigger_in(thread.clone(), "b"))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        store.session_for_thread(&thread).await.unwrap(),
        Some(second.id)
    );
}

async fn credentials_are_sealed_and_a_wrong_key_is_a_clear_error(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let key = SecretKey::generate();
    let value = SecretString::from("ghp_supersecretvalue");
    store
        .put_credential(&key, "github-token", &value)
        .await
        .unwrap();
    let read = store
        .credential(&key, "github-token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.expose_secret(), "ghp_supersecretvalue");
    assert!(store.credential(&key, "absent").await.unwrap().is_none());

    let err = store
        .credential(&SecretKey::generate(), "github-token")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Credential(OpenError::WrongKey { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("LUCID_SECRET_KEY"), "{err}");
    assert!(!err.to_string().contains("ghp_"));
}

async fn migrations_are_tracked_and_idempotent(backend: Backend) {
    let db = crate::harness::fresh_db(backend).await;
    let store = Store::connect(&db.url).await.unwrap();
    let (applied, known) = store.migration_status().await.unwrap();
    assert_eq!(applied, 0);
    assert!(known >= 1);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.migration_status().await.unwrap(), (known, known));
}

async fn acknowledged_sessions_survive_a_restart(backend: Backend) {
    let (store, db) = migrated_store(backend).await;
    let s = new_session(&store, "d-durable").await;
    store.close().await;
    drop(store);
    let reopened = Store::connect(&db.url).await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.session(s.id).await.unwrap().unwrap().id, s.id);
    assert!(matches!(
        reopened.record_trigger(trigger("d-durable")).await.unwrap(),
        Recorded::Duplicate { .. }
    ));
}

fn page(limit: u32) -> SessionFilter {
    SessionFilter {
        limit,
        ..SessionFilter::default()
    }
}

/// SQLite's write-ahead log only starts over when a write begins after a checkpoint
/// copied all of it; under writes that never pause no checkpoint catches up by
/// itself, and the log file grew without end (25 MB a second under the webhook
/// benchmark). The store must start it over anyway: the log header's checkpoint
/// sequence number counts the restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_log_starts_over_while_writes_never_pause() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let (store, db) = migrated_store(Backend::Sqlite).await;
    let path = db.url.expose().trim_start_matches("sqlite://").to_owned();
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    store
                        .record_trigger(trigger(&format!("wal-{w}-{n}")))
                        .await
                        .unwrap();
                    n += 1;
                    written.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let first = restarts(&wal);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut now = first;
    while now < first + 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = restarts(&wal);
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        now >= first + 2,
        "the log started over {} times in 60 s of {} writes that never paused",
        now - first,
        written.load(Ordering::Relaxed)
    );
}

/// The write-ahead log's checkpoint sequence number: bytes 12..16 of its header,
/// one more each time the log starts over.
fn restarts(wal: &std::path::Path) -> u32 {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(wal).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) => u32::from_be_bytes([header[12], header[13], header[14], header[15]]),
        // Not written yet.
        Err(_) => 0,
    }
}

async fn a_session_or_a_question_moves_to_its_real_thread(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let discord = |thread: &str| ThreadRef::Discord {
        channel: "1".into(),
        thread: Some(thread.into()),
    };
    // A session: both keys lead to it, and it lives in the real thread.
    let session = match store
        .record_trigger(trigger_in(discord("i10"), "10"))
        .await
        .unwrap()
    {
        lucid::store::Recorded::Created(session) => session.id,
        other => panic!("{other:?}"),
    };
    store
        .move_thread(&discord("i10"), &discord("11"))
        .await
        .unwrap();
    let moved = store.session(session).await.unwrap().unwrap();
    assert_eq!(moved.trigger.thread, discord("11"));
    assert_eq!(
        store.session_for_thread(&discord("11")).await.unwrap(),
        Some(session)
    );
    // A question: the answer in the real thread finds it.
    let mut asked = trigger_in(discord("i20"), "20");
    asked.repo = None;
    store
        .record_question(&asked.delivery, &asked)
        .await
        .unwrap();
    store
        .move_thread(&discord("i20"), &discord("21"))
        .await
        .unwrap();
    assert_eq!(store.open_question(&discord("i20")).await.unwrap(), None);
    let waiting = store.open_question(&discord("21")).await.unwrap().unwrap();
    assert_eq!(waiting.thread, discord("21"));
    // Nothing there: nothing moves, nothing fails.
    store
        .move_thread(&discord("i30"), &discord("31"))
        .await
        .unwrap();
    assert_eq!(
        store.session_for_thread(&discord("31")).await.unwrap(),
        None
    );
}
