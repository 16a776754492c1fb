//! Where the work that follows an answer runs: reactions, a thread's acknowledgement,
//! the sessions themselves.
//!
//! A platform times its webhook's answer (Slack retries after 3 s, GitHub gives up
//! after 10 s) but not the reaction or the status message that follow. So `lucid
//! serve` gives that follow-up work a runtime of its own whose threads the kernel
//! schedules behind the HTTP server's (a higher nice value): under a burst of webhooks
//! the answers go first and the follow-ups catch up right after, instead of both
//! queueing for the same threads. When the machine is not busy the two runtimes share
//! it as equals.
//!
//! Code outside `lucid serve` (tests, `lucid run`) has no such runtime, and
//! [`spawn`] falls back to the current one.

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

/// How much lower the background threads' priority is: nice 10 weighs about a tenth
/// of nice 0 when both want the CPU.
pub const NICENESS: i32 = 10;

static BACKGROUND: OnceLock<Handle> = OnceLock::new();

thread_local! {
    /// Set on the background runtime's threads.
    static ON_BACKGROUND_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Starts the background runtime; [`spawn`] uses it from now on. The caller keeps
/// the runtime alive (and drops it outside any async context).
pub fn start() -> std::io::Result<Runtime> {
    let runtime = build()?;
    let _ = BACKGROUND.set(runtime.handle().clone());
    Ok(runtime)
}

/// A runtime like the background one, not registered for [`spawn`]: for anything else
/// that must stand back for the answers (the benchmarks' fake platforms).
pub fn build() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("lucid-background")
        .on_thread_start(|| {
            ON_BACKGROUND_THREAD.set(true);
            lower_this_threads_priority();
        })
        .enable_all()
        .build()
}

/// Runs `work` on the background runtime, or on the current one if there is none.
pub fn spawn<F>(work: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match BACKGROUND.get() {
        Some(background) => background.spawn(work),
        None => tokio::spawn(work),
    }
}

/// At most this many follow-ups (a reaction, a new session's acknowledgement, a short
/// answer in a thread) wait on their platforms at once. With a platform down each
/// would wait out its retries, so under a flood of requests they would pile up in
/// memory without end; past this many, a follow-up is dropped instead: the session's
/// thread is caught up from its event log when its worker writes it, and a refusal
/// or a reaction is only the courtesy it was.
pub const MOST_FOLLOW_UPS: usize = 1024;

static FOLLOW_UPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MOST_FOLLOW_UPS);
static FOLLOW_UPS_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `work` on the background runtime unless [`MOST_FOLLOW_UPS`] are waiting
/// already; answers whether it runs. `what` names it in the log when it is dropped.
pub fn spawn_follow_up<F>(what: &'static str, work: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    match FOLLOW_UPS.try_acquire() {
        Ok(permit) => {
            spawn(async move {
                work.await;
                drop(permit);
            });
            true
        }
        Err(_) => {
            let dropped = FOLLOW_UPS_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            // One line per thousand, not one per request of a flood.
            if dropped % 1000 == 1 {
                tracing::warn!(
                    what,
                    dropped,
                    "too many follow-ups wait on their platforms: dropped"
                );
            }
            false
        }
    }
}

/// Follow-ups waiting on their platforms now, and how many were dropped so far.
pub fn follow_ups() -> (usize, u64) {
    (
        MOST_FOLLOW_UPS - FOLLOW_UPS.available_permits(),
        FOLLOW_UPS_DROPPED.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Whether the caller runs on a background thread: one that the kernel may leave
/// waiting while the HTTP server's threads are busy, so it must not hold anything
/// those threads wait for (the store hands its writes to the store's own runtime).
pub fn on_background_thread() -> bool {
    ON_BACKGROUND_THREAD.get()
}

/// On Linux the nice value belongs to each thread, and a thread's children inherit it
/// (the runtime's blocking threads, sqlx's SQLite threads opened from here).
fn lower_this_threads_priority() {
    // SAFETY: setpriority(2) on the calling thread (its tid); raising one's own nice
    // value needs no privilege, and a failure only leaves the priority as it was.
    let failed =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) }
            != 0;
    if failed {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not lower a background thread's priority"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_threads_niceness() -> i32 {
        // SAFETY: getpriority(2) on the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn background_threads_run_at_a_lower_priority() {
        // Not `start`: the process-wide handle would outlive this test's runtime.
        let runtime = build().unwrap();
        let (background, flagged) = runtime
            .block_on(runtime.spawn(async { (this_threads_niceness(), on_background_thread()) }))
            .unwrap();
        assert_eq!(background, (this_threads_niceness() + NICENESS).min(19));
        assert!(flagged && !on_background_thread());
    }
}
