//! The HTTP stack under lucid's octocrab clients: octocrab's own parts (its retries,
//! user agent, base URL and token header), assembled here so that lucid sees every
//! answer GitHub gives. octocrab's default client retries inside itself (a 429, a
//! 5xx or a failed connection, up to three times, at once) and tells nobody; here its
//! retry policy is wrapped in [`Counted`], which counts each retry and each answer
//! that asked lucid to slow down in `lucid_outbound_retries` and
//! `lucid_outbound_rate_limited` for `github`. What is retried, and when, is
//! octocrab's decision, unchanged.

use super::client::GithubError;
use crate::core::Platform;
use hyper::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use std::sync::Arc;
use tower::retry::{Policy, RetryLayer};

/// How a client signs its requests.
pub(super) enum SignIn {
    /// `Authorization: Bearer` with a personal access or installation token.
    Token(HeaderValue),
    /// As the GitHub App: octocrab makes a fresh JWT for each request.
    App(octocrab::auth::AppAuth),
}

/// An octocrab client for the API at `base_url`, its answers counted.
pub(super) fn octocrab(base_url: &str, sign_in: SignIn) -> Result<Octocrab, GithubError> {
    let unusable = || GithubError::Unreachable(format!("{base_url:?} is not a usable URL"));
    let base: Uri = base_url.parse().map_err(|_| unusable())?;
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(crate::outbound::connect_timeout()));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| GithubError::Unreachable(format!("no TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, OctoBody>(connector);
    // Each try bounded (`LUCID_PLATFORM_TIMEOUT`): a GitHub that takes the connection
    // and never answers fails the try, which octocrab's retry tries again. The limit
    // covers the answer's head only, so the body gets one of its own: an answer that
    // stops half-way fails when no more of it comes within the limit.
    let http =
        tower_http::timeout::ResponseBodyTimeout::new(http, crate::outbound::request_timeout());
    let http = tower::timeout::Timeout::new(http, crate::outbound::request_timeout());
    let user_agent = vec![(
        hyper::http::header::USER_AGENT,
        HeaderValue::from_static("octocrab"),
    )];
    let (header, auth) = match sign_in {
        SignIn::Token(mut header) => {
            header.set_sensitive(true);
            (Some(header), AuthState::None)
        }
        SignIn::App(app) => (None, AuthState::App(app)),
    };
    // The same order as octocrab's own client: retries nearest the connection, so a
    // retried request keeps its headers and its absolute URL.
    let Ok(client) = OctocrabBuilder::new_empty()
        .with_service(http)
        .with_layer(&RetryLayer::new(Counted(RetryConfig::Simple(3))))
        .with_layer(&ExtraHeadersLayer::new(Arc::new(user_agent)))
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&AuthHeaderLayer::new(header, base.clone(), base))
        .with_auth(auth)
        .build();
    Ok(client)
}

/// octocrab's retry policy, counted: every answer passes through [`Policy::retry`]
/// (the last one too), so a 429 is counted whether or not it is tried again.
#[derive(Clone)]
struct Counted(RetryConfig);

impl<B, E> Policy<Request<OctoBody>, Response<B>, E> for Counted {
    type Future = <RetryConfig as Policy<Request<OctoBody>, Response<B>, E>>::Future;

    fn retry(
        &mut self,
        request: &mut Request<OctoBody>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        if let Ok(response) = result
            && slow_down(response.status(), response.headers())
        {
            crate::metrics::outbound_rate_limited(&Platform::GITHUB);
        }
        let again = self.0.retry(request, result);
        if again.is_some() {
            crate::metrics::outbound_retry(&Platform::GITHUB);
        }
        again
    }

    fn clone_request(&mut self, request: &Request<OctoBody>) -> Option<Request<OctoBody>> {
        Policy::<Request<OctoBody>, Response<B>, E>::clone_request(&mut self.0, request)
    }
}

/// Whether GitHub asked lucid to slow down: a 429, or a 403 that says so in its
/// headers (a spent primary limit has `x-ratelimit-remaining: 0`; a secondary limit
/// sends `retry-after`). A bare 403 is a refusal, not a rate limit.
fn slow_down(status: StatusCode, headers: &HeaderMap) -> bool {
    let says = |name: &str, value: Option<&str>| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| value.is_none_or(|want| v.trim() == want))
    };
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (says("x-ratelimit-remaining", Some("0")) || says("retry-after", None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    hyper::http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn a_429_and_a_403_that_says_so_are_rate_limits_a_bare_403_is_not() {
        let none = headers(&[]);
        assert!(slow_down(StatusCode::TOO_MANY_REQUESTS, &none));
        assert!(!slow_down(StatusCode::FORBIDDEN, &none));
        assert!(slow_down(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "0")])
        ));
        assert!(!slow_down(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "12")])
        ));
        assert!(slow_down(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "60")])
        ));
        assert!(!slow_down(StatusCode::BAD_GATEWAY, &none));
    }
}
