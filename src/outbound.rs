//! How long lucid waits on a platform it calls (GitHub, Slack, Discord, Notion, and
//! GitHub as a linked person): every HTTP client lucid builds for them connects
//! within [`CONNECT`] and has [`request_timeout`] for a whole request, so a platform
//! that takes the connection and never answers turns into an error that the caller's
//! retry, backoff or hold handles, instead of hanging it (a worker's pull request,
//! the intake's permission check, a reply) for ever. git on the host gives up on a
//! transfer that moves nothing for as long.
//!
//! Set once at start from `LUCID_PLATFORM_TIMEOUT`; until then (and in a process that
//! never loads settings) the default holds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest wait for a connection to a platform (less when a whole request may
/// take less).
pub const CONNECT: Duration = Duration::from_secs(10);
/// `LUCID_PLATFORM_TIMEOUT`'s default: longer than any answer of the platforms'
/// APIs takes, far shorter than for ever.
pub const DEFAULT_REQUEST: Duration = Duration::from_secs(60);

/// The whole-request limit in milliseconds; 0 while the default holds.
static REQUEST_MS: AtomicU64 = AtomicU64::new(0);

/// Sets the whole-request limit of every platform client built from now on.
pub fn set_request_timeout(limit: Duration) {
    let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1);
    REQUEST_MS.store(ms, Ordering::Relaxed);
}

/// How long one request to a platform may take, from connecting to its last byte.
pub fn request_timeout() -> Duration {
    match REQUEST_MS.load(Ordering::Relaxed) {
        0 => DEFAULT_REQUEST,
        ms => Duration::from_millis(ms),
    }
}

/// How long connecting to a platform may take.
pub fn connect_timeout() -> Duration {
    CONNECT.min(request_timeout())
}

/// A reqwest client builder with both limits, for a platform's API.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout())
        .timeout(request_timeout())
}

/// git's own settings that end a transfer moving under a byte a second for the
/// whole-request limit (a clone that moves, however long, goes on), as
/// `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` pairs.
pub fn git_stall_limit() -> [(&'static str, String); 2] {
    let seconds = request_timeout().as_secs().max(1);
    [
        ("http.lowSpeedLimit", "1".to_owned()),
        ("http.lowSpeedTime", seconds.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_never_takes_longer_than_the_whole_request() {
        // One test sets the process-wide value: the steps run in order here.
        assert_eq!(request_timeout(), DEFAULT_REQUEST);
        assert_eq!(connect_timeout(), CONNECT);
        set_request_timeout(Duration::from_secs(2));
        assert_eq!(request_timeout(), Duration::from_secs(2));
        assert_eq!(connect_timeout(), Duration::from_secs(2));
        assert_eq!(git_stall_limit()[1].1, "2");
        set_request_timeout(Duration::from_millis(300));
        // git counts whole seconds, at least one.
        assert_eq!(git_stall_limit()[1].1, "1");
        set_request_timeout(DEFAULT_REQUEST);
    }
}
