//! The connection to a Docker engine, through bollard. Engines here often speak an
//! older API than bollard's default, so the version is negotiated on first use.

use bollard::Docker;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a reachability check may take before the engine counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct DockerEngine {
    host: String,
    negotiated: OnceCell<Docker>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub server_version: String,
    pub api_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{host} is not a Docker host lucid can use (unix://, tcp:// or http://)")]
    BadHost { host: String },
    #[error("cannot reach the Docker engine at {host}: {source}")]
    Unreachable {
        host: String,
        source: bollard::errors::Error,
    },
    #[error("the Docker engine at {host} did not answer within {seconds} s")]
    Timeout { host: String, seconds: u64 },
}

impl DockerEngine {
    /// Prepares a client for `host` (`unix:///…`, `tcp://…` or `http://…`). Nothing is
    /// contacted, not even the socket file checked, until first use, so lucid starts
    /// while the engine is down and `/readyz` says so.
    pub fn new(host: &str) -> Result<Self, EngineError> {
        if !["unix://", "tcp://", "http://"]
            .iter()
            .any(|p| host.starts_with(p))
        {
            return Err(EngineError::BadHost {
                host: host.to_owned(),
            });
        }
        Ok(Self {
            host: host.to_owned(),
            negotiated: OnceCell::new(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The client, speaking the highest API version both sides know.
    pub async fn client(&self) -> Result<&Docker, EngineError> {
        self.negotiated
            .get_or_try_init(|| async {
                let unnegotiated = Docker::connect_with_host(&self.host).map_err(|source| {
                    EngineError::Unreachable {
                        host: self.host.clone(),
                        source,
                    }
                })?;
                self.with_timeout(unnegotiated.negotiate_version()).await
            })
            .await
    }

    /// Checks the engine answers, and says what it runs.
    pub async fn probe(&self) -> Result<EngineInfo, EngineError> {
        let client = self.client().await?;
        let version = self.with_timeout(client.version()).await?;
        Ok(EngineInfo {
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
        })
    }

    async fn with_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(PROBE_TIMEOUT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(EngineError::Unreachable {
                host: self.host.clone(),
                source,
            }),
            Err(_) => Err(EngineError::Timeout {
                host: self.host.clone(),
                seconds: PROBE_TIMEOUT.as_secs(),
            }),
        }
    }
}
