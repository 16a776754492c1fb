//! Why a run failed, in words a person can act on, when what lucid stands on gave
//! way: the disk of the workspaces filled up, or the sandbox's Docker engine
//! restarted. Any other failure is said as it came (its whole chain).

use crate::agent::AgentError;
use crate::messages;
use crate::sandbox::SandboxError;

/// What the kernel says of a full disk, as tools such as git print it.
const DISK_FULL_WORDS: [&str; 2] = ["No space left on device", "Disk quota exceeded"];

/// The sentence for a failure lucid recognises, else None.
pub(super) fn failure_reason(e: &anyhow::Error) -> Option<String> {
    if e.chain()
        .any(|cause| matches!(sandbox_error(cause), Some(SandboxError::Stopped(_))))
    {
        return Some(messages::sandbox_engine_restarted());
    }
    if e.chain().any(is_disk_full) {
        return Some(messages::workspace_disk_full());
    }
    None
}

/// The sandbox's error `cause` is, itself or inside the agent's (which is
/// transparent: the chain shows the agent's error, never the sandbox's under it).
fn sandbox_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e SandboxError> {
    cause
        .downcast_ref::<SandboxError>()
        .or_else(|| match cause.downcast_ref::<AgentError>() {
            Some(AgentError::Sandbox(sandbox)) => Some(sandbox),
            _ => None,
        })
}

fn is_disk_full(cause: &(dyn std::error::Error + 'static)) -> bool {
    let io = cause
        .downcast_ref::<std::io::Error>()
        .or_else(|| match sandbox_error(cause) {
            Some(SandboxError::Workspace(io)) => Some(io),
            _ => None,
        });
    if let Some(io) = io
        && (io.kind() == std::io::ErrorKind::StorageFull
            || io.kind() == std::io::ErrorKind::QuotaExceeded)
    {
        return true;
    }
    // git and other tools report it in their own words, on stderr.
    let said = cause.to_string();
    DISK_FULL_WORDS.iter().any(|words| said.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_full_disk_is_recognised_however_it_is_reported() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let from_io = anyhow::Error::new(io).context("cannot make the git directory");
        assert_eq!(
            failure_reason(&from_io),
            Some(messages::workspace_disk_full())
        );
        let from_git = anyhow::anyhow!(
            "git init failed: error: unable to write file .git/HEAD: No space left on device"
        );
        assert_eq!(
            failure_reason(&from_git),
            Some(messages::workspace_disk_full())
        );
        let workspace = SandboxError::Workspace(std::io::Error::from_raw_os_error(libc::EDQUOT));
        assert_eq!(
            failure_reason(&anyhow::Error::new(workspace)),
            Some(messages::workspace_disk_full())
        );
    }

    #[test]
    fn a_stopped_sandbox_is_said_as_the_engine_restarting_and_anything_else_as_it_came() {
        let stopped = Err::<(), _>(SandboxError::Stopped("exited (143)".into()))
            .context("the agent's command")
            .unwrap_err();
        assert_eq!(
            failure_reason(&stopped),
            Some(messages::sandbox_engine_restarted())
        );
        // As the agent's tools report it.
        let from_agent = AgentError::Sandbox(SandboxError::Stopped("exited (143)".into()));
        assert_eq!(
            failure_reason(&anyhow::Error::new(from_agent)),
            Some(messages::sandbox_engine_restarted())
        );
        let other = anyhow::anyhow!("git fetch failed: repository not found");
        assert_eq!(failure_reason(&other), None);
    }
}
