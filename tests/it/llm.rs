//! The OpenAI-compatible client over real HTTP against the fake server.

use crate::fake_llm::{FakeLlm, Reply};
use lucid::agent::llm::{
    ChatModel, ChatRequest, LlmError, Message, OpenAiClient, RetryPolicy, TokenUsage, ToolSpec,
};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-secret-key-0123456789";

fn client(fake: &FakeLlm, retry: RetryPolicy) -> OpenAiClient {
    OpenAiClient::new(
        &fake.base_url,
        SecretString::from(KEY),
        Duration::from_secs(10),
        retry,
    )
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

async fn ask(client: &OpenAiClient) -> Result<lucid::agent::llm::Completion, LlmError> {
    let messages = [
        Message::system("you fix code"),
        Message::user("make the test pass"),
    ];
    let tools = [ToolSpec {
        name: "run".into(),
        description: "Run a shell command".into(),
        parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
    }];
    let request = ChatRequest {
        model: "fake-model",
        messages: &messages,
        tools: &tools,
        max_tokens: None,
    };
    crate::harness::within("the model", client.complete(&request)).await
}

#[tokio::test]
async fn a_text_answer_comes_back_with_its_usage() {
    let fake = FakeLlm::start(vec![Reply::text("All done.", 120, 7)]).await;
    let completion = ask(&client(&fake, RetryPolicy::default())).await.unwrap();
    assert_eq!(completion.text, "All done.");
    assert!(completion.tool_calls.is_empty());
    assert_eq!(
        completion.usage,
        TokenUsage {
            input: 120,
            output: 7
        }
    );

    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].authorization, format!("Bearer {KEY}"));
    assert_eq!(received[0].body["model"], "fake-model");
    assert_eq!(
        received[0].body["messages"][1],
        json!({"role": "user", "content": "make the test pass"})
    );
    assert_eq!(received[0].body["tools"][0]["function"]["name"], "run");
}

#[tokio::test]
async fn tool_calls_come_back_with_their_arguments_as_the_model_wrote_them() {
    let fake = FakeLlm::start(vec![
        Reply::tool_call("call_1", "run", r#"{"command": "cargo test"}"#),
        Reply::tool_call("call_2", "run", r#"{"command": "cargo te"#),
    ])
    .await;
    let client = client(&fake, RetryPolicy::default());
    let first = ask(&client).await.unwrap();
    assert_eq!(first.tool_calls[0].id, "call_1");
    assert_eq!(first.tool_calls[0].name, "run");
    assert_eq!(
        first.tool_calls[0].arguments,
        r#"{"command": "cargo test"}"#
    );
    // Malformed arguments are the tool's to report back to the model, not an error here.
    let second = ask(&client).await.unwrap();
    assert_eq!(second.tool_calls[0].arguments, r#"{"command": "cargo te"#);
}

#[tokio::test]
async fn a_busy_provider_is_retried_after_the_wait_it_asks_for() {
    let fake = FakeLlm::start(vec![
        Reply::error(429, "Rate limit reached").retry_after("1"),
        Reply::text("ok", 1, 1),
    ])
    .await;
    let started = Instant::now();
    let completion = ask(&client(&fake, RetryPolicy::default())).await.unwrap();
    assert_eq!(completion.text, "ok");
    assert_eq!(fake.received().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_given_up_on_with_the_reason() {
    let fake = FakeLlm::start(vec![
        Reply::error(500, "boom"),
        Reply::error(502, "bad gateway"),
        Reply::error(503, "overloaded"),
    ])
    .await;
    let err = ask(&client(&fake, quick_retries(3))).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the model provider kept failing (500 Internal Server Error, 502 Bad Gateway, \
         503 Service Unavailable) for 3 attempts over 0s: overloaded. lucid stopped trying; \
         ask again later"
    );
    assert_eq!(fake.received().len(), 3);
}

#[tokio::test]
async fn a_wrong_key_fails_at_once_and_the_key_is_never_repeated() {
    let fake = FakeLlm::start(vec![Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    )])
    .await;
    let err = ask(&client(&fake, quick_retries(3))).await.unwrap_err();
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err}");
    assert_eq!(
        fake.received().len(),
        1,
        "a refused key must not be retried"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("the model provider refused the API key (401)"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test]
async fn a_refused_request_is_not_retried() {
    let fake = FakeLlm::start(vec![Reply::error(400, "context_length_exceeded")]).await;
    let err = ask(&client(&fake, quick_retries(3))).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Rejected { status: 400, .. }),
        "{err}"
    );
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let client = OpenAiClient::new(
        &base_url,
        SecretString::from(KEY),
        Duration::from_secs(5),
        quick_retries(2),
    );
    let err = ask(&client).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the model provider could not be reached for 2 attempts over 0s: could not connect. \
         lucid stopped trying; ask again later"
    );
}

#[tokio::test]
async fn answers_are_streamed_by_default_and_whole_when_streaming_is_off() {
    let reply = || Reply::tool_call("call_1", "run", r#"{"command": "ls"}"#).saying("Looking.");
    let fake = FakeLlm::start(vec![reply(), reply()]).await;
    let streamed = ask(&client(&fake, RetryPolicy::default())).await.unwrap();
    let whole = ask(&client(&fake, RetryPolicy::default()).streaming(false))
        .await
        .unwrap();
    assert_eq!(streamed, whole);
    assert_eq!(streamed.text, "Looking.");
    assert_eq!(streamed.tool_calls[0].arguments, r#"{"command": "ls"}"#);
    assert_eq!(
        streamed.usage,
        TokenUsage {
            input: 10,
            output: 5
        }
    );
    let received = fake.received();
    assert_eq!(received[0].body["stream"], true);
    assert_eq!(received[0].body["stream_options"]["include_usage"], true);
    assert_eq!(received[1].body["stream"], false);
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_is_asked_again() {
    let fake = FakeLlm::start(vec![
        Reply::tool_call("call_1", "run", r#"{"command": "cargo test"}"#).cut_after(3),
        Reply::tool_call("call_2", "run", r#"{"command": "cargo test"}"#),
    ])
    .await;
    let completion = ask(&client(&fake, quick_retries(3))).await.unwrap();
    // The half-read first answer left nothing behind.
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(completion.tool_calls[0].id, "call_2");
    assert_eq!(
        completion.tool_calls[0].arguments,
        r#"{"command": "cargo test"}"#
    );
    assert_eq!(fake.received().len(), 2);
}

#[tokio::test]
async fn a_stream_that_keeps_breaking_off_is_reported_as_such() {
    let fake = FakeLlm::start(vec![
        Reply::text("partial", 1, 1).cut_after(2),
        Reply::text("partial", 1, 1).cut_after(2),
    ])
    .await;
    let err = ask(&client(&fake, quick_retries(2))).await.unwrap_err();
    // Depending on when the reset reaches the client, the cut shows as a failed
    // request or a broken-off answer; either way it was retried, then reported.
    assert!(
        matches!(err, LlmError::Unavailable { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(fake.received().len(), 2);
}
