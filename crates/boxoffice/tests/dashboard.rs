//! The Grafana dashboard (`deploy/grafana/boxoffice.json`) queries only
//! metrics that a node or the gateway exports: every PromQL expression of
//! the dashboard is read, its metric names picked out, and each must
//! appear in a scrape of a real three-node paid cluster and its gateway
//! after a declined and a paid checkout over the gateway and one relayed
//! by a follower, so that the labelled series exist.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use boxoffice_client::proto::Card;
use boxoffice_node::config::{PaymentSettings, RaftTuning};
use common::{Chatbot, Cluster, FAR_FUTURE_MS, Gateway};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DASHBOARD: &str = include_str!("../../../deploy/grafana/boxoffice.json");

/// Series Prometheus makes itself for every target, which no process exports.
const SYNTHESIZED: [&str; 1] = ["up"];

/// PromQL words that are not metric names: aggregations (which may be
/// followed by `by (...)` before their parenthesis), binary operators
/// and modifiers.
const KEYWORDS: [&str; 22] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// Modifiers followed by a list of label names, as in `sum by (le) (...)`.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The index just past the bracketed group opening at `open` (`{...}`,
/// `[...]`, `(...)`), skipping quoted strings inside it.
fn skip_group(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() && chars[i] != close {
        i = match chars[i] {
            '"' | '\'' | '`' => skip_string(chars, i),
            _ => i + 1,
        };
    }
    i + 1
}

/// The index just past the string literal opening at `open`.
fn skip_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() && chars[i] != quote {
        // A backslash escapes the next character (not in raw `...` strings).
        i += if chars[i] == '\\' && quote != '`' {
            2
        } else {
            1
        };
    }
    i + 1
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The metric names `expr` (PromQL, possibly with Grafana's `$variables`)
/// selects: every identifier that is not a function (followed by `(`), a
/// keyword, a label name inside `{...}` or a `by (...)` list, a string,
/// a number or duration, or a Grafana variable.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
        } else if c == '{' {
            // Label matchers.
            i = skip_group(&chars, i, '}');
        } else if c == '[' {
            // A range or subquery: durations and Grafana variables.
            i = skip_group(&chars, i, ']');
        } else if c == '$' {
            // `$node`, `${node}`, `$__rate_interval`.
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = skip_group(&chars, i, '}');
            }
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number (0.99, 1e3) or a duration (5m).
            while i < chars.len() && (is_name_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_name_char(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&lower.as_str()) {
                if called {
                    i = skip_group(&chars, next, ')');
                }
            } else if !called && !KEYWORDS.contains(&lower.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every PromQL expression of the dashboard: each target's `expr` (in
/// rows too) and each query variable's query, `label_values(metric,
/// label)` read as its metric selector.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn exprs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(targets)) = map.get("targets") {
                    for target in targets {
                        let expr = target["expr"].as_str();
                        out.push(expr.expect("every target has an expr").to_owned());
                    }
                }
                if let Some(Value::Array(panels)) = map.get("panels") {
                    for panel in panels {
                        exprs(panel, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| exprs(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    exprs(dashboard, &mut out);
    let variables = dashboard["templating"]["list"].as_array();
    for variable in variables.expect("a templating list") {
        if variable["type"] != "query" {
            continue;
        }
        let query = match &variable["query"] {
            Value::String(query) => query.clone(),
            query => query["query"].as_str().expect("a query").to_owned(),
        };
        out.push(
            match query.strip_prefix("label_values(") {
                Some(args) => {
                    args.rsplit_once(',')
                        .expect("label_values(metric, label)")
                        .0
                }
                None => &query,
            }
            .to_owned(),
        );
    }
    out
}

/// The series names a scrape (OpenMetrics text) holds: each sample's,
/// and for each `# TYPE` line the names its type gives its samples (a
/// counter `x` has `x_total`, a histogram `x_bucket`, `x_sum` and
/// `x_count`), so a family with no sample yet is counted too.
fn exported_series(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (family, kind) = declaration
                .split_once(' ')
                .unwrap_or_else(|| panic!("a TYPE line without a type: {line}"));
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "gaugehistogram" => &["_bucket", "_gsum", "_gcount"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|suffix| format!("{family}{suffix}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = |expr| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            "histogram_quantile(0.99, sum by (le, method) (rate(a_seconds_bucket{instance=~\"$node\", \
             method=~\"x/(A|B)\"}[$__rate_interval])))"
        ),
        ["a_seconds_bucket"]
    );
    assert_eq!(
        names(
            "scalar(max(b_index{x=\"{y}\"})) - b_index offset 5m / on (instance) group_left c \
             unless sum(d) without (job) > bool 1e3 and ${e} or max by(x)(f:rule[1h:1m])"
        ),
        ["b_index", "c", "d", "f:rule"]
    );
    let exported = exported_series(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 0\n# TYPE c counter\n# TYPE g gauge\ng 1\n\
         # TYPE p gauge\np{x=\"y z\"} 2\n# EOF\n",
    );
    let expected = [
        "c_created",
        "c_total",
        "g",
        "h_bucket",
        "h_count",
        "h_created",
        "h_sum",
        "p",
    ];
    assert_eq!(exported.into_iter().collect::<Vec<_>>(), expected);
}

/// POSTs `body` to the gateway's `path` as `token`'s holder: the status
/// and the JSON body (Null if none).
async fn post(gateway: &Gateway, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", gateway.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Holds `seat` of `show` for `token`'s holder and pays with `number`.
async fn hold_and_pay(
    gateway: &Gateway,
    token: &str,
    show: &str,
    seat: u32,
    number: &str,
) -> StatusCode {
    let hold = json!({"show_id": show, "seat_nos": [seat]});
    let (status, held) = post(gateway, "/api/holds", token, hold).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let pay = format!("/api/bookings/{}/pay", held["booking_id"].as_str().unwrap());
    let card = json!({"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}});
    post(gateway, &pay, token, card).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "the dashboard picks its Prometheus data source with a variable"
    );
    let queries = dashboard_queries(&dashboard);
    let queried: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    assert!(queried.len() > 20, "too few metrics read: {queried:?}");

    // Three nodes, so the leader reports its followers' replication lag.
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = Gateway::start(&cluster, &chatbot).await;
    cluster
        .client("admin")
        .await
        .create_show("dash", "Dashboard", 10, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    // A hold with a declined payment, then a paid checkout, over the
    // gateway: payment outcomes by label, holds, checkout latency.
    let buyer = cluster.token("dana").await;
    let declined = hold_and_pay(&gateway, &buyer, "dash", 1, "4000 0000 0000 9995").await;
    assert_eq!(declined, StatusCode::PAYMENT_REQUIRED);
    let paid = hold_and_pay(&gateway, &buyer, "dash", 2, "4242 4242 4242 4242").await;
    assert_eq!(paid, StatusCode::OK);
    // A one-call checkout at a follower, which relays it to the leader.
    let leader = cluster.leader().await;
    let follower = cluster.live().into_iter().find(|id| *id != leader).unwrap();
    let card = Card {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    let at_follower = cluster.client_of(follower, "dana").await;
    at_follower.book("dash", &[3]).card(&card).await.unwrap();

    // Scrape every node and the gateway until each queried name is
    // there (the leader's replication figures appear as followers answer).
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut exported: BTreeSet<String> = SYNTHESIZED.map(str::to_owned).into();
        for id in cluster.live() {
            exported.extend(exported_series(&cluster.metrics(id).await));
        }
        let response = http.get(format!("{}/metrics", gateway.base)).send().await;
        let scrape = response.expect("the gateway answers").text().await.unwrap();
        exported.extend(exported_series(&scrape));
        let missing: Vec<&String> = queried.difference(&exported).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard queries metrics nobody exports: {missing:?}\nexported: {exported:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
