//! The debootstrapped root filesystem on its way into an image: where it is built,
//! what is changed in it (the sandbox user, no caches, no host identity), and the tar
//! archive the engine imports.

use super::{ImageError, SANDBOX_GID, SANDBOX_HOME, SANDBOX_UID, SANDBOX_USER, WORKSPACE};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The build's own directory under the scratch directory. It is removed when dropped,
/// unless something is still mounted inside it: removing would reach into the mount
/// (a stray /proc or /sys of the host).
pub(super) struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub(super) fn create(parent: &Path) -> Result<Self, ImageError> {
        // Named by the process, so a build that died (killed, or the machine went down)
        // is cleared away by the next one of a restarted lucid, often the same pid 1.
        let mut scratch = Scratch {
            path: parent.join(format!("lucid-sandbox-image-{}", std::process::id())),
            keep: false,
        };
        let failed = |action, source| ImageError::RootFs {
            action,
            path: parent.to_owned(),
            source,
        };
        if scratch.path.exists() {
            scratch.ensure_nothing_mounted()?;
            fs::remove_dir_all(&scratch.path)
                .map_err(|e| failed("remove an earlier build's leftovers in", e))?;
        }
        fs::create_dir_all(&scratch.path).map_err(|e| failed("create a directory in", e))?;
        // The root filesystem is the image: nobody else may change it before import.
        fs::set_permissions(&scratch.path, fs::Permissions::from_mode(0o700))
            .map_err(|e| failed("restrict a directory in", e))?;
        Ok(scratch)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn ensure_nothing_mounted(&mut self) -> Result<(), ImageError> {
        let inside = self.mounts_inside();
        if inside.is_empty() {
            return Ok(());
        }
        self.keep = true;
        let list: Vec<String> = inside.iter().map(|p| p.display().to_string()).collect();
        Err(ImageError::RootFs {
            action: "remove",
            path: self.path.clone(),
            source: std::io::Error::other(format!(
                "{} still mounted inside -> unmount them (umount {}) and remove the directory",
                list.join(", "),
                list.join(" ")
            )),
        })
    }

    fn mounts_inside(&self) -> Vec<PathBuf> {
        // Where /proc/self/mounts cannot be read, nothing of ours is mounted either.
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        mounted_under(&mounts, &self.path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Checked again here: a build cancelled mid-debootstrap never reached the check,
        // and a bind-mounted /dev inside would lose the host's device files.
        // Blocks for about a second; a build takes minutes and happens rarely.
        if !self.keep && self.mounts_inside().is_empty() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The mount points under `dir`, from the text of /proc/self/mounts.
fn mounted_under(mounts: &str, dir: &Path) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .map(|field| PathBuf::from(unescape_mount_field(field)))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// /proc/self/mounts writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_field(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Makes a fresh debootstrap root the sandbox's: its user, its home and /workspace,
/// no package caches, none of the build host's identity.
pub(super) fn prepare(root: &Path) -> Result<(), ImageError> {
    add_sandbox_user(root)?;
    clean(root)
}

fn add_sandbox_user(root: &Path) -> Result<(), ImageError> {
    let (uid, gid) = (SANDBOX_UID, SANDBOX_GID);
    let user = SANDBOX_USER;
    // What `useradd` would write; written directly so no tool runs inside the root.
    // No password (`!`): the sandbox is entered by exec, never by a login.
    append_entry(
        root,
        "etc/passwd",
        &format!("{user}:x:{uid}:{gid}:lucid sandbox:{SANDBOX_HOME}:/bin/bash"),
        Some(uid),
    )?;
    append_entry(root, "etc/group", &format!("{user}:x:{gid}:"), Some(gid))?;
    append_entry(root, "etc/shadow", &format!("{user}:!::0:99999:7:::"), None)?;
    append_entry(root, "etc/gshadow", &format!("{user}:!::"), None)?;

    let home = inside(root, SANDBOX_HOME);
    make_owned_dir(&home)?;
    let skel = root.join("etc/skel");
    for entry in fs::read_dir(&skel).map_err(io("read", &skel))? {
        let entry = entry.map_err(io("read", &skel))?;
        // Plain files only: a link would be followed on the build host, not in the root.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let from = entry.path();
        let to = home.join(from.file_name().expect("a directory entry has a name"));
        fs::copy(&from, &to).map_err(io("copy into", &to))?;
        chown(&to, Some(uid), Some(gid)).map_err(io("give to the sandbox user", &to))?;
    }
    make_owned_dir(&inside(root, WORKSPACE))
}

/// Adds `entry` to an account file of the root (passwd, group, shadow, gshadow),
/// refusing a name, or an id, that is already taken.
fn append_entry(root: &Path, file: &str, entry: &str, id: Option<u32>) -> Result<(), ImageError> {
    let path = root.join(file);
    let existing = fs::read_to_string(&path).map_err(io("read", &path))?;
    let addition = account_addition(&existing, entry, id).map_err(|taken| ImageError::RootFs {
        action: "add the sandbox user to",
        path: path.clone(),
        source: std::io::Error::other(taken),
    })?;
    // Appending keeps the file's owner and mode (shadow is root:shadow 0640).
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(addition.as_bytes()))
        .map_err(io("write", &path))
}

/// The text to append to an account file for `entry`, or what stands in the way.
fn account_addition(existing: &str, entry: &str, id: Option<u32>) -> Result<String, String> {
    let name = entry.split(':').next().unwrap_or_default();
    for line in existing.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields[0] == name {
            return Err(format!("{name} is already there: {line}"));
        }
        if let (Some(id), Some(taken)) = (id, fields.get(2))
            && *taken == id.to_string()
        {
            return Err(format!("id {id} is already taken: {line}"));
        }
    }
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    Ok(format!("{separator}{entry}\n"))
}

fn make_owned_dir(path: &Path) -> Result<(), ImageError> {
    fs::create_dir_all(path).map_err(io("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(io("set the mode of", path))?;
    chown(path, Some(SANDBOX_UID), Some(SANDBOX_GID)).map_err(io("give to the sandbox user", path))
}

fn clean(root: &Path) -> Result<(), ImageError> {
    // debootstrap keeps every .deb it installed (a third of the root) and apt's lists.
    remove_files_in(&root.join("var/cache/apt/archives"))?;
    remove_files_in(&root.join("var/cache/apt"))?;
    remove_files_in(&root.join("var/lib/apt/lists"))?;
    // The engine gives every container its own /dev; the nodes debootstrap made for
    // itself would only be shadowed.
    remove_contents(&root.join("dev"), |_| false)?;
    slim(root)?;
    // debootstrap copies the build host's resolver and name; the engine mounts each
    // container's own over them. Removed first: were one a link, writing would follow
    // it out of the root and into the build host's own file.
    for (file, content) in [("etc/resolv.conf", ""), ("etc/hostname", "sandbox\n")] {
        let path = root.join(file);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("replace", &path)(e));
            }
            _ => {}
        }
        fs::write(&path, content).map_err(io("write", &path))?;
    }
    Ok(())
}

/// What debian:bookworm-slim leaves out (its dpkg path-excludes), so that both build
/// methods give the same image, a fifth smaller: documentation but for the copyright
/// files, manuals and translations.
fn slim(root: &Path) -> Result<(), ImageError> {
    for dir in ["man", "groff", "info", "lintian", "linda"] {
        remove_contents(&root.join("usr/share").join(dir), |_| false)?;
    }
    remove_contents(&root.join("usr/share/locale"), |name| {
        name == "locale.alias"
    })?;
    let docs = root.join("usr/share/doc");
    let Ok(packages) = fs::read_dir(&docs) else {
        return Ok(());
    };
    for package in packages {
        let path = package.map_err(io("read", &docs))?.path();
        if path.is_dir() && !path.is_symlink() {
            remove_contents(&path, |name| name == "copyright")?;
        } else {
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    Ok(())
}

/// Removes the plain files (not the directories, `partial/` and the like) in `dir`.
fn remove_files_in(dir: &Path) -> Result<(), ImageError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(io("read", dir))?.path();
        if path.is_file() {
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    Ok(())
}

/// Removes everything in `dir` but the entries `keep` names; a missing `dir` is fine.
fn remove_contents(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<(), ImageError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(io("read", dir))?;
        if keep(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(io("remove", &path))?;
    }
    Ok(())
}

/// Packs the root into a tar archive for the engine's import. GNU tar rather than the
/// `tar` crate: it keeps hard links as links (perl, gzip), device files and numeric
/// owners exactly as dpkg left them.
pub(super) async fn pack(root: &Path, archive: &Path) -> Result<(), ImageError> {
    let output = Command::new("tar")
        .arg("--create")
        .arg("--file")
        .arg(archive)
        .arg("--directory")
        .arg(root)
        .arg("--numeric-owner")
        .arg(".")
        .output()
        .await
        .map_err(io("run tar to pack", root))?;
    if output.status.success() {
        return Ok(());
    }
    Err(ImageError::RootFs {
        action: "pack",
        path: root.to_owned(),
        source: std::io::Error::other(format!(
            "tar {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    })
}

/// `absolute` (e.g. `/home/sandbox`) inside the root.
fn inside(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
    move |source| ImageError::RootFs {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_user_is_appended_to_an_account_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        let entry = "sandbox:x:1000:1000:lucid sandbox:/home/sandbox:/bin/bash";
        assert_eq!(
            account_addition(passwd, entry, Some(1000)).unwrap(),
            format!("{entry}\n")
        );
        // A file without a final newline gets one first.
        assert_eq!(
            account_addition("root:x:0:", "sandbox:x:1000:", Some(1000)).unwrap(),
            "\nsandbox:x:1000:\n"
        );
    }

    #[test]
    fn a_taken_name_or_id_is_refused() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1000:1000::/home/ada:/bin/sh\n";
        let taken = account_addition(passwd, "sandbox:x:1000:1000::/h:/bin/bash", Some(1000));
        assert!(taken.unwrap_err().contains("id 1000 is already taken"));
        let shadow = "sandbox:!::0:99999:7:::\n";
        let again = account_addition(shadow, "sandbox:!::0:99999:7:::", None);
        assert!(again.unwrap_err().contains("sandbox is already there"));
        // In shadow files the third field is not an id.
        assert!(account_addition("root:*:1000:0:99999:7:::\n", "sandbox:!::", None).is_ok());
    }

    #[test]
    fn mounts_inside_the_scratch_directory_are_found() {
        let mounts = "\
proc /proc proc rw,nosuid 0 0
/dev/vda / ext4 rw 0 0
proc /var/tmp/my\\040scratch/lucid-sandbox-image-7/rootfs/proc proc rw 0 0
sysfs /var/tmp/lucid-sandbox-image-70/rootfs/sys sysfs rw 0 0
";
        assert_eq!(
            mounted_under(
                mounts,
                Path::new("/var/tmp/my scratch/lucid-sandbox-image-7")
            ),
            [PathBuf::from(
                "/var/tmp/my scratch/lucid-sandbox-image-7/rootfs/proc"
            )]
        );
        assert!(mounted_under(mounts, Path::new("/var/tmp/lucid-sandbox-image-7")).is_empty());
    }

    #[test]
    fn preparing_a_root_adds_the_user_and_drops_caches_and_host_identity() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "etc/skel",
            "dev/pts",
            "usr/share/doc/git",
            "usr/share/man/man1",
            "usr/share/locale/de/LC_MESSAGES",
            "var/cache/apt/archives/partial",
            "var/lib/apt/lists/partial",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for (file, text) in [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
            ("etc/group", "root:x:0:\n"),
            ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
            ("etc/gshadow", "root:*::\n"),
            ("etc/skel/.bashrc", "# bashrc\n"),
            ("etc/resolv.conf", "nameserver 10.0.0.1\n"),
            ("etc/hostname", "buildhost\n"),
            ("dev/null", ""),
            ("usr/share/doc/git/copyright", "GPL"),
            ("usr/share/doc/git/changelog.gz", "log"),
            ("usr/share/man/man1/git.1.gz", "man"),
            ("usr/share/locale/locale.alias", "alias"),
            ("usr/share/locale/de/LC_MESSAGES/git.mo", "mo"),
            ("var/cache/apt/archives/bash_5.2_amd64.deb", "deb"),
            ("var/cache/apt/pkgcache.bin", "bin"),
            ("var/lib/apt/lists/deb.debian.org_Packages", "list"),
        ] {
            fs::write(root.join(file), text).unwrap();
        }
        let owned = chown(root.join("etc/passwd"), Some(0), Some(0)).is_ok();
        let prepared = prepare(root);
        if !owned {
            // Only root may give files to uid 1000; the rest was checked above.
            assert!(matches!(prepared, Err(ImageError::RootFs { .. })));
            return;
        }
        prepared.unwrap();
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.ends_with("sandbox:x:1000:1000:lucid sandbox:/home/sandbox:/bin/bash\n"));
        assert!(
            fs::read_to_string(root.join("etc/group"))
                .unwrap()
                .ends_with("sandbox:x:1000:\n")
        );
        use std::os::unix::fs::MetadataExt;
        for owned in ["home/sandbox", "home/sandbox/.bashrc", "workspace"] {
            let meta = fs::metadata(root.join(owned)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (1000, 1000), "{owned}");
        }
        assert_eq!(fs::read_dir(root.join("dev")).unwrap().count(), 0);
        let left = |dir: &str| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(left("usr/share/doc/git"), ["copyright"]);
        assert!(left("usr/share/man").is_empty());
        assert_eq!(left("usr/share/locale"), ["locale.alias"]);
        assert!(
            !root
                .join("var/cache/apt/archives/bash_5.2_amd64.deb")
                .exists()
        );
        assert!(!root.join("var/cache/apt/pkgcache.bin").exists());
        assert!(
            !root
                .join("var/lib/apt/lists/deb.debian.org_Packages")
                .exists()
        );
        assert!(root.join("var/lib/apt/lists/partial").is_dir());
        assert_eq!(
            fs::read_to_string(root.join("etc/resolv.conf")).unwrap(),
            ""
        );
    }
}
