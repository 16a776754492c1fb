//! The Anthropic Messages API client over real HTTP against the fake server.

use crate::fake_anthropic::{FakeAnthropic, Reply};
use lucid::agent::llm::{
    AnthropicClient, ChatModel, ChatRequest, Completion, LlmError, Message, RetryPolicy,
    TokenUsage, ToolCall, ToolSpec,
};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-test-secret-key-0123456789";

fn client(fake: &FakeAnthropic, retry: RetryPolicy) -> AnthropicClient {
    AnthropicClient::new(
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

fn tools() -> [ToolSpec; 1] {
    [ToolSpec {
        name: "run".into(),
        description: "Run a shell command".into(),
        parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
    }]
}

async fn send(client: &AnthropicClient, messages: &[Message]) -> Result<Completion, LlmError> {
    let tools = tools();
    let request = ChatRequest {
        model: "fake-model",
        messages,
        tools: &tools,
        max_tokens: None,
    };
    crate::harness::within("the model", client.complete(&request)).await
}

async fn ask(client: &AnthropicClient) -> Result<Completion, LlmError> {
    send(
        client,
        &[
            Message::system("you fix code"),
            Message::user("make the test pass"),
        ],
    )
    .await
}

#[tokio::test]
async fn a_text_answer_comes_back_with_its_usage() {
    let fake = FakeAnthropic::start(vec![Reply::text("All done.", 120, 7)]).await;
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
    assert_eq!(received[0].api_key, KEY);
    assert_eq!(received[0].version, "2023-06-01");
    let body = &received[0].body;
    assert_eq!(body["model"], "fake-model");
    assert!(body["max_tokens"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(body["system"], "you fix code");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "make the test pass"}]}])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "name": "run",
            "description": "Run a shell command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        }])
    );
}

#[tokio::test]
async fn a_tool_use_answer_becomes_a_tool_call_with_json_arguments() {
    let fake = FakeAnthropic::start(vec![Reply::tool_use(
        "Let me run the tests.",
        "toolu_01",
        "run",
        json!({"command": "cargo test"}),
    )])
    .await;
    let completion = ask(&client(&fake, RetryPolicy::default())).await.unwrap();
    assert_eq!(completion.text, "Let me run the tests.");
    assert_eq!(completion.tool_calls.len(), 1);
    let call = &completion.tool_calls[0];
    assert_eq!(call.id, "toolu_01");
    assert_eq!(call.name, "run");
    let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(arguments, json!({"command": "cargo test"}));
}

#[tokio::test]
async fn a_conversation_with_tool_calls_is_sent_as_alternating_turns() {
    let fake = FakeAnthropic::start(vec![Reply::text("Both pass.", 50, 3)]).await;
    let history = [
        Message::system("you fix code"),
        Message::user("make the test pass"),
        Message::assistant(
            "Running both.",
            vec![
                ToolCall {
                    id: "toolu_01".into(),
                    name: "run".into(),
                    arguments: r#"{"command": "cargo test"}"#.into(),
                },
                ToolCall {
                    id: "toolu_02".into(),
                    name: "run".into(),
                    // A malformed call the model made, sent back as it wrote it.
                    arguments: r#"{"command": "cargo te"#.into(),
                },
            ],
        ),
        Message::tool_result("toolu_01", "test result: ok"),
        Message::tool_result("toolu_02", "error: the arguments are not JSON"),
    ];
    let completion = send(&client(&fake, RetryPolicy::default()), &history)
        .await
        .unwrap();
    assert_eq!(completion.text, "Both pass.");

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let body = &received[0].body;
    assert_eq!(body["system"], "you fix code");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "make the test pass"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Running both."},
                {"type": "tool_use", "id": "toolu_01", "name": "run", "input": {"command": "cargo test"}},
                {"type": "tool_use", "id": "toolu_02", "name": "run", "input": {"_raw": r#"{"command": "cargo te"#}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "test result: ok"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": "error: the arguments are not JSON"},
            ]},
        ])
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_wait_it_asks_for() {
    let fake = FakeAnthropic::start(vec![
        Reply::error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
        )
        .retry_after("1"),
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
async fn an_overloaded_provider_is_given_up_on_with_the_reason() {
    let fake = FakeAnthropic::start(vec![
        Reply::error(529, "overloaded_error", "Overloaded"),
        Reply::error(529, "overloaded_error", "Overloaded"),
        Reply::error(529, "overloaded_error", "Overloaded"),
    ])
    .await;
    let err = ask(&client(&fake, quick_retries(3))).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the model provider kept refusing (529 Overloaded) for 3 attempts over 0s: Overloaded. \
         lucid stopped trying; ask again later"
    );
    assert_eq!(fake.received().len(), 3);
}

#[tokio::test]
async fn a_wrong_key_fails_at_once_and_the_key_is_never_repeated() {
    let fake = FakeAnthropic::start(vec![Reply::error(
        401,
        "authentication_error",
        &format!("invalid x-api-key: {KEY}"),
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
    let fake = FakeAnthropic::start(vec![Reply::error(
        400,
        "invalid_request_error",
        "prompt is too long",
    )])
    .await;
    let err = ask(&client(&fake, quick_retries(3))).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Rejected { status: 400, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the model provider refused the request (400): prompt is too long"
    );
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn answers_are_streamed_by_default_and_whole_when_streaming_is_off() {
    let reply = || {
        Reply::tool_use(
            "Running it.",
            "toolu_1",
            "run",
            json!({"command": "ls -la"}),
        )
    };
    let fake = FakeAnthropic::start(vec![reply(), reply()]).await;
    let streamed = ask(&client(&fake, RetryPolicy::default())).await.unwrap();
    let whole = ask(&client(&fake, RetryPolicy::default()).streaming(false))
        .await
        .unwrap();
    assert_eq!(streamed, whole);
    assert_eq!(streamed.text, "Running it.");
    assert_eq!(streamed.tool_calls[0].arguments, r#"{"command":"ls -la"}"#);
    assert_eq!(
        streamed.usage,
        TokenUsage {
            input: 10,
            output: 5
        }
    );
    let received = fake.received();
    assert_eq!(received[0].body["stream"], true);
    assert!(received[1].body.get("stream").is_none());
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_is_asked_again() {
    let fake = FakeAnthropic::start(vec![
        Reply::tool_use("Running it.", "toolu_1", "run", json!({"command": "ls"})).cut_after(6),
        Reply::tool_use("Running it.", "toolu_2", "run", json!({"command": "ls"})),
    ])
    .await;
    let completion = ask(&client(&fake, quick_retries(3))).await.unwrap();
    assert_eq!(completion.text, "Running it.");
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(completion.tool_calls[0].id, "toolu_2");
    assert_eq!(fake.received().len(), 2);
}
