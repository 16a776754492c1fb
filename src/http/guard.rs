//! What keeps one client from taking the server: a body-size limit and a deadline for
//! the body (a slow client's headers are cut by the server itself, see
//! [`super::serve`]), and a request rate per API token, or per client address for a
//! request without one, on the API and the pages. Webhooks are not rate limited: the
//! platforms retry what is refused, and their own limits pace them.

use super::{ApiError, AppState};
use axum::body::{Body, HttpBody as _};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The HTTP server's guards, from the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest request body taken.
    pub max_body_bytes: usize,
    /// How long a client has to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client has to send a request's whole body.
    pub body_timeout: Duration,
    /// Requests a second to the API and pages per token or address; 0: no limit.
    pub api_rate: u32,
    /// Requests above the rate taken at once.
    pub api_burst: u32,
}

impl Default for HttpLimits {
    /// The settings' defaults.
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            api_rate: 50,
            api_burst: 100,
        }
    }
}

/// Who a request's rate is counted for.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Client {
    /// Whoever holds the API token (the one token lucid has).
    Token,
    Address(IpAddr),
    /// A request served without its client's address (an embedding router).
    Unknown,
}

type Limiter = RateLimiter<Client, DefaultKeyedStateStore<Client>, DefaultClock>;

/// Past this many clients remembered, those whose bucket is full again are forgotten.
const FORGET_PAST: usize = 10_000;

/// The guards as the server applies them.
pub struct Guard {
    pub limits: HttpLimits,
    limiter: Option<Limiter>,
}

impl Guard {
    pub fn new(limits: HttpLimits) -> Guard {
        let limiter = NonZeroU32::new(limits.api_rate).map(|rate| {
            let burst = NonZeroU32::new(limits.api_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Guard { limits, limiter }
    }

    /// How long `client` must wait before its next request is taken, if it must.
    fn wait(&self, client: &Client) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        if limiter.len() > FORGET_PAST {
            limiter.retain_recent();
        }
        limiter
            .check_key(client)
            .err()
            .map(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

/// Refuses a body over the limit with 413 (at once when its length says so, else as
/// soon as that many bytes came), and one that does not arrive within the body
/// deadline with 408; hands the handler the body read whole.
pub(super) async fn bounded_body(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let HttpLimits {
        max_body_bytes: limit,
        body_timeout,
        ..
    } = state.guard.limits;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit);
    }
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await;
    match read {
        Ok(Ok(body)) => {
            let request = Request::from_parts(parts, Body::from(body.to_bytes()));
            next.run(request).await
        }
        Ok(Err(e)) if e.is::<LengthLimitError>() => too_large(limit),
        Ok(Err(e)) => {
            ApiError::bad_request(format!("could not read the request's body: {e}")).into_response()
        }
        Err(_) => closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request's body did not arrive within {}",
                humantime::format_duration(body_timeout)
            ),
        )),
    }
}

fn too_large(limit: usize) -> Response {
    closing(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request's body is larger than {limit} bytes"),
    ))
}

/// An answer after which the connection closes: the rest of the body is not read.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers 429 with `Retry-After` to a client past its rate.
pub(super) async fn rate_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_of(&request, state.api_token.as_deref());
    let Some(wait) = state.guard.wait(&client) else {
        return next.run(request).await;
    };
    // Whole seconds, rounded up: a client that waits that long is taken.
    let seconds = wait.as_millis().div_ceil(1000).max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests: ask again in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds as u64));
    response
}

/// The API token's holder when the request carries it, else its address: a wrong
/// token counts against the address, so that making tokens up gains nothing.
fn client_of(request: &Request, token: Option<&SecretString>) -> Client {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let (Some(given), Some(token)) = (given, token) {
        let same: bool = Sha256::digest(given.as_bytes())
            .ct_eq(&Sha256::digest(token.expose_secret().as_bytes()))
            .into();
        if same {
            return Client::Token;
        }
    }
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(address)) => Client::Address(address.ip()),
        None => Client::Unknown,
    }
}
