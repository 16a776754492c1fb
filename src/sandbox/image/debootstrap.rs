//! The sandbox image from a Debian mirror alone, for engines that cannot reach a
//! registry: debootstrap a minimal root filesystem, make it the sandbox's (see
//! `rootfs`), and import it into the engine (see `import`).

use super::{ImageError, PACKAGES, import, rootfs};
use bollard::Docker;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub(super) const MIRROR: &str = "http://deb.debian.org/debian";
const SUITE: &str = "bookworm";
/// How many of debootstrap's last lines an error quotes.
const TAIL_LINES: usize = 20;

pub(super) async fn build(
    docker: &Docker,
    tag: &str,
    scratch_dir: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    let mut scratch = rootfs::Scratch::create(scratch_dir)?;
    let root = scratch.path().join("rootfs");
    progress(&format!(
        "debootstrap: installing {SUITE} with {} from {MIRROR} into {}…",
        PACKAGES.join(" "),
        root.display()
    ));
    let bootstrapped = debootstrap(&root, progress).await;
    // debootstrap mounts /proc and /sys inside the root while it works; whatever
    // happened, nothing may stay mounted there before the directory is touched again.
    scratch.ensure_nothing_mounted()?;
    bootstrapped?;

    progress("adding the user sandbox (1000:1000) and cleaning apt's caches…");
    let prepared = root.clone();
    tokio::task::spawn_blocking(move || rootfs::prepare(&prepared))
        .await
        .expect("preparing the root filesystem panicked")?;

    progress("packing the root filesystem…");
    let archive = scratch.path().join("rootfs.tar");
    rootfs::pack(&root, &archive).await?;
    import::import(docker, tag, &archive, progress).await
}

async fn debootstrap(
    root: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    let mut child = Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(root)
        .arg(MIRROR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ImageError::DebootstrapMissing,
            _ => ImageError::RootFs {
                action: "run debootstrap into",
                path: root.to_owned(),
                source,
            },
        })?;
    // Read as bytes, not text: a line that is not UTF-8 must not stop the reading,
    // or debootstrap would block on a full pipe.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).split(b'\n');
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).split(b'\n');
    let mut output = Output::default();
    let (mut stdout_open, mut stderr_open) = (true, true);
    while stdout_open || stderr_open {
        let line = tokio::select! {
            line = stdout.next_segment(), if stdout_open => {
                let line = line.ok().flatten();
                stdout_open = line.is_some();
                line
            }
            line = stderr.next_segment(), if stderr_open => {
                let line = line.ok().flatten();
                stderr_open = line.is_some();
                line
            }
        };
        if let Some(message) = line.and_then(|l| output.line(&String::from_utf8_lossy(&l))) {
            progress(&message);
        }
    }
    let status = child.wait().await.map_err(|source| ImageError::RootFs {
        action: "wait for debootstrap building",
        path: root.to_owned(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    // On failure debootstrap keeps a fuller log inside the root; its end says more
    // than the console does (which dpkg step failed and why).
    let log = std::fs::read_to_string(root.join("debootstrap/debootstrap.log")).ok();
    Err(ImageError::Debootstrap {
        status: status.to_string(),
        mirror: MIRROR,
        log_tail: match log {
            Some(log) => last_lines(&log, TAIL_LINES),
            None => output.tail(),
        },
    })
}

/// What to say of debootstrap's console. It writes a line per package per step (some
/// 600 for this image): those are summed up as one line per step, the rest passed on.
/// The last lines are kept for an error message.
#[derive(Default)]
struct Output {
    per_package_step: Option<&'static str>,
    tail: VecDeque<String>,
}

impl Output {
    fn line(&mut self, line: &str) -> Option<String> {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        let Some(info) = line.strip_prefix("I: ").map(str::trim_end) else {
            // Warnings and errors always; anything else is a tool's chatter.
            return (line.starts_with("W: ") || line.starts_with("E: "))
                .then(|| format!("debootstrap: {line}"));
        };
        match per_package_step(info) {
            Some(step) if self.per_package_step == Some(step) => None,
            Some(step) => {
                self.per_package_step = Some(step);
                Some(format!("debootstrap: {step}…"))
            }
            None => {
                self.per_package_step = None;
                Some(format!("debootstrap: {info}"))
            }
        }
    }

    fn tail(&self) -> String {
        Vec::from(self.tail.clone()).join("\n")
    }
}

/// The step a per-package line belongs to: `Retrieving adduser 3.134`,
/// `Validating adduser 3.134`, `Extracting adduser...`, `Unpacking adduser...`,
/// `Configuring adduser...`. Lines about the whole run (`Retrieving InRelease`,
/// `Unpacking required packages...`) are not per package.
fn per_package_step(info: &str) -> Option<&'static str> {
    let words: Vec<&str> = info.split_whitespace().collect();
    match words.as_slice() {
        ["Retrieving" | "Validating", _package, _version] => Some("downloading packages"),
        ["Extracting", one] if one.ends_with("...") => Some("extracting packages"),
        ["Unpacking", one] if one.ends_with("...") => Some("unpacking packages"),
        ["Configuring", one] if one.ends_with("...") => Some("configuring packages"),
        _ => None,
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debootstraps_console_is_summed_up_one_line_per_step() {
        let console = "\
I: Target architecture can be executed
I: Retrieving InRelease\x20
I: Checking Release signature
I: Retrieving Packages\x20
I: Validating Packages\x20
I: Resolving dependencies of required packages...
I: Retrieving adduser 3.134
I: Validating adduser 3.134
I: Retrieving apt 2.6.1
I: Validating apt 2.6.1
I: Chosen extractor for .deb packages: dpkg-deb
I: Extracting adduser...
I: Extracting apt...
I: Installing core packages...
I: Unpacking required packages...
I: Unpacking adduser...
I: Unpacking apt...
I: Configuring required packages...
I: Configuring adduser...
W: Failure trying to run: chroot /x mount -t proc proc /proc
dpkg: chatter
I: Base system installed successfully.";
        let mut output = Output::default();
        let said: Vec<String> = console.lines().filter_map(|l| output.line(l)).collect();
        assert_eq!(
            said,
            [
                "debootstrap: Target architecture can be executed",
                "debootstrap: Retrieving InRelease",
                "debootstrap: Checking Release signature",
                "debootstrap: Retrieving Packages",
                "debootstrap: Validating Packages",
                "debootstrap: Resolving dependencies of required packages...",
                "debootstrap: downloading packages…",
                "debootstrap: Chosen extractor for .deb packages: dpkg-deb",
                "debootstrap: extracting packages…",
                "debootstrap: Installing core packages...",
                "debootstrap: Unpacking required packages...",
                "debootstrap: unpacking packages…",
                "debootstrap: Configuring required packages...",
                "debootstrap: configuring packages…",
                "debootstrap: W: Failure trying to run: chroot /x mount -t proc proc /proc",
                "debootstrap: Base system installed successfully.",
            ]
        );
        assert_eq!(output.tail().lines().count(), TAIL_LINES);
        assert!(
            output
                .tail()
                .ends_with("dpkg: chatter\nI: Base system installed successfully.")
        );
    }

    #[test]
    fn an_error_quotes_the_end_of_a_log() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}
