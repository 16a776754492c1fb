//! External agents over the Agent Client Protocol: a program (Claude Code's adapter,
//! Gemini CLI, Codex, ...) started in the session's sandbox, spoken to over its stdio
//! with the `agent-client-protocol` crate, its updates logged as lucid's events. It
//! reaches its model only through lucid's gateway on the host, with a token of the
//! session's own: no provider key is ever in the sandbox.

pub mod gateways;
mod permission;
pub mod probe;
mod steps;
mod talk;
pub mod wire;

use super::engine::Prices;
use super::port::{AgentRunner, Job, JobEnd};
use crate::config::{ExternalAgent, PermissionPolicy};
use crate::sandbox::{ProcessSpec, SandboxError};
use crate::store::Store;
use async_trait::async_trait;
use gateways::Gateways;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How every external agent's runs are bounded and answered.
#[derive(Clone, Debug)]
pub struct AcpSettings {
    pub permissions: PermissionPolicy,
    pub permission_timeout: Duration,
    /// Longest an agent may print nothing during a turn.
    pub idle_timeout: Duration,
    /// How long a stopped agent has to end its turn before its processes are killed.
    pub grace: Duration,
    pub prices: Prices,
    pub max_tokens: u64,
    pub max_cost_micros: u64,
}

/// What an agent said of itself when it last started: for the agents list.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeenAgent {
    pub name: Option<String>,
    pub version: Option<String>,
    pub protocol_version: Option<u16>,
    pub load_session: bool,
}

impl SeenAgent {
    /// What an agent's answer to `initialize` says of it.
    pub fn of(hello: &agent_client_protocol::v1::schema::InitializeResponse) -> SeenAgent {
        SeenAgent {
            name: hello.agent_info.as_ref().map(|i| i.name.clone()),
            version: hello.agent_info.as_ref().map(|i| i.version.clone()),
            protocol_version: serde_json::to_value(hello.protocol_version)
                .ok()
                .and_then(|v| v.as_u64())
                .and_then(|v| u16::try_from(v).ok()),
            load_session: hello.agent_capabilities.load_session,
        }
    }
}

/// Each agent's [`SeenAgent`], by id.
#[derive(Debug, Default)]
pub struct Seen(Mutex<BTreeMap<String, SeenAgent>>);

impl Seen {
    pub fn get(&self, id: &str) -> Option<SeenAgent> {
        lock(&self.0).get(id).cloned()
    }

    fn set(&self, id: &str, seen: SeenAgent) {
        lock(&self.0).insert(id.to_owned(), seen);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One configured external agent, as an [`AgentRunner`].
pub struct AcpAgent {
    pub agent: ExternalAgent,
    pub settings: Arc<AcpSettings>,
    pub gateways: Arc<Gateways>,
    pub store: Store,
    pub seen: Arc<Seen>,
}

#[async_trait]
impl AgentRunner for AcpAgent {
    fn name(&self) -> &str {
        &self.agent.id
    }

    fn kind(&self) -> super::AgentKind {
        let provider = self.agent.provider.as_str();
        super::AgentKind {
            protocol: "acp",
            provider: Some(provider.to_owned()),
            command: Some(self.agent.command.clone()),
            unavailable: (!self.gateways.has_key(self.agent.provider))
                .then(|| crate::messages::agent_without_key(&self.agent.id, provider)),
        }
    }

    async fn run(&self, job: Job<'_>) -> anyhow::Result<JobEnd> {
        let id = &self.agent.id;
        let provider = self.agent.provider;
        let failed = |reason: String| Ok(JobEnd::Failed { reason });
        let Some(host) = job.sandbox.host_address() else {
            return failed(crate::messages::agent_without_network(id));
        };
        if !self.gateways.has_key(provider) {
            return failed(crate::messages::agent_without_key(id, provider.as_str()));
        }
        let pass = match self.gateways.open(host, provider, job.session.id).await {
            Ok(pass) => pass,
            Err(e) => return failed(crate::messages::gateway_unavailable(&e.to_string())),
        };
        let env = gateways::agent_env(provider, pass.gateway.addr(), pass.token.expose_secret());
        let spec = ProcessSpec {
            env,
            ..ProcessSpec::new(self.agent.command.clone()).stderr_cap(AGENT_LOG_BYTES)
        };
        // Not the job's stop: a stopped agent is asked to end its turn first.
        let kill = CancellationToken::new();
        let process = match job.sandbox.spawn(&spec, &kill).await {
            Ok(process) => process,
            Err(SandboxError::InvalidProcess(why)) => {
                return failed(crate::messages::agent_did_not_start(id, &why));
            }
            Err(e) => return Err(e.into()),
        };
        let (store, session) = (job.steps.store, job.session.id);
        let handle = process.handle.clone();
        let token = pass.token.expose_secret().to_owned();
        let end = talk::talk(self, job, process, pass).await;
        // Whatever the agent left running goes with the run.
        kill.cancel();
        keep_log(store, session, id, &handle, &token).await?;
        end
    }
}

/// At most this much of an agent's stderr is kept (its head and tail).
const AGENT_LOG_BYTES: usize = 64 * 1024;

/// Logs what the agent wrote to stderr in this run, its session token masked (dead by
/// now, but nobody's business).
async fn keep_log(
    store: &Store,
    session: crate::core::SessionId,
    agent: &str,
    handle: &crate::sandbox::ProcessHandle,
    token: &str,
) -> anyhow::Result<()> {
    let ended = tokio::time::timeout(Duration::from_secs(5), handle.wait()).await;
    let Ok(Ok(exit)) = ended else {
        tracing::info!(session = %session, "the agent's log could not be read: it did not end");
        return Ok(());
    };
    let text = exit.stderr.text.replace(token, "[session token]");
    if text.trim().is_empty() {
        return Ok(());
    }
    let log = crate::core::EventBody::AgentLog {
        agent: agent.to_owned(),
        text,
    };
    store.append_event(session, log).await?;
    Ok(())
}
