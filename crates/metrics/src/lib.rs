//! Prometheus metrics shared by the services: the text exposition served
//! at `/metrics`, a tower layer that counts and times every gRPC call a
//! server answers ([`grpc`]), and an axum middleware that does the same
//! for HTTP routes ([`http`]).
//!
//! Invariants:
//! - every label value comes from a bounded set: a gRPC method the server
//!   was registered with (any other path is counted as `unknown`), an HTTP route
//!   *template* (`/api/shows/{show_id}`, never the path itself), a status
//!   code; a client can never create new time series by sending odd paths;
//! - recording a request takes no lock across an `.await` and never fails
//!   the request;
//! - a registry is built once at start-up and only read afterwards, so
//!   each process (or each in-process test instance) has its own.

#![deny(missing_docs)]

pub mod grpc;
pub mod http;
pub mod process;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use prometheus_client;

/// Content type of the OpenMetrics text format, which Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds: half a millisecond
/// (a cached read) to thirty seconds (a checkout retrying a slow payment).
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Latency histograms, one per label set.
pub type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// An empty [`LatencyFamily`].
pub fn latency_family<L>() -> LatencyFamily<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(latency_histogram)
}

/// Writes a gauge computed when scraped (for a [`Collector`](prometheus_client::collector::Collector)).
pub fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// Writes a gauge family computed when scraped: one sample per label set.
pub fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> std::fmt::Result {
    let kind = ConstGauge::new(0u64).metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// `registry` in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail, and every metric type this
    // workspace registers encodes without error.
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
        out.push_str("# EOF\n");
    }
    out
}

/// An HTTP response carrying `registry`'s exposition.
pub fn response(registry: &Registry) -> Response {
    let mut response = render(registry).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// The value of the sample `name` whose labels include every pair of
/// `labels`, in an exposition as [`render`] writes it (label values
/// without commas or quotes); for tests and tools that read a scrape.
/// `None` if there is none.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(key, value)| {
                    series_labels
                        .split(',')
                        .any(|pair| pair == format!("{key}=\"{value}\""))
                });
            if matches { value.parse().ok() } else { None }
        })
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let mut registry = Registry::with_prefix("boxoffice");
        let counter = Counter::<u64>::default();
        registry.register("things", "Things seen", counter.clone());
        let latency = latency_family::<Vec<(String, String)>>();
        registry.register("wait_seconds", "Waits", latency.clone());
        counter.inc_by(3);
        latency
            .get_or_create(&vec![("kind".into(), "a".into())])
            .observe(0.003);
        let text = render(&registry);
        assert!(text.contains("boxoffice_things_total 3\n"), "{text}");
        assert!(
            text.contains("boxoffice_wait_seconds_bucket{le=\"0.005\",kind=\"a\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("boxoffice_wait_seconds_bucket{le=\"0.0025\",kind=\"a\"} 0\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(sample(&text, "boxoffice_things_total", &[]), Some(3.0));
        assert_eq!(
            sample(&text, "boxoffice_wait_seconds_count", &[("kind", "a")]),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "boxoffice_wait_seconds_count", &[("kind", "b")]),
            None
        );
        assert_eq!(sample(&text, "boxoffice_things", &[]), None);
        let response = response(&registry);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static(CONTENT_TYPE)
        );
    }
}
