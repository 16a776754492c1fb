//! The sandbox settings: limits in Docker's own notation (`2g`), times as people
//! write them (`30m`, `2h`).

use super::reader::Reader;
use crate::sandbox::proxy::{self, AllowList, RegistryPolicy};
use crate::sandbox::{Network, PreparedPolicy, SandboxSettings, SandboxSpec};
use std::path::PathBuf;

pub(super) fn read(r: &mut Reader) -> Option<SandboxSettings> {
    let image = r.parsed("LUCID_SANDBOX_IMAGE", |s| {
        if s.trim().is_empty() || s.contains(char::is_whitespace) {
            Err(format!("{s:?} is not an image name"))
        } else {
            Ok(s.to_owned())
        }
    });
    let memory = r.parsed("LUCID_SANDBOX_MEMORY", parse_bytes);
    let cpus = r.parsed("LUCID_SANDBOX_CPUS", |s| match s.parse::<f64>() {
        Ok(cpus) if (0.01..=256.0).contains(&cpus) => Ok((cpus * 1000.0).round() as u32),
        _ => Err(format!("{s:?} is not a number of CPUs such as 0.5 or 2")),
    });
    let pids = r.parsed("LUCID_SANDBOX_PIDS", |s| match s.parse::<u32>() {
        Ok(n) if n >= 16 => Ok(n),
        _ => Err(format!("{s:?} is not a process count of at least 16")),
    });
    let network = r.parsed("LUCID_SANDBOX_NETWORK", |s| match s {
        "off" => Ok(Network::Off),
        "bridge" => Ok(Network::Bridge),
        "registries" => Ok(Network::Registries),
        other => Err(format!(
            "{other:?} is not a network (off, registries or bridge)"
        )),
    });
    let registries = registry_policy(r);
    let lifetime = r.parsed("LUCID_SANDBOX_LIFETIME", parse_duration);
    let idle_timeout = r.parsed("LUCID_SANDBOX_IDLE_TIMEOUT", parse_duration);
    let pool_size = r.parsed("LUCID_SANDBOX_POOL_SIZE", |s| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n <= 64)
            .ok_or_else(|| format!("{s:?} is not a pool size from 0 to 64"))
    });
    let workspaces = r.parsed("LUCID_WORKSPACES_DIR", |s| Ok(PathBuf::from(s)));
    let prepared = prepared_policy(r);
    let repo_setup = repo_setup(r);
    Some(SandboxSettings {
        spec: SandboxSpec::default()
            .image(image?)
            .memory_bytes(memory?)
            .cpu_millis(cpus?)
            .pids_limit(pids?)
            .network(network?)
            .registries(registries?)
            .lifetime(lifetime?)
            .prepared(prepared?)
            .repo_setup(repo_setup?),
        workspaces: workspaces?,
        pool_size: pool_size?,
        idle_timeout: idle_timeout?,
    })
}

/// How prepared sandboxes are kept: for how long, in how much disk, and how long a
/// setup may run.
fn prepared_policy(r: &mut Reader) -> Option<PreparedPolicy> {
    let max_age = r.parsed("LUCID_PREPARED_MAX_AGE", parse_duration);
    let max_size = r.parsed("LUCID_PREPARED_MAX_SIZE", parse_disk_size);
    let setup_timeout = r.parsed("LUCID_SETUP_TIMEOUT", |s| {
        parse_duration(s).and_then(|d| {
            if d.is_zero() {
                Err(format!("{s:?} leaves a setup no time at all"))
            } else {
                Ok(d)
            }
        })
    });
    Some(PreparedPolicy {
        max_age: max_age?,
        max_size: max_size?,
        setup_timeout: setup_timeout?,
    })
}

/// The operator's setups by repository: `owner/name=command` entries.
fn repo_setup(r: &mut Reader) -> Option<std::collections::BTreeMap<String, String>> {
    let mut setups = Some(std::collections::BTreeMap::new());
    for entry in r.list("LUCID_REPO_SETUP") {
        let parsed = entry
            .split_once('=')
            .map(|(repo, command)| (repo.trim(), command.trim()))
            .filter(|(repo, command)| {
                !command.is_empty() && crate::core::RepoRef::parse(repo).is_ok()
            });
        match parsed {
            Some((repo, command)) => {
                if let Some(setups) = &mut setups {
                    setups.insert(repo.to_ascii_lowercase(), command.to_owned());
                }
            }
            None => {
                r.problem(
                    "LUCID_REPO_SETUP",
                    &format!("{entry:?} is not owner/name=command"),
                );
                setups = None;
            }
        }
    }
    setups
}

/// A disk size: bytes, or a number with k, m, g or t (powers of 1024); `0` keeps
/// nothing.
fn parse_disk_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size such as 500m or 20g");
    let lower = s.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// The registry proxy's allow-list (the word `defaults` stands for the built-in
/// one, which an unset list means) and the operator's pins.
fn registry_policy(r: &mut Reader) -> Option<RegistryPolicy> {
    let hosts = r.list("LUCID_REGISTRY_HOSTS");
    let hosts = if hosts.is_empty() {
        Some(AllowList::default())
    } else {
        AllowList::parse(hosts.iter().map(String::as_str))
            .map_err(|e| r.problem("LUCID_REGISTRY_HOSTS", &e))
            .ok()
    };
    let mut pins = Some(Vec::new());
    for pin in r.list("LUCID_REGISTRY_PINS") {
        match proxy::parse_pin(&pin) {
            Ok(pin) => {
                if let Some(pins) = &mut pins {
                    pins.push(pin);
                }
            }
            Err(e) => {
                r.problem("LUCID_REGISTRY_PINS", &e);
                pins = None;
            }
        }
    }
    let policy = RegistryPolicy::default().hosts(hosts?);
    Some(
        pins?
            .iter()
            .fold(policy, |policy, (name, addr)| policy.pin(name, *addr)),
    )
}

/// Bytes, or a number with k, m or g (powers of 1024), as Docker writes limits.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let bytes = parse_disk_size(s)?;
    if bytes >= 1 << 40 {
        return Err(format!("{s:?} is not a size such as 512m or 2g"));
    }
    if bytes < 64 << 20 {
        return Err(format!("{s:?} is too little: a sandbox needs at least 64m"));
    }
    Ok(bytes)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 30m or 2h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker_limits() {
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1gb"), Ok(1 << 30));
        assert_eq!(parse_bytes("134217728"), Ok(128 << 20));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("2t").is_err());
        assert!(parse_bytes("1m").unwrap_err().contains("too little"));
    }

    #[test]
    fn disk_sizes_read_like_limits_and_may_be_large_or_nothing() {
        assert_eq!(parse_disk_size("20g"), Ok(20 << 30));
        assert_eq!(parse_disk_size("1T"), Ok(1 << 40));
        assert_eq!(parse_disk_size("0"), Ok(0));
        assert!(parse_disk_size("much").is_err());
        assert!(parse_disk_size("99999999999t").is_err());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(
            parse_duration("30m"),
            Ok(std::time::Duration::from_secs(1800))
        );
        assert_eq!(
            parse_duration("2h"),
            Ok(std::time::Duration::from_secs(7200))
        );
        assert!(parse_duration("soon").is_err());
    }
}
