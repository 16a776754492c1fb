//! Whether an agent starts in a sandbox and speaks the protocol: `initialize`, then
//! `session/new` in `/workspace`, with no prompt (so no model is asked). What
//! `lucid doctor` checks for each configured agent.

use super::SeenAgent;
use crate::sandbox::{ProcessSpec, Sandbox, SandboxProcess};
use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ClientCapabilities, Implementation, InitializeRequest, NewSessionRequest,
};
use agent_client_protocol::{Client, Lines};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What an agent answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub seen: SeenAgent,
    /// The session `session/new` opened.
    pub session: String,
}

/// Starts `command` in `sandbox` with `env`, shakes hands and opens a session;
/// the agent is killed after. An error says what went wrong in words.
pub async fn hello(
    sandbox: &dyn Sandbox,
    command: &[String],
    env: Vec<(String, String)>,
    within: Duration,
) -> Result<Hello, String> {
    let spec = ProcessSpec {
        env,
        ..ProcessSpec::new(command.to_vec())
    };
    let kill = CancellationToken::new();
    let process = sandbox
        .spawn(&spec, &kill)
        .await
        .map_err(|e| e.to_string())?;
    let SandboxProcess {
        stdin,
        stdout,
        handle,
    } = process;
    let (broken_tx, mut broken) = mpsc::unbounded_channel();
    let (heard, _) = watch::channel(Instant::now());
    let transport = Lines::new(
        super::wire::outgoing(stdin),
        super::wire::incoming(stdout, broken_tx, heard),
    );
    let talk = Client
        .v1()
        .name("lucid")
        .connect_with(transport, async |cx| {
            let request = InitializeRequest::new(ProtocolVersion::V1)
                .client_capabilities(ClientCapabilities::default())
                .client_info(Implementation::new("lucid", env!("CARGO_PKG_VERSION")));
            let hello = cx.send_request(request).block_task().await?;
            let opened = cx
                .send_request(NewSessionRequest::new("/workspace"))
                .block_task()
                .await?;
            Ok((hello, opened))
        });
    let answered = tokio::select! {
        answered = tokio::time::timeout(within, talk) => answered.map(|a| a.map_err(|e| e.to_string())),
        Some(what) = broken.recv() => Ok(Err(format!("it broke the protocol: {what}"))),
    };
    kill.cancel();
    let exit = tokio::time::timeout(Duration::from_secs(2), handle.wait())
        .await
        .ok();
    match answered {
        Ok(Ok((hello, opened))) => Ok(Hello {
            seen: SeenAgent::of(&hello),
            session: opened.session_id.0.to_string(),
        }),
        Ok(Err(e)) => Err(crate::messages::one_line(&match exit {
            Some(Ok(exit)) if exit.outcome != crate::sandbox::Outcome::Cancelled => format!(
                "ended ({:?}) before answering: {}",
                exit.outcome,
                exit.stderr.text.trim().lines().last().unwrap_or_default()
            ),
            _ => e,
        })),
        Err(_) => Err(format!(
            "it did not answer initialize and session/new within {}",
            humantime::format_duration(within)
        )),
    }
}
