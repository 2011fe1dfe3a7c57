//! Request metrics for an axum router: a middleware ([`HttpMetrics::track`])
//! that counts every request by method, route template and status, and
//! times it to its response headers (for an event stream, its opening).
//!
//! The route is the template the router matched (`/api/shows/{show_id}`),
//! or `unmatched`; the method is a standard one or `other`. No label value
//! is ever copied from what the client sent.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::{LatencyFamily, latency_family};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// The HTTP request metrics of one server.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily<RouteLabels>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them in `registry` as
    /// `http_requests_total` and `http_request_duration_seconds` (under the
    /// registry's prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: latency_family(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from an HTTP request's arrival to its response headers",
            metrics.latency.clone(),
        );
        metrics
    }

    /// The middleware: `router.layer(axum::middleware::from_fn_with_state(metrics, HttpMetrics::track))`.
    pub async fn track(State(metrics): State<Self>, request: Request, next: Next) -> Response {
        let start = Instant::now();
        let method = method_name(request.method());
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        let response = next.run(request).await;
        let seconds = start.elapsed().as_secs_f64();
        metrics
            .latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        metrics
            .requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status: response.status().as_u16(),
            })
            .inc();
        response
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn counts_requests_by_route_template_not_path() {
        let mut registry = Registry::with_prefix("t");
        let metrics = HttpMetrics::register(&mut registry);
        let app = Router::new()
            .route("/items/{id}", get(|| async { "item" }))
            .layer(axum::middleware::from_fn_with_state(
                metrics,
                HttpMetrics::track,
            ));
        for (method, path) in [
            ("GET", "/items/1"),
            ("GET", "/items/2"),
            ("POST", "/items/3"),
            ("GET", "/nowhere/secret-token"),
            ("BREW", "/items/4"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = crate::render(&registry);
        for line in [
            "t_http_requests_total{method=\"GET\",route=\"/items/{id}\",status=\"200\"} 2\n",
            "t_http_requests_total{method=\"POST\",route=\"/items/{id}\",status=\"405\"} 1\n",
            "t_http_requests_total{method=\"other\",route=\"/items/{id}\",status=\"405\"} 1\n",
            "t_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n",
            "t_http_request_duration_seconds_count{method=\"GET\",route=\"/items/{id}\"} 2\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("secret"), "{text}");
    }
}
