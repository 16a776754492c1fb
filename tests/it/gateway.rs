//! The model gateway over real HTTP, in front of the fake OpenAI-compatible and
//! Anthropic providers: a session's token opens it and nothing else does, the
//! provider gets the real key from the gateway only, answers (whole and streamed)
//! pass untouched, what each spent is counted, and a closed session's token is
//! refused.

use crate::fake_anthropic::{self, FakeAnthropic};
use crate::fake_llm::{self, FakeLlm};
use lucid::agent::gateway::{KeyHeader, ModelGateway, Spent, Tokens, Upstream};
use lucid::core::SessionId;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::mpsc;

const REAL_KEY: &str = "sk-real-provider-key-0123456789";

async fn gateway(
    base_url: &str,
    key_header: KeyHeader,
) -> (ModelGateway, mpsc::UnboundedReceiver<Spent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let upstream = Upstream {
        base_url: base_url.trim_end_matches('/').to_owned(),
        api_key: SecretString::from(REAL_KEY),
        key_header,
    };
    let gateway = ModelGateway::bind("127.0.0.1:0".parse().unwrap(), upstream, tx)
        .await
        .unwrap();
    (gateway, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openai_client_reaches_the_provider_with_the_session_token_only() {
    let llm = FakeLlm::start(vec![
        fake_llm::Reply::text("one", 30, 7),
        fake_llm::Reply::text("two", 12, 5),
    ])
    .await;
    // The fake serves under /v1: the gateway's upstream is its origin.
    let origin = llm.base_url.trim_end_matches("/v1").to_owned();
    let (gateway, mut spent) = gateway(&origin, KeyHeader::Bearer).await;
    let session = SessionId::new();
    let token = gateway.open(session);
    let url = format!("http://{}/v1/chat/completions", gateway.addr());
    let http = reqwest::Client::new();
    let ask = |stream: bool| json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream});
    let ask_through = |stream: bool| {
        http.post(&url)
            .bearer_auth(token.expose_secret())
            .json(&ask(stream))
            .send()
    };

    let whole = ask_through(false).await.unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    let body: serde_json::Value = whole.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "one");
    let first = crate::harness::within("the first answer's usage", spent.recv())
        .await
        .unwrap();
    assert_eq!(
        first,
        Spent {
            session,
            tokens: Tokens {
                input: 30,
                output: 7
            },
            model: Some("fake-model".into()),
        }
    );

    let streamed = ask_through(true).await.unwrap();
    assert_eq!(streamed.status().as_u16(), 200);
    let text = streamed.text().await.unwrap();
    assert!(
        text.starts_with("data: ") && text.contains("\"wo\""),
        "{text}"
    );
    let second = crate::harness::within("the stream's usage", spent.recv()).await;
    assert_eq!(
        second.unwrap().tokens,
        Tokens {
            input: 12,
            output: 5
        }
    );

    // The provider saw the real key, never the session's token.
    for received in llm.received() {
        assert_eq!(received.authorization, format!("Bearer {REAL_KEY}"));
    }
    // No token, another, or a closed session's: refused before the provider.
    let asked_before = llm.received().len();
    gateway.close(session);
    for token in [None, Some("lucid-gw-made-up"), Some(token.expose_secret())] {
        let mut request = http.post(&url).json(&ask(false));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{token:?}");
    }
    assert_eq!(llm.received().len(), asked_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anthropic_stream_passes_untouched_and_its_usage_is_counted() {
    let provider = FakeAnthropic::start(vec![
        fake_anthropic::Reply::text("streamed words", 120, 57),
        fake_anthropic::Reply::text("streamed words", 120, 57),
    ])
    .await;
    let (gateway, mut spent) = gateway(&provider.base_url, KeyHeader::XApiKey).await;
    let session = SessionId::new();
    let token = gateway.open(session);
    let ask = json!({"model": "claude", "max_tokens": 100, "stream": true,
                     "messages": [{"role": "user", "content": "hi"}]});
    let http = reqwest::Client::new();
    let through = http
        .post(format!("http://{}/v1/messages", gateway.addr()))
        .header("x-api-key", token.expose_secret())
        .header("anthropic-version", "2023-06-01")
        .json(&ask)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let direct = http
        .post(format!("{}/v1/messages", provider.base_url))
        .header("x-api-key", REAL_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&ask)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(through, direct, "the stream passed as the provider sent it");
    assert_eq!(
        spent.recv().await.unwrap(),
        Spent {
            session,
            tokens: Tokens {
                input: 120,
                output: 57
            },
            model: Some("fake-model".into()),
        }
    );
    let received = provider.received();
    assert_eq!(received[0].api_key, REAL_KEY);
    assert_eq!(
        received[0].version, "2023-06-01",
        "the client's own headers pass"
    );
}
