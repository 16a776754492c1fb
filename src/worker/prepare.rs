//! A repository's setup, before the agent starts: a repository that has
//! `.lucid/setup.sh` gets its sandbox from the prepared state its setup inputs (the
//! `.lucid` directory and the lockfiles at its root) hash to. The sandbox keeps that
//! state and makes it when it has none (running the script once, logged as a command
//! and its output); either way a `prepared` event says which, and how long it took.

use crate::core::{EventBody, Session, SessionId};
use crate::sandbox::setup::{self, Setup, SetupNews};
use crate::sandbox::{CommandResult, Outcome, Sandbox, SandboxError};
use crate::store::Store;
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The script a repository declares its setup in, from its root.
pub const SETUP_SCRIPT: &str = ".lucid/setup.sh";
/// How it is run, in `/workspace`.
pub const SETUP_COMMAND: &str = "bash .lucid/setup.sh";
/// The directory whose every file is a setup input (the script and what it reads).
const SETUP_DIR: &str = ".lucid";

/// Lockfiles at a repository's root that pin what a setup installs.
const LOCKFILES: [&str; 20] = [
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pdm.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
    "Cargo.lock",
    "go.sum",
    "Gemfile.lock",
    "composer.lock",
    "mix.lock",
    "pubspec.lock",
    "Podfile.lock",
    "packages.lock.json",
    "gradle.lockfile",
    "flake.lock",
];

/// At most this much of a work tree is read as setup inputs.
const MAX_INPUT_BYTES: u64 = 64 << 20;
/// Lines and characters of a failed setup's output told in the session's reason.
const TAIL_LINES: usize = 20;
const TAIL_CHARS: usize = 2000;

/// One setup input: its path from the work tree's root, and its bytes.
pub type SetupInput = (String, Vec<u8>);

/// Whether `name`, at a repository's root, is a lockfile (`requirements*.txt` and
/// `constraints*.txt` count: pip's pins).
fn is_lockfile(name: &str) -> bool {
    LOCKFILES.contains(&name)
        || (name.ends_with(".txt")
            && (name.starts_with("requirements") || name.starts_with("constraints")))
}

/// The setup inputs of the work tree at `work_tree`, sorted by path; None when it
/// declares no setup. Only regular files count: a symlink is never followed out of
/// the work tree.
pub fn setup_inputs(work_tree: &Path) -> anyhow::Result<Option<Vec<SetupInput>>> {
    let script = work_tree.join(SETUP_SCRIPT);
    match std::fs::symlink_metadata(&script) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => anyhow::bail!("{SETUP_SCRIPT} is not a regular file"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context(SETUP_SCRIPT),
    }
    let mut inputs = Vec::new();
    let mut budget = MAX_INPUT_BYTES;
    read_dir_files(work_tree, SETUP_DIR, &mut inputs, &mut budget)?;
    inputs.extend(lockfiles(work_tree, &mut budget)?);
    inputs.sort();
    Ok(Some(inputs))
}

/// The inputs of a setup the operator declared (`command`) for a work tree: the
/// command itself and the lockfiles, sorted by path.
pub fn configured_inputs(work_tree: &Path, command: &str) -> anyhow::Result<Vec<SetupInput>> {
    let mut budget = MAX_INPUT_BYTES;
    let mut inputs = lockfiles(work_tree, &mut budget)?;
    // Named so that no file in a work tree can stand for it.
    inputs.push(("\0LUCID_REPO_SETUP".to_owned(), command.as_bytes().to_vec()));
    inputs.sort();
    Ok(inputs)
}

/// The lockfiles at the work tree's root.
fn lockfiles(work_tree: &Path, budget: &mut u64) -> anyhow::Result<Vec<SetupInput>> {
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(work_tree)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && is_lockfile(&name) {
            inputs.push((name.clone(), read_within(&entry.path(), &name, budget)?));
        }
    }
    Ok(inputs)
}

/// Every regular file under `work_tree/dir`, recursively.
fn read_dir_files(
    work_tree: &Path,
    dir: &str,
    inputs: &mut Vec<SetupInput>,
    budget: &mut u64,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(work_tree.join(dir)).context(dir.to_owned())? {
        let entry = entry?;
        let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_dir_files(work_tree, &path, inputs, budget)?;
        } else if kind.is_file() {
            let bytes = read_within(&entry.path(), &path, budget)?;
            inputs.push((path, bytes));
        }
    }
    Ok(())
}

fn read_within(file: &Path, name: &str, budget: &mut u64) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::symlink_metadata(file)?.len();
    *budget = budget.checked_sub(size).with_context(|| {
        format!(
            "the setup's inputs ({SETUP_DIR} and the lockfiles) are over {} MB",
            MAX_INPUT_BYTES >> 20
        )
    })?;
    std::fs::read(file).with_context(|| name.to_owned())
}

/// What a prepared state is kept by: sha256 (hex) of the repository's name and each
/// input's path and bytes, in path order (each part length-prefixed, so no two
/// different sets of inputs read the same).
pub fn setup_key(repository: &str, inputs: &[SetupInput]) -> String {
    let mut sorted: Vec<&SetupInput> = inputs.iter().collect();
    sorted.sort();
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(b"lucid prepared sandbox v1");
    part(repository.as_bytes());
    for (path, bytes) in sorted {
        part(path.as_bytes());
        part(bytes);
    }
    hex::encode(hash.finalize())
}

/// Makes `sandbox` ready from the repository's prepared state when its work tree
/// declares a setup, logging what was done. A setup that fails fails the session,
/// with its exit and the end of its output.
pub async fn prepare(
    store: &Store,
    session: &Session,
    sandbox: &dyn Sandbox,
    configured: &std::collections::BTreeMap<String, String>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let id = session.id;
    let repository = session
        .trigger
        .repo
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    // The repository's own script, else the one the operator declared for it.
    let declared = configured.get(&repository.to_ascii_lowercase()).cloned();
    let work_tree = sandbox.workspace().path().to_owned();
    let found = tokio::task::spawn_blocking(move || match setup_inputs(&work_tree)? {
        Some(inputs) => Ok(Some((inputs, SETUP_COMMAND.to_owned()))),
        None => match declared {
            Some(command) => Ok(Some((configured_inputs(&work_tree, &command)?, command))),
            None => Ok::<_, anyhow::Error>(None),
        },
    })
    .await
    .context("reading the setup's inputs")??;
    let Some((inputs, command)) = found else {
        return Ok(());
    };
    let setup = Setup {
        key: setup_key(&repository, &inputs),
        repository,
        command,
    };
    let (live, mut news) = mpsc::channel(64);
    let preparing = sandbox.prepare(&setup, Some(&live), stop);
    tokio::pin!(preparing);
    let prepared = loop {
        tokio::select! {
            biased;
            Some(said) = news.recv() => on_news(store, id, &setup.command, said).await?,
            prepared = &mut preparing => break prepared,
        }
    };
    while let Ok(said) = news.try_recv() {
        on_news(store, id, &setup.command, said).await?;
    }
    match prepared {
        Ok(prepared) => {
            if let Some(run) = &prepared.setup {
                store.append_event(id, output_of(run)).await?;
            }
            let took_ms = u64::try_from(prepared.took.as_millis()).unwrap_or(u64::MAX);
            let body = EventBody::Prepared {
                image: prepared.image,
                reused: prepared.reused,
                took_ms,
            };
            store.append_event(id, body).await?;
            Ok(())
        }
        Err(SandboxError::SetupFailed(run)) => {
            store.append_event(id, output_of(&run)).await?;
            let tail = setup::tail(&run.output.text, TAIL_LINES, TAIL_CHARS);
            let ending = crate::messages::setup_ending(&run.outcome);
            anyhow::bail!(crate::messages::setup_failed(
                &setup.command,
                &ending,
                &tail
            ))
        }
        Err(e) => Err(e).context("preparing the sandbox from the repository's setup"),
    }
}

async fn on_news(
    store: &Store,
    id: SessionId,
    command: &str,
    said: SetupNews,
) -> anyhow::Result<()> {
    match said {
        // Logged before it runs, so everyone sees what runs now.
        SetupNews::Started => {
            let command = EventBody::Command {
                command: command.to_owned(),
            };
            store.append_event(id, command).await?;
        }
        // The output is logged once, whole, when the setup ends.
        SetupNews::Output(_) => {}
    }
    Ok(())
}

fn output_of(run: &CommandResult) -> EventBody {
    EventBody::Output {
        text: run.output.text.clone(),
        exit_code: match run.outcome {
            Outcome::Exited(code) => Some(code),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(files: &[(&str, &str)]) -> Vec<SetupInput> {
        files
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn the_key_follows_the_repository_and_every_input_but_not_their_order() {
        let base = inputs(&[
            (
                ".lucid/setup.sh",
                "pip install --user -r requirements.txt\n",
            ),
            ("requirements.txt", "requests==2.32.3\n"),
        ]);
        let key = setup_key("acme/app", &base);
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        // The same inputs, in any order: the same key.
        let mut reversed = base.clone();
        reversed.reverse();
        assert_eq!(setup_key("acme/app", &reversed), key);
        // A lockfile changed, the script changed, one more input, another repository.
        let bumped = inputs(&[
            (
                ".lucid/setup.sh",
                "pip install --user -r requirements.txt\n",
            ),
            ("requirements.txt", "requests==2.32.4\n"),
        ]);
        assert_ne!(setup_key("acme/app", &bumped), key);
        let script = inputs(&[
            (".lucid/setup.sh", "pip install -r requirements.txt\n"),
            ("requirements.txt", "requests==2.32.3\n"),
        ]);
        assert_ne!(setup_key("acme/app", &script), key);
        let mut more = base.clone();
        more.push(("uv.lock".to_owned(), Vec::new()));
        assert_ne!(setup_key("acme/app", &more), key);
        assert_ne!(setup_key("acme/other", &base), key);
        // A byte moved from a path to its contents is another set of inputs.
        assert_ne!(
            setup_key("r", &inputs(&[("ab", "c")])),
            setup_key("r", &inputs(&[("a", "bc")]))
        );
    }

    #[test]
    fn the_inputs_are_the_lucid_dir_and_the_root_lockfiles() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path();
        assert_eq!(setup_inputs(tree).unwrap(), None, "no setup declared");
        let write = |path: &str, text: &str| {
            let file = tree.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        write(".lucid/setup.sh", "npm ci\n");
        write(".lucid/lib/helper.sh", "echo\n");
        write("package-lock.json", "{}");
        write("requirements-dev.txt", "pytest\n");
        write("README.md", "not an input");
        write("sub/yarn.lock", "only at the root");
        std::os::unix::fs::symlink("/etc/hostname", tree.join("go.sum")).unwrap();
        let found = setup_inputs(tree).unwrap().unwrap();
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".lucid/lib/helper.sh",
                ".lucid/setup.sh",
                "package-lock.json",
                "requirements-dev.txt"
            ]
        );
        assert_eq!(found[1].1, b"npm ci\n");
    }

    #[test]
    fn a_setup_script_that_is_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".lucid")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join(SETUP_SCRIPT)).unwrap();
        assert!(setup_inputs(dir.path()).is_err());
    }
}
