//! The disk of the workspaces full when a session starts: the session fails with a
//! sentence that says so in its thread, `lucid serve` stays up, and once space is
//! freed the next session works. The workspaces live on a small tmpfs of the test's
//! own (the tests run as root), filled to the last byte.

use crate::harness::within;
use crate::rig::{Lucid, REPO, comment_payload, fixing_script};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A tmpfs mounted for one test, unmounted when it ends, however it ends.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "lucid-test-tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mount needs root");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of zeros until the disk has no room left; answers it.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily if something still holds it, so the directory can go either way.
        let unmounted = std::process::Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.path())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_workspace_disk_fails_the_session_clearly_and_the_next_one_works_once_freed() {
    let began = Instant::now();
    // Declared before lucid, so dropped after it: lucid stops before the unmount.
    let disk = Tmpfs::mount("8m");
    let workspaces = disk.path().display().to_string();
    let settings = [("LUCID_WORKSPACES_DIR", workspaces.as_str())];
    let lucid = Lucid::start_setting(fixing_script(), &settings).await;
    let filler = disk.fill();

    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-full-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let full = answer["session"].as_str().unwrap().to_owned();
    let ended = lucid
        .until_session(&full, "the session on a full disk to end", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(ended["state"], "failed", "{ended}");
    let reason = lucid::messages::workspace_disk_full();
    assert_eq!(ended["reason"], reason.as_str(), "{ended}\n{}", lucid.log());
    // Said in the issue, in the status comment.
    lucid
        .github
        .wait_until("the failure in the issue", |g| {
            g.comments(REPO, 7)
                .into_iter()
                .find(|c| c.author != "ada" && c.body.contains("the workspace disk is full"))
        })
        .await;
    eprintln!(
        "disk full: the session failed {:?} after the start",
        began.elapsed()
    );

    // The service is still up, and once there is room again the next session works.
    let health = within("/healthz", reqwest::get(format!("{}/healthz", lucid.url)))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    std::fs::remove_file(filler).unwrap();
    let comment = lucid.github.add_comment(REPO, 8, "ada", words);
    let payload = comment_payload(8, "add() still subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-full-2", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let next = answer["session"].as_str().unwrap().to_owned();
    let ended = lucid
        .until_session(&next, "the session after space was freed", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(ended["state"], "completed", "{ended}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    eprintln!("disk full: the whole test took {:?}", began.elapsed());
}
