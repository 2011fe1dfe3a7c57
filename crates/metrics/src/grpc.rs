//! Request metrics for a tonic server: a tower [`Layer`] that counts every
//! call by method and status code and times it.
//!
//! A call's time runs from its arrival to its response headers: the whole
//! call for a unary method, the opening of the stream for a streaming one.
//! Its code is the `grpc-status` the headers carry (a failed unary call
//! answers with headers only) or OK; a stream that fails later is counted
//! OK. A call the client abandons first is counted CANCELLED.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tonic::Code;
use tower::{Layer, Service};

use crate::{LatencyFamily, latency_family};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// The gRPC request metrics of one server; also the [`Layer`] that records them.
#[derive(Clone, Debug)]
pub struct GrpcMetrics {
    calls: Family<CallLabels, Counter>,
    latency: LatencyFamily<MethodLabels>,
}

impl GrpcMetrics {
    /// Creates the metrics and registers them in `registry` as
    /// `grpc_requests_total` and `grpc_request_duration_seconds` (under the
    /// registry's prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            calls: Family::default(),
            latency: latency_family(),
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

    fn record(&self, path: &str, code: Code, start: Instant) {
        // A method the server does not implement is answered UNIMPLEMENTED;
        // its path, which the client chose, must not become a label.
        let method = match code {
            Code::Unimplemented => "unknown",
            _ => path.strip_prefix('/').unwrap_or(path),
        };
        let seconds = start.elapsed().as_secs_f64();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .observe(seconds);
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_owned(),
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

/// A call under way; recorded as CANCELLED if dropped before it answers.
struct Pending {
    metrics: GrpcMetrics,
    path: Option<String>,
    start: Instant,
}

impl Pending {
    fn finish(mut self, code: Code) {
        if let Some(path) = self.path.take() {
            self.metrics.record(&path, code, self.start);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            self.metrics.record(&path, Code::Cancelled, self.start);
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
        let pending = Pending {
            metrics: self.metrics.clone(),
            path: Some(request.uri().path().to_owned()),
            start: Instant::now(),
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
        let metrics = GrpcMetrics::register(&mut registry);
        let service = metrics.layer(tower::service_fn(answer));
        call(&service, "/svc/Ok").await;
        call(&service, "/svc/Ok").await;
        call(&service, "/svc/Missing").await;
        call(&service, "/svc/Whatever1").await;
        call(&service, "/junk/Whatever2").await;
        let slow = http::Request::builder().uri("/svc/Slow").body(()).unwrap();
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            service.clone().oneshot(slow),
        )
        .await;
        assert!(abandoned.is_err());

        let text = crate::render(&registry);
        for line in [
            "t_grpc_requests_total{method=\"svc/Ok\",code=\"OK\"} 2\n",
            "t_grpc_requests_total{method=\"svc/Missing\",code=\"NOT_FOUND\"} 1\n",
            "t_grpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 2\n",
            "t_grpc_requests_total{method=\"svc/Slow\",code=\"CANCELLED\"} 1\n",
            "t_grpc_request_duration_seconds_count{method=\"svc/Ok\"} 2\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("Whatever"), "{text}");
    }
}
