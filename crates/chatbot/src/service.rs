//! `boxoffice.v1.ChatbotService` over gRPC.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_proto::v1;
use boxoffice_proto::v1::chatbot_service_server::{ChatbotService, ChatbotServiceServer};
use futures::{Stream, StreamExt};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

use crate::assistant::{Answer, Assistant, MAX_TEXT};
use crate::config::ChatbotConfig;
use crate::intent::{Classifier, IntentError, dataset};
use crate::llm::Llm;
use crate::policies::Policies;

/// Largest request accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest session id.
pub const MAX_SESSION_ID: usize = 64;

/// The chatbot failed to start or to serve.
#[derive(Debug, thiserror::Error)]
pub enum ChatbotError {
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] boxoffice_proto::ReflectionError),
    /// The intent model could not be trained.
    #[error(transparent)]
    Intent(#[from] IntentError),
    /// The policies or the generative backend are misconfigured.
    #[error("{0}")]
    Config(String),
    /// gRPC serving failed.
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// A certificate, key or CA could not be read.
    #[error("TLS: {0}")]
    Tls(#[from] boxoffice_tls::TlsError),
}

/// Builds the assistant `config` describes (trains the intent model).
pub fn assistant(config: &ChatbotConfig) -> Result<Assistant, ChatbotError> {
    let classifier = Classifier::train(&dataset()?)?;
    let policies = Policies::load(config.policies.as_deref()).map_err(ChatbotError::Config)?;
    let trust = match &config.ca {
        Some(ca) => Some(boxoffice_tls::client_trusting_file(ca)?),
        None => None,
    };
    let nodes = Client::with_tls(&config.nodes, trust)
        .map_err(|e| ChatbotError::Config(e.to_string()))?
        .with_deadline(Duration::from_secs(10));
    let llm = config
        .llm
        .clone()
        .map(Llm::new)
        .transpose()
        .map_err(ChatbotError::Config)?;
    Ok(Assistant::new(
        classifier,
        policies,
        nodes,
        llm,
        Duration::from_secs(config.session_ttl_secs),
        config.max_sessions,
    ))
}

/// The gRPC service.
pub struct ChatbotApi {
    assistant: Arc<Assistant>,
}

impl ChatbotApi {
    /// The service of `assistant`.
    pub fn new(assistant: Arc<Assistant>) -> Self {
        Self { assistant }
    }
}

/// The caller's bearer token, passed on to the cluster as it is.
fn bearer<T>(req: &Request<T>) -> Option<String> {
    let value = req.metadata().get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Checks a question; an empty session id gets a fresh one.
fn checked(r: v1::AskRequest) -> Result<(String, String), Status> {
    if r.session_id.len() > MAX_SESSION_ID || !r.session_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Status::invalid_argument(format!(
            "session_id must be up to {MAX_SESSION_ID} printable characters without spaces"
        )));
    }
    if r.text.chars().count() > MAX_TEXT {
        return Err(Status::invalid_argument(format!(
            "text must be at most {MAX_TEXT} characters"
        )));
    }
    let session = if r.session_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        r.session_id
    };
    Ok((session, r.text))
}

fn response(session_id: String, answer: Answer) -> v1::AskResponse {
    v1::AskResponse {
        session_id,
        reply: answer.reply,
        intent: answer.intent.label().to_owned(),
        confidence: answer.confidence,
        suggestions: answer.suggestions,
        facts: answer.facts,
    }
}

type ChatStream = Pin<Box<dyn Stream<Item = Result<v1::AskResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ChatbotService for ChatbotApi {
    async fn ask(&self, req: Request<v1::AskRequest>) -> Result<Response<v1::AskResponse>, Status> {
        let token = bearer(&req);
        let (session, text) = checked(req.into_inner())?;
        let answer = self.assistant.ask(&session, &text, token.as_deref()).await;
        Ok(Response::new(response(session, answer)))
    }

    type ChatStream = ChatStream;

    async fn chat(
        &self,
        req: Request<Streaming<v1::AskRequest>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let token = bearer(&req);
        let assistant = self.assistant.clone();
        let mut incoming = req.into_inner();
        let replies = async_stream(move |tx| async move {
            while let Some(message) = incoming.next().await {
                let reply = match message.and_then(checked) {
                    Ok((session, text)) => {
                        let answer = assistant.ask(&session, &text, token.as_deref()).await;
                        Ok(response(session, answer))
                    }
                    Err(status) => Err(status),
                };
                if tx.send(reply).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(replies))
    }
}

/// A stream fed by `produce` through a small channel.
fn async_stream<F, Fut>(produce: F) -> ChatStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<v1::AskResponse, Status>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// `boxoffice chatbot`: runs the assistant from the config file at `path`
/// (defaults and `BOXOFFICE_CHATBOT__*` overrides only if absent) until
/// the process is asked to stop.
pub async fn serve(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    boxoffice_server::process(|shutdown| async move {
        let config = ChatbotConfig::load(path)?;
        let listener = boxoffice_server::bind(&config.listen).await?;
        run(config, listener, shutdown).await?;
        Ok(())
    })
    .await
}

/// Runs the chatbot on `listener` until `shutdown` completes.
pub async fn run(
    config: ChatbotConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ChatbotError> {
    let assistant = Arc::new(assistant(&config)?);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ChatbotServiceServer<ChatbotApi>>()
        .await;
    info!(
        listen = %config.listen,
        nodes = ?config.nodes,
        llm = config.llm.is_some(),
        client_tls = config.client_tls.is_some(),
        "chatbot serving"
    );
    let client_tls = match &config.client_tls {
        Some(client_tls) => Some(client_tls.server()?),
        None => None,
    };
    boxoffice_server::grpc(client_tls)?
        .add_service(health_service)
        .add_service(boxoffice_proto::reflection(&[
            <ChatbotServiceServer<ChatbotApi> as NamedService>::NAME,
            <boxoffice_proto::legacy::chatbot::chatbot_server::ChatbotServer<
                crate::legacy::LegacyChatbot,
            > as NamedService>::NAME,
        ])?)
        .add_service(
            ChatbotServiceServer::new(ChatbotApi::new(assistant.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            boxoffice_proto::legacy::chatbot::chatbot_server::ChatbotServer::new(
                crate::legacy::LegacyChatbot::new(assistant),
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(boxoffice_server::incoming(listener), shutdown)
        .await?;
    Ok(())
}
