//! The `registries` network as a session sees it, with the real `lucid serve` on its
//! default network: a download from a registry on the allow-list works through lucid's
//! proxy, the cloud's metadata address does not, and both are in the session's log as
//! `host_reached` events with their bytes.

use crate::fake_llm::Reply;
use crate::rig::{Lucid, REPO};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

const PACKAGE_LEN: usize = 100_000;

#[tokio::test(flavor = "multi_thread")]
async fn each_host_a_session_reaches_or_is_refused_is_in_its_log_with_its_bytes() {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let registry = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/simple/tiny-1.0.tar.gz",
        axum::routing::get(|| async { vec![7u8; PACKAGE_LEN] }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetch = |url: &str| {
        let script = format!(
            "import urllib.request as r\ntry:\n    print(len(r.urlopen('{url}', timeout=10).read()))\nexcept Exception as e:\n    print('failed:', e)"
        );
        json!({ "command": format!("python3 -c \"{script}\"") }).to_string()
    };
    let package = format!(
        "http://registry.test:{}/simple/tiny-1.0.tar.gz",
        registry.port()
    );
    let lucid = Lucid::start_setting(
        vec![
            Reply::tool_call("n1", "run", &fetch(&package)),
            Reply::tool_call(
                "n2",
                "run",
                &fetch("http://169.254.169.254/latest/meta-data/"),
            ),
            Reply::tool_call("n3", "finish", r#"{"summary": "Looked around"}"#),
        ],
        &[
            ("LUCID_SANDBOX_NETWORK", "registries"),
            ("LUCID_REGISTRY_PINS", &format!("registry.test={registry}")),
        ],
    )
    .await;
    let (ended, events) = lucid.run_session(REPO, "fetch").await;
    assert_eq!(ended["state"], "completed", "{ended} {events:#?}");
    let outputs: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "output")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(outputs[0].trim(), PACKAGE_LEN.to_string(), "{outputs:?}");
    assert!(outputs[1].contains("failed:"), "{outputs:?}");
    let reached: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "host_reached")
        .collect();
    let registry_seen = reached
        .iter()
        .find(|e| e["host"] == "registry.test")
        .expect("the registry in the log");
    assert_eq!(registry_seen["port"], registry.port());
    assert!(registry_seen["refused"].is_null(), "{registry_seen}");
    assert!(
        registry_seen["bytes_down"].as_u64().unwrap() >= PACKAGE_LEN as u64,
        "{registry_seen}"
    );
    assert!(registry_seen["bytes_up"].as_u64().unwrap() > 0);
    let metadata = reached
        .iter()
        .find(|e| e["host"] == "169.254.169.254")
        .expect("the metadata address in the log");
    assert!(metadata["refused"].is_string(), "{metadata}");
    assert_eq!(metadata["bytes_down"], 0);
}
