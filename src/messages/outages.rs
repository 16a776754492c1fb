//! Why a session failed when something under lucid gave way: the disk of the
//! workspaces, or the Docker engine its sandbox ran on. Kept as the session's reason
//! and shown after "The session failed:".

/// The disk where lucid keeps its workspaces had no room for the session's files.
pub fn workspace_disk_full() -> String {
    "the workspace disk is full: there was no room left for this session's files. \
     Free some space where lucid keeps its workspaces, then ask again"
        .to_owned()
}

/// The session's sandbox stopped under it: its Docker engine restarted (or stopped
/// the container some other way), so the work in it cannot go on.
pub fn sandbox_engine_restarted() -> String {
    "the sandbox's Docker engine restarted (or stopped the sandbox) in the middle of \
     the session, so its work could not go on. Ask again to start over"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_said_when_what_lucid_stands_on_gives_way() {
        let said = [workspace_disk_full(), sandbox_engine_restarted()];
        insta::assert_snapshot!(said.join("\n"));
    }
}
