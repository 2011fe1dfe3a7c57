//! Request metrics for a tonic server: a tower [`Layer`] that counts every
//! call by method and status code and times it.
//!
//! A call's time runs from its arrival to its response headers: the whole
//! call for a unary method, the opening of the stream for a streaming one.
//! Its code is the `grpc-status` the headers carry (a failed unary call
//! answers with headers only) or OK; a stream that fails later is counted
//! OK. A call dropped before it answers is counted DEADLINE_EXCEEDED if
//! its `grpc-timeout` had passed (tonic ends such calls outside this
//! layer), CANCELLED otherwise (the client went away).
//!
//! The method label is the call's path only if it is one of the methods
//! the server was registered with, `unknown` otherwise, so a client
//! cannot create new series whatever path it sends.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tonic::Code;
use tower::{Layer, Service};

use crate::{LatencyFamily, latency_family};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: Arc<str>,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: Arc<str>,
}

/// The gRPC request metrics of one server; also the [`Layer`] that records them.
#[derive(Clone, Debug)]
pub struct GrpcMetrics {
    calls: Family<CallLabels, Counter>,
    latency: LatencyFamily<MethodLabels>,
    /// The label of each method served, by its path (`/package.Service/Method`).
    methods: Arc<HashMap<String, Arc<str>>>,
    /// The label of any other path.
    unknown: Arc<str>,
}

impl GrpcMetrics {
    /// Creates the metrics of a server whose methods have the paths
    /// `methods` (see [`method_paths`]) and registers them in `registry`
    /// as `grpc_requests_total` and `grpc_request_duration_seconds` (under
    /// the registry's prefix).
    pub fn register(registry: &mut Registry, methods: impl IntoIterator<Item = String>) -> Self {
        let metrics = Self {
            calls: Family::default(),
            latency: latency_family(),
            methods: Arc::new(
                methods
                    .into_iter()
                    .map(|path| {
                        let label = Arc::from(path.strip_prefix('/').unwrap_or(&path));
                        (path, label)
                    })
                    .collect(),
            ),
            unknown: Arc::from("unknown"),
        };
        registry.register(
            "grpc_requests",
            "gRPC calls answered, by method and status code",
            metrics.calls.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "Time from a gRPC call's arrival to its response headers (the whole call for a unary method)",
            metrics.latency.clone(),
        );
        metrics
    }

    /// The label of a call to `path`: a served method's, else `unknown`
    /// (the path is the client's choice). Allocates nothing.
    fn label(&self, path: &str) -> Arc<str> {
        self.methods.get(path).unwrap_or(&self.unknown).clone()
    }

    fn record(&self, method: Arc<str>, code: Code, start: Instant) {
        let seconds = start.elapsed().as_secs_f64();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.clone(),
            })
            .observe(seconds);
        self.calls
            .get_or_create(&CallLabels {
                method,
                code: code_name(code),
            })
            .inc();
    }
}

impl<S> Layer<S> for GrpcMetrics {
    type Service = Instrumented<S>;

    fn layer(&self, inner: S) -> Instrumented<S> {
        Instrumented {
            inner,
            metrics: self.clone(),
        }
    }
}

/// A service whose calls are recorded in [`GrpcMetrics`].
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
    metrics: GrpcMetrics,
}

/// A call under way; recorded as DEADLINE_EXCEEDED or CANCELLED if
/// dropped before it answers.
struct Pending {
    metrics: GrpcMetrics,
    method: Option<Arc<str>>,
    start: Instant,
    /// When the call's `grpc-timeout` runs out, if it has one.
    deadline: Option<Instant>,
}

impl Pending {
    fn finish(mut self, code: Code) {
        if let Some(method) = self.method.take() {
            self.metrics.record(method, code, self.start);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(method) = self.method.take() {
            let code = match self.deadline {
                Some(deadline) if Instant::now() >= deadline => Code::DeadlineExceeded,
                _ => Code::Cancelled,
            };
            self.metrics.record(method, code, self.start);
        }
    }
}

impl<S, B, R> Service<http::Request<B>> for Instrumented<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let start = Instant::now();
        let pending = Pending {
            metrics: self.metrics.clone(),
            method: Some(self.metrics.label(request.uri().path())),
            start,
            deadline: grpc_timeout(request.headers()).and_then(|t| start.checked_add(t)),
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            pending.finish(match &result {
                Ok(response) => status_of(response.headers()),
                Err(_) => Code::Unknown,
            });
            result
        })
    }
}

/// A request's `grpc-timeout` (digits and a unit letter, per the gRPC
/// over HTTP/2 specification), if it has a valid one.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = (value.get(..split)?, value.get(split..)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The paths (`/package.Service/Method`) of every method of every service
/// in an encoded `FileDescriptorSet`, such as the one generated code
/// embeds for reflection.
pub fn method_paths(descriptor_set: &[u8]) -> Result<Vec<String>, prost::DecodeError> {
    let set = <prost_types::FileDescriptorSet as prost::Message>::decode(descriptor_set)?;
    let mut paths = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            let service_name = match package {
                "" => service.name().to_owned(),
                package => format!("{package}.{}", service.name()),
            };
            for method in &service.method {
                paths.push(format!("/{service_name}/{}", method.name()));
            }
        }
    }
    Ok(paths)
}

/// The status a response's headers carry: OK unless they say otherwise.
fn status_of(headers: &http::HeaderMap) -> Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// The canonical name of a status code, as in the gRPC specification.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    /// A server that answers `/svc/Ok` with OK, `/svc/Missing` with
    /// NOT_FOUND in its headers, anything else UNIMPLEMENTED, and
    /// `/svc/Slow` never.
    async fn answer(request: http::Request<()>) -> Result<http::Response<()>, Infallible> {
        let status = match request.uri().path() {
            "/svc/Ok" => None,
            "/svc/Missing" => Some("5"),
            "/svc/Slow" => std::future::pending().await,
            _ => Some("12"),
        };
        let mut response = http::Response::new(());
        if let Some(status) = status {
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static(status));
        }
        Ok(response)
    }

    async fn call<S>(service: &S, path: &str)
    where
        S: Service<http::Request<()>, Response = http::Response<()>, Error = Infallible> + Clone,
    {
        let request = http::Request::builder().uri(path).body(()).unwrap();
        service.clone().oneshot(request).await.unwrap();
    }

    #[tokio::test]
    async fn counts_calls_by_method_and_code_without_client_chosen_labels() {
        let mut registry = Registry::with_prefix("t");
        let served = ["/svc/Ok", "/svc/Missing", "/svc/Slow"].map(str::to_owned);
        let metrics = GrpcMetrics::register(&mut registry, served);
        let service = metrics.layer(tower::service_fn(answer));
        call(&service, "/svc/Ok").await;
        call(&service, "/svc/Ok").await;
        call(&service, "/svc/Missing").await;
        call(&service, "/svc/Whatever1").await;
        call(&service, "/junk/Whatever2").await;
        let slow = |timeout: Option<&'static str>| {
            let mut request = http::Request::builder().uri("/svc/Slow");
            if let Some(timeout) = timeout {
                request = request.header("grpc-timeout", timeout);
            }
            service.clone().oneshot(request.body(()).unwrap())
        };
        let wait = Duration::from_millis(20);
        // The client goes away first; the call's deadline passes first.
        assert!(tokio::time::timeout(wait, slow(None)).await.is_err());
        assert!(tokio::time::timeout(wait, slow(Some("1m"))).await.is_err());
        assert!(tokio::time::timeout(wait, slow(Some("1H"))).await.is_err());

        let text = crate::render(&registry);
        for line in [
            "t_grpc_requests_total{method=\"svc/Ok\",code=\"OK\"} 2\n",
            "t_grpc_requests_total{method=\"svc/Missing\",code=\"NOT_FOUND\"} 1\n",
            "t_grpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 2\n",
            "t_grpc_requests_total{method=\"svc/Slow\",code=\"CANCELLED\"} 2\n",
            "t_grpc_requests_total{method=\"svc/Slow\",code=\"DEADLINE_EXCEEDED\"} 1\n",
            "t_grpc_request_duration_seconds_count{method=\"svc/Ok\"} 2\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("Whatever"), "{text}");
    }

    #[test]
    fn reads_timeouts_and_method_paths() {
        let timeout = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            grpc_timeout(&headers)
        };
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        for bad in ["", "m", "12", "12x", "-1m", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
        let paths = method_paths(&health_descriptor()).unwrap();
        assert!(
            paths.contains(&"/grpc.health.v1.Health/Check".to_owned()),
            "{paths:?}"
        );
        assert!(method_paths(b"\xff\xff").is_err());
    }

    /// An encoded descriptor set: package `grpc.health.v1`, service
    /// `Health`, method `Check`.
    fn health_descriptor() -> Vec<u8> {
        use prost::Message;
        let set = prost_types::FileDescriptorSet {
            file: vec![prost_types::FileDescriptorProto {
                package: Some("grpc.health.v1".into()),
                service: vec![prost_types::ServiceDescriptorProto {
                    name: Some("Health".into()),
                    method: vec![prost_types::MethodDescriptorProto {
                        name: Some("Check".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        set.encode_to_vec()
    }
}
