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
