//! The deployment files hold what they promise. Every Kubernetes manifest validates
//! against Kubernetes' JSON schemas (strict, offline, with PyPI's kubernetes-validate)
//! and compose.yaml against the Compose specification's schema (check-jsonschema);
//! scripts/test installs both (`ensure_manifest_validators` in scripts/services.sh),
//! and a missing validator fails the test. Then the promises a schema cannot see: lucid
//! and its Docker engine mount one workspaces volume at the same path, lucid's root is
//! read-only with every directory it writes on a volume, the database URL comes from a
//! Secret, a disruption budget covers the pods, every container requests resources,
//! and every setting named is one lucid reads.

use lucid::config::catalog;
use serde::Deserialize;
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const README: &str = include_str!("../../README.md");
const DOCKERFILE: &str = include_str!("../../Dockerfile");
const COMPOSE: &str = include_str!("../../compose.yaml");
const ENV_EXAMPLE: &str = include_str!("../../.env.example");
const GITIGNORE: &str = include_str!("../../.gitignore");
const MANIFESTS_README: &str = include_str!("../../manifests/README.md");

/// Files in manifests/ that are not Kubernetes objects.
const NOT_KUBERNETES: &[&str] = &["slack-app.yaml"];
/// The oldest Kubernetes the manifests need (native sidecars), and the newest schemas.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];
/// Names compose.yaml's env file holds for compose itself, not for lucid.
const COMPOSE_ONLY: &[&str] = &["POSTGRES_PASSWORD"];

// ---- the validators ---------------------------------------------------------------

/// One of the validators' commands; a missing one fails the test, never skips it.
fn validator(name: &str) -> PathBuf {
    let dir = std::env::var("TEST_MANIFEST_VALIDATORS")
        .unwrap_or_else(|_| "/var/tmp/lucid-validators/bin".to_owned());
    let path = Path::new(&dir).join(name);
    assert!(
        path.is_file(),
        "{} is missing: scripts/test installs it \
         (`source scripts/services.sh; ensure_manifest_validators`)",
        path.display()
    );
    path
}

/// Runs a command to its end: whether it succeeded, and all it printed.
fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("the validator starts");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// kubernetes-validate, strict (no field the schema lacks), against one version.
/// `--quiet` leaves only warnings and failures, and a warning (a kind it has no schema
/// for) counts as a failure: it exits 0 for one.
fn kubernetes_validate(version: &str, files: &[PathBuf]) -> (bool, String) {
    let (ok, printed) = run(Command::new(validator("kubernetes-validate"))
        .args(["--strict", "--quiet", "--kubernetes-version", version])
        .args(files));
    (ok && printed.trim().is_empty(), printed)
}

fn compose_validate(file: &Path) -> (bool, String) {
    run(Command::new(validator("check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(file))
}

fn kubernetes_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("manifests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            (name.ends_with(".yaml") || name.ends_with(".yml")) && !NOT_KUBERNETES.contains(&name)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_kubernetes_manifest_validates_against_the_schemas_offline() {
    let files = kubernetes_files();
    assert!(files.len() >= 5, "too few manifests found: {files:?}");
    for version in KUBERNETES_VERSIONS {
        let (ok, printed) = kubernetes_validate(version, &files);
        assert!(ok, "against Kubernetes {version}:\n{printed}");
    }
}

#[test]
fn the_kubernetes_validator_refuses_a_misspelled_field_and_an_unknown_kind() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = std::fs::read_to_string(Path::new(ROOT).join("manifests/deployment.yaml"))
        .unwrap()
        .replace("readOnlyRootFilesystem", "readOnlyRootFileSystem");
    let misspelled = dir.path().join("misspelled.yaml");
    std::fs::write(&misspelled, deployment).unwrap();
    let unknown = dir.path().join("unknown.yaml");
    std::fs::write(
        &unknown,
        "apiVersion: v1\nkind: Servise\nmetadata: {name: x}\n",
    )
    .unwrap();
    for file in [misspelled, unknown] {
        let (ok, printed) = kubernetes_validate("1.37.0", std::slice::from_ref(&file));
        assert!(!ok, "{} passed:\n{printed}", file.display());
    }
}

#[test]
fn compose_file_validates_against_the_compose_specification() {
    let (ok, printed) = compose_validate(&Path::new(ROOT).join("compose.yaml"));
    assert!(ok, "compose.yaml:\n{printed}");
    // And the check can fail: a misspelled key is refused.
    let dir = tempfile::tempdir().unwrap();
    let misspelled = dir.path().join("compose.yaml");
    std::fs::write(&misspelled, COMPOSE.replace("read_only:", "readonly:")).unwrap();
    let (ok, printed) = compose_validate(&misspelled);
    assert!(!ok, "a misspelled compose file passed:\n{printed}");
}

// ---- reading the files ------------------------------------------------------------

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|document| !document.is_null())
        .collect()
}

fn kubernetes_objects() -> Vec<Value> {
    kubernetes_files()
        .iter()
        .flat_map(|file| documents(&std::fs::read_to_string(file).unwrap()))
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in manifests/"))
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

fn list(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

/// The pod's containers, its init containers (the engine, a sidecar, among them) first.
fn containers(pod: &Value) -> Vec<&Value> {
    list(&pod["initContainers"])
        .iter()
        .chain(list(&pod["containers"]))
        .collect()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod)
        .into_iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The Docker engine of the pod: the container running a dind image.
fn engine(pod: &Value) -> &Value {
    containers(pod)
        .into_iter()
        .find(|c| text(&c["image"]).starts_with("docker:") && text(&c["image"]).contains("dind"))
        .expect("a Docker engine (docker:*-dind) in the pod")
}

fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    list(&container["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a str {
    let var = env_var(container, name)
        .unwrap_or_else(|| panic!("{} has no {name}", text(&container["name"])));
    text(&var["value"])
}

/// (volume, mount path, read-only) of each of a container's mounts.
fn mounts(container: &Value) -> Vec<(&str, &str, bool)> {
    list(&container["volumeMounts"])
        .iter()
        .map(|m| {
            let read_only = m["readOnly"].as_bool().unwrap_or(false);
            (text(&m["name"]), text(&m["mountPath"]), read_only)
        })
        .collect()
}

fn volume_at<'a>(container: &'a Value, path: &str) -> Option<&'a str> {
    mounts(container)
        .into_iter()
        .find(|(_, at, _)| *at == path)
        .map(|(volume, _, _)| volume)
}

/// What `--host=` the engine listens on.
fn host_flag(args: &[Value]) -> &str {
    args.iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("--host="))
        .expect("the engine's --host=")
}

/// The directory lucid's image starts in: its home, where relative paths (the SQLite
/// file, the default workspaces) land.
fn image_workdir() -> &'static str {
    DOCKERFILE
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("WORKDIR "))
        .expect("a WORKDIR in the Dockerfile")
        .trim()
}

fn deployment_pod(objects: &[Value]) -> &Value {
    &object(objects, "Deployment", "lucid")["spec"]["template"]["spec"]
}

// ---- Kubernetes: the promises -----------------------------------------------------

#[test]
fn lucid_and_its_engine_mount_one_workspaces_volume_at_the_same_path() {
    let objects = kubernetes_objects();
    let pod = deployment_pod(&objects);
    let (lucid, engine) = (container(pod, "lucid"), engine(pod));
    let workspaces = env_value(lucid, "LUCID_WORKSPACES_DIR");
    assert!(
        workspaces.starts_with('/'),
        "a relative {workspaces} depends on the working directory"
    );
    let volume = volume_at(lucid, workspaces).expect("lucid mounts its workspaces");
    assert_eq!(
        volume_at(engine, workspaces),
        Some(volume),
        "the engine must mount lucid's workspaces volume at {workspaces}: sandboxes bind-mount from it"
    );
    assert!(
        list(&pod["volumes"])
            .iter()
            .any(|v| v["name"].as_str() == Some(volume)),
        "the pod declares the volume {volume}"
    );
    // lucid reaches that engine, on the pod's loopback only.
    let host = host_flag(list(&engine["args"]));
    assert!(
        host.starts_with("tcp://127.0.0.1:"),
        "the engine listens on {host}"
    );
    assert_eq!(env_value(lucid, "DOCKER_HOST"), host);
    // A sidecar, so it runs before lucid starts and until lucid has stopped.
    assert!(
        list(&pod["initContainers"]).iter().any(|c| c == engine)
            && engine["restartPolicy"].as_str() == Some("Always"),
        "the engine is a native sidecar"
    );
}

#[test]
fn lucid_runs_on_a_read_only_root_with_every_directory_it_writes_on_a_volume() {
    let objects = kubernetes_objects();
    let pod = deployment_pod(&objects);
    let declared: BTreeSet<&str> = list(&pod["volumes"])
        .iter()
        .map(|v| text(&v["name"]))
        .collect();
    for name in ["lucid", "sandbox-image"] {
        let lucid = container(pod, name);
        let security = &lucid["securityContext"];
        assert_eq!(
            security["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{name}"
        );
        assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{name}");
        assert_eq!(
            security["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
    }
    let lucid = container(pod, "lucid");
    let writes = [
        image_workdir(),
        "/tmp",
        env_value(lucid, "LUCID_WORKSPACES_DIR"),
    ];
    for path in writes {
        let mount = mounts(lucid).into_iter().find(|(_, at, _)| *at == path);
        let (volume, _, read_only) =
            mount.unwrap_or_else(|| panic!("lucid writes {path}, on no volume"));
        assert!(!read_only, "{path} is mounted read-only");
        assert!(
            declared.contains(volume),
            "the volume {volume} is not declared"
        );
    }
}

#[test]
fn the_database_url_comes_from_a_secret() {
    let objects = kubernetes_objects();
    let lucid = container(deployment_pod(&objects), "lucid");
    let reference = &env_var(lucid, "DATABASE_URL").expect("lucid has DATABASE_URL")["valueFrom"]["secretKeyRef"];
    let (secret, key) = (text(&reference["name"]), text(&reference["key"]));
    let url = text(&object(&objects, "Secret", secret)["stringData"][key]);
    assert!(
        url.starts_with("postgres://"),
        "replicas share PostgreSQL, not {url}"
    );
}

#[test]
fn a_disruption_budget_covers_the_pods_and_lets_a_drain_proceed() {
    let objects = kubernetes_objects();
    let deployment = object(&objects, "Deployment", "lucid");
    let budget = object(&objects, "PodDisruptionBudget", "lucid");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    let min_available = budget["spec"]["minAvailable"].as_u64().unwrap();
    assert!(
        (1..replicas).contains(&min_available),
        "minAvailable {min_available} of {replicas} replicas"
    );
}

#[test]
fn every_container_requests_resources_and_lucid_is_probed() {
    let objects = kubernetes_objects();
    let pod = deployment_pod(&objects);
    for container in containers(pod) {
        let name = text(&container["name"]);
        let resources = &container["resources"];
        for resource in ["cpu", "memory"] {
            assert!(
                !resources["requests"][resource].is_null(),
                "{name} requests no {resource}"
            );
        }
        assert!(
            !resources["limits"]["memory"].is_null(),
            "{name} has no memory limit"
        );
    }
    let lucid = container(pod, "lucid");
    let port = text(&lucid["readinessProbe"]["httpGet"]["port"]);
    assert!(
        list(&lucid["ports"])
            .iter()
            .any(|p| p["name"].as_str() == Some(port)
                && p["containerPort"].as_u64().map(|n| n.to_string())
                    == env_value(lucid, "LUCID_LISTEN")
                        .rsplit(':')
                        .next()
                        .map(str::to_owned)),
        "the probes' port {port} is where LUCID_LISTEN listens"
    );
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ] {
        assert_eq!(
            lucid[probe]["httpGet"]["path"].as_str(),
            Some(path),
            "{probe}"
        );
        assert_eq!(
            lucid[probe]["httpGet"]["port"].as_str(),
            Some(port),
            "{probe}"
        );
    }
}

#[test]
fn the_readme_applies_every_kubernetes_manifest_by_name() {
    for file in kubernetes_files() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            MANIFESTS_README.contains(name),
            "manifests/README.md never names {name}"
        );
    }
}

// ---- settings ---------------------------------------------------------------------

/// A name lucid reads: in its settings catalog and in the README's table.
fn assert_is_setting(name: &str, whence: &str) {
    assert!(
        catalog::by_env(name).is_some(),
        "{whence} sets {name}, which lucid does not read"
    );
    assert!(
        README.contains(&format!("\n| `{name}` |")),
        "{whence} sets {name}, which README's settings table lacks"
    );
}

#[test]
fn every_setting_the_files_name_is_one_lucid_reads() {
    let objects = kubernetes_objects();
    let pod = deployment_pod(&objects);
    let mut checked = 0;
    for container in containers(pod) {
        if !text(&container["image"]).starts_with("lucid") {
            continue;
        }
        for var in list(&container["env"]) {
            assert_is_setting(text(&var["name"]), "deployment.yaml");
            checked += 1;
        }
        for source in list(&container["envFrom"]) {
            let secret = object(&objects, "Secret", text(&source["secretRef"]["name"]));
            for key in secret["stringData"].as_mapping().unwrap().keys() {
                assert_is_setting(text(key), "the Secret lucid reads whole");
                checked += 1;
            }
        }
    }
    let compose = documents(COMPOSE).remove(0);
    for service in ["lucid", "sandbox-image"] {
        for name in compose["services"][service]["environment"]
            .as_mapping()
            .unwrap()
            .keys()
        {
            assert_is_setting(text(name), "compose.yaml");
            checked += 1;
        }
    }
    for name in env_file_names(ENV_EXAMPLE) {
        if !COMPOSE_ONLY.contains(&name) {
            assert_is_setting(name, ".env.example");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} names were found to check");
}

fn env_file_names(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('=').expect("NAME=value").0)
        .collect()
}

// ---- compose ----------------------------------------------------------------------

/// (source, target, read-only) of a service's volumes, short syntax.
fn compose_mounts(service: &Value) -> Vec<(&str, &str, bool)> {
    list(&service["volumes"])
        .iter()
        .map(|v| {
            let parts: Vec<&str> = text(v).split(':').collect();
            (parts[0], parts[1], parts.get(2) == Some(&"ro"))
        })
        .collect()
}

fn compose_env<'a>(service: &'a Value, name: &str) -> &'a str {
    text(&service["environment"][name])
}

#[test]
fn compose_runs_lucid_and_its_engine_as_the_pod_does() {
    let compose = documents(COMPOSE).remove(0);
    let services = &compose["services"];
    let lucid = &services["lucid"];
    let engine_name = text(&lucid["network_mode"])
        .strip_prefix("service:")
        .expect("lucid shares its engine's network namespace");
    let engine = &services[engine_name];
    assert!(
        text(&engine["image"]).contains("dind"),
        "{engine_name} is a Docker engine"
    );
    assert_eq!(engine["privileged"].as_bool(), Some(true));
    let host = host_flag(list(&engine["command"]));
    assert!(
        host.starts_with("tcp://127.0.0.1:"),
        "the engine listens on {host}"
    );
    assert_eq!(compose_env(lucid, "DOCKER_HOST"), host);

    // One workspaces volume, at the same path in both.
    let workspaces = compose_env(lucid, "LUCID_WORKSPACES_DIR");
    let volume_at = |service: &Value| {
        compose_mounts(service)
            .into_iter()
            .find(|(_, at, _)| *at == workspaces)
            .map(|(volume, _, _)| volume.to_owned())
    };
    let volume = volume_at(lucid).expect("lucid mounts its workspaces");
    assert_eq!(
        volume_at(engine),
        Some(volume.clone()),
        "the engine mounts {workspaces} too"
    );

    // A read-only root, every directory lucid writes on a volume or a tmpfs.
    assert_eq!(lucid["read_only"].as_bool(), Some(true));
    assert!(
        list(&lucid["tmpfs"])
            .iter()
            .any(|t| t.as_str() == Some("/tmp"))
    );
    let home = compose_mounts(lucid)
        .into_iter()
        .find(|(_, at, _)| *at == image_workdir());
    assert!(
        matches!(home, Some((_, _, false))),
        "lucid's home {} is writable",
        image_workdir()
    );

    // Every named volume is declared, every dependency is a service.
    let declared = compose["volumes"].as_mapping().unwrap();
    for service in services.as_mapping().unwrap().values() {
        for (source, _, _) in compose_mounts(service) {
            assert!(
                declared.contains_key(source),
                "volume {source} is not declared"
            );
        }
        for needed in service["depends_on"]
            .as_mapping()
            .into_iter()
            .flat_map(|d| d.keys())
        {
            assert!(!services[text(needed)].is_null(), "no service {needed:?}");
        }
    }

    // The database's password comes from the env file, into both services.
    let url = compose_env(lucid, "DATABASE_URL");
    assert!(
        url.starts_with("postgres://") && url.contains("${POSTGRES_PASSWORD"),
        "{url}"
    );
    assert!(
        compose_env(&services["postgres"], "POSTGRES_PASSWORD").contains("${POSTGRES_PASSWORD")
    );
    assert!(
        list(&lucid["env_file"])
            .iter()
            .any(|f| f.as_str() == Some(".env"))
    );
    assert!(env_file_names(ENV_EXAMPLE).contains(&"POSTGRES_PASSWORD"));
    assert!(
        GITIGNORE.lines().any(|l| l == "/.env"),
        ".env is never committed"
    );
}

#[test]
fn the_images_health_check_can_pass() {
    let check = DOCKERFILE
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    // Debian's sh (dash) has no /dev/tcp: only bash can make that connection.
    assert!(
        !check.contains("/dev/tcp") || check.contains("bash"),
        "{check}"
    );
}
