//! The database away for a while (PostgreSQL down or cut off, SQLite's write lock
//! held by another process): requests are answered "unavailable" at once rather than
//! each waiting out its own timeout, and a worker's writes wait for the store to come
//! back rather than failing the session.

use super::{Store, StoreError};
use sqlx::{AnyConnection, Connection};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long after the store last failed a request is refused at once, without
/// trying: long enough that a burst of webhooks does not queue behind one attempt
/// after another, short enough that the first request after the store is back is
/// not refused for long.
const REFUSED_FOR: Duration = Duration::from_secs(1);

/// After that, one request at a time tries the store (the others are refused), for
/// at most this long: a try that never says how it went (its client went away)
/// lets the next one try.
const TRIAL_FOR: Duration = Duration::from_secs(5);

/// How long a worker's write waits for the store to come back, unless the worker
/// says otherwise (see [`Store::wait_out_outages_for`]): half the default lease.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(15);

/// The longest pause between two tries of a waiting write.
const MOST_BETWEEN_TRIES: Duration = Duration::from_secs(1);

/// What this process knows of the database's availability.
pub(super) struct Availability {
    origin: Instant,
    /// When the store last failed, in milliseconds after `origin` (0: it answered
    /// since).
    failed_at: AtomicU64,
    /// When the request now trying the store began (0: none is).
    trial_at: AtomicU64,
    /// Writes waiting for the store to come back: while any waits, it is away.
    waiting: AtomicUsize,
    /// How long a write waits for the store, in milliseconds.
    patience: AtomicU64,
    /// Told each time the store is found away, so requests waiting on it give up.
    news: Notify,
}

impl Availability {
    pub(super) fn new() -> Self {
        Self {
            origin: Instant::now(),
            failed_at: AtomicU64::new(0),
            trial_at: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            patience: AtomicU64::new(OUTAGE_PATIENCE.as_millis() as u64),
            news: Notify::new(),
        }
    }

    fn now_millis(&self) -> u64 {
        // Never 0, which means "no failure".
        u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn refuses(&self) -> bool {
        self.refuses_at(self.now_millis())
    }

    /// Whether a request at `now` (milliseconds after `origin`) is refused without
    /// trying the store; one that is not, after a failure, is the one trying it.
    fn refuses_at(&self, now: u64) -> bool {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            return true;
        }
        let failed_at = self.failed_at.load(Ordering::SeqCst);
        if failed_at == 0 {
            return false;
        }
        if now.saturating_sub(failed_at) < REFUSED_FOR.as_millis() as u64 {
            return true;
        }
        let trial_at = self.trial_at.load(Ordering::SeqCst);
        let trying = trial_at != 0 && now.saturating_sub(trial_at) < TRIAL_FOR.as_millis() as u64;
        trying
            || self
                .trial_at
                .compare_exchange(trial_at, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
    }

    /// Answers whether the store was answering until now.
    fn failed(&self) -> bool {
        self.trial_at.store(0, Ordering::SeqCst);
        let was_answering = self.failed_at.swap(self.now_millis(), Ordering::SeqCst) == 0;
        self.news.notify_waiters();
        was_answering
    }

    /// The store was found away (`e` says how): says so once per outage.
    fn found_away(&self, e: &dyn std::fmt::Display) {
        if self.failed() {
            tracing::warn!(error = %e, "the store is unavailable: requests get 503 until it answers");
        }
    }

    fn answered(&self) {
        if self.failed_at.load(Ordering::SeqCst) != 0 {
            self.failed_at.store(0, Ordering::SeqCst);
            self.trial_at.store(0, Ordering::SeqCst);
        }
    }
}

/// Counts a write as waiting while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Store {
    /// How long a write waits out an outage (see [`Store::outlasting`]). A worker
    /// sets half its lease (renewed every third of it): a run that waited out an
    /// outage then still holds its session when the store answers again, and no
    /// other replica can have taken it over meanwhile.
    pub fn wait_out_outages_for(&self, patience: Duration) {
        let millis = u64::try_from(patience.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .availability
            .patience
            .store(millis, Ordering::SeqCst);
    }

    /// `Err(Unavailable)` when the store failed a moment ago, another request is
    /// trying it, or a write is waiting for it: a request is then refused at once
    /// (the platform sends it again) instead of waiting out a timeout of its own.
    /// After a failure, the request let through is the one that tries the store:
    /// say how it went with [`Store::note`].
    pub fn ensure_available(&self) -> Result<(), StoreError> {
        if self.inner.availability.refuses() {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    /// Runs `request` unless the store is away (see [`Store::ensure_available`]),
    /// and answers `Unavailable` as soon as the store is found away while it runs
    /// (by another request, or the probe), rather than let it wait out its own
    /// timeout. Cut short, `request` has written nothing or all of what it writes
    /// (each write is one transaction), so the platform's retry is safe.
    pub async fn unless_away<T, E: From<StoreError>>(
        &self,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let found_away = self.inner.availability.news.notified();
        tokio::pin!(found_away);
        found_away.as_mut().enable();
        self.ensure_available()?;
        tokio::select! {
            biased;
            done = request => done,
            () = found_away => Err(StoreError::Unavailable.into()),
        }
    }

    /// Notes how a request to the store went (`failure`: the store's error, if it
    /// failed): one that shows the store away (not merely busy) refuses the next
    /// requests for a moment, an answer lets them through.
    pub fn note(&self, failure: Option<&StoreError>) {
        match failure {
            None => self.inner.availability.answered(),
            Some(e) if e.shows_outage() => self.inner.availability.found_away(e),
            Some(_) => {}
        }
    }

    /// Runs `op` until it succeeds, fails for another reason than the store being
    /// unavailable, or the store has been unavailable for the patience set (see
    /// [`Store::wait_out_outages_for`]): what a worker writes waits out an outage
    /// instead of failing its session. `op` may
    /// run more than once, so it must be whole in itself (one transaction).
    pub async fn outlasting<T, Tried>(&self, mut op: impl FnMut() -> Tried) -> Result<T, StoreError>
    where
        Tried: Future<Output = Result<T, StoreError>>,
    {
        let availability = &self.inner.availability;
        let patience = Duration::from_millis(availability.patience.load(Ordering::SeqCst));
        let began = Instant::now();
        let mut pause = Duration::from_millis(100);
        let mut waiting = None;
        loop {
            let result = op().await;
            self.note(result.as_ref().err());
            match result {
                Err(e) if e.is_unavailable() && began.elapsed() < patience => {
                    // Only an outage holds the requests back: a busy pool is load.
                    if waiting.is_none() && e.shows_outage() {
                        tracing::warn!(error = %e, "the store is unavailable; waiting for it");
                        waiting = Some(Waiting::new(&availability.waiting));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MOST_BETWEEN_TRIES);
                }
                Ok(value) => {
                    if waiting.is_some() {
                        tracing::info!(waited = ?began.elapsed(), "the store is back");
                    }
                    return Ok(value);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How often PostgreSQL is asked whether it answers.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long the question may take; a slower answer is load, not an outage.
const PROBE_WITHIN: Duration = Duration::from_secs(3);

/// Asks PostgreSQL `SELECT 1` every second over a connection of its own (outside
/// the pool, whose requests keep trying to connect until their own timeout): a
/// connection refused or cut says the server is away within a second, and its
/// answer that it is back. A slow answer, or a server with too many connections,
/// says neither. Ends with the store.
pub(super) async fn probe_postgres(store: std::sync::Weak<super::Inner>, url: String) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn: Option<AnyConnection> = None;
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        if inner.pool.is_closed() {
            return;
        }
        let asked = tokio::time::timeout(PROBE_WITHIN, async {
            if conn.is_none() {
                conn = Some(AnyConnection::connect(&url).await?);
            }
            let conn = conn.as_mut().expect("connected above");
            sqlx::query("SELECT 1").execute(conn).await.map(drop)
        });
        match asked.await {
            Ok(Ok(())) => inner.availability.answered(),
            Ok(Err(e)) => {
                conn = None;
                if super::error::shows_outage(&e) {
                    inner.availability.found_away(&e);
                }
            }
            Err(_) => conn = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_refuses_for_a_moment_and_an_answer_lets_requests_through_again() {
        let availability = Availability::new();
        assert!(!availability.refuses());
        availability.failed();
        assert!(availability.refuses());
        availability.answered();
        assert!(!availability.refuses());
        // A write waiting for the store keeps it away, whatever answered meanwhile.
        let waiting = Waiting::new(&availability.waiting);
        assert!(availability.refuses());
        drop(waiting);
        assert!(!availability.refuses());
    }

    #[test]
    fn after_the_moment_one_request_at_a_time_tries_the_store() {
        let availability = Availability::new();
        availability.failed();
        let failed_at = availability.failed_at.load(Ordering::SeqCst);
        let (refused_for, trial_for) =
            (REFUSED_FOR.as_millis() as u64, TRIAL_FOR.as_millis() as u64);
        assert!(availability.refuses_at(failed_at + refused_for - 1));
        let then = failed_at + refused_for;
        assert!(!availability.refuses_at(then), "one tries");
        assert!(availability.refuses_at(then + 1), "the others wait for it");
        // A try that never said how it went lets the next one try.
        assert!(!availability.refuses_at(then + trial_for));
        assert!(availability.refuses_at(then + trial_for + 1));
        // It failed: refused for a moment again, then one tries again.
        availability
            .failed_at
            .store(then + trial_for + 2, Ordering::SeqCst);
        availability.trial_at.store(0, Ordering::SeqCst);
        assert!(availability.refuses_at(then + trial_for + 3));
        assert!(!availability.refuses_at(then + trial_for + 2 + refused_for));
    }
}
