//! The optional generative backend against fake OpenAI-compatible
//! servers: a good one rephrases, and one that fails, is slow or is not
//! there leaves the assistant's own answer (`None`).

use std::time::{Duration, Instant};

use boxoffice_chatbot::llm::{Llm, LlmConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves one HTTP request: answers `status` and `body` after `delay`,
/// and reports the request it got.
async fn fake_server(
    status: &'static str,
    body: &'static str,
    delay: Duration,
) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, request) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the headers and the body the Content-Length announces.
        loop {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let _ = seen.send(String::from_utf8_lossy(&received).to_string());
        tokio::time::sleep(delay).await;
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
    });
    (url, request)
}

fn llm(url: String, timeout_ms: u64) -> Llm {
    Llm::new(LlmConfig {
        url,
        model: "tiny-model".into(),
        timeout_ms,
    })
    .unwrap()
}

const FACTS: [&str; 1] = ["seat 7 of jazz-2026: free"];

#[tokio::test]
async fn a_working_endpoint_rephrases_from_the_facts() {
    let body =
        r#"{"choices":[{"message":{"role":"assistant","content":"Good news: seat 7 is free."}}]}"#;
    let (url, request) = fake_server("200 OK", body, Duration::ZERO).await;
    let facts: Vec<String> = FACTS.iter().map(|f| f.to_string()).collect();
    let phrased = llm(url, 2_000)
        .rephrase("is seat 7 free?", "For Jazz Night: seat 7 is free.", &facts)
        .await;
    assert_eq!(phrased.as_deref(), Some("Good news: seat 7 is free."));
    let request = request.await.unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions"),
        "{request}"
    );
    assert!(request.contains("tiny-model") && request.contains("seat 7 of jazz-2026: free"));
}

#[tokio::test]
async fn a_failing_slow_or_absent_endpoint_leaves_the_answer_alone() {
    let facts: Vec<String> = FACTS.iter().map(|f| f.to_string()).collect();
    let (url, _) = fake_server("500 Internal Server Error", "{}", Duration::ZERO).await;
    assert_eq!(llm(url, 2_000).rephrase("q", "a", &facts).await, None);
    let (url, _) = fake_server("200 OK", "not json", Duration::ZERO).await;
    assert_eq!(llm(url, 2_000).rephrase("q", "a", &facts).await, None);
    let (url, _) = fake_server("200 OK", r#"{"choices":[]}"#, Duration::ZERO).await;
    assert_eq!(llm(url, 2_000).rephrase("q", "a", &facts).await, None);
    let (url, _) = fake_server("200 OK", "{}", Duration::from_secs(30)).await;
    let started = Instant::now();
    assert_eq!(llm(url, 200).rephrase("q", "a", &facts).await, None);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout holds"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        llm(format!("http://{closed}"), 500)
            .rephrase("q", "a", &facts)
            .await,
        None
    );
    assert!(
        Llm::new(LlmConfig {
            url: "https://example.com".into(),
            model: "m".into(),
            timeout_ms: 100,
        })
        .is_err()
    );
}
