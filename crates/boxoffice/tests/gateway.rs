//! The HTTP gateway against a real cluster (one node process, the payment
//! service, auth and the assistant): every route of the JSON API, its bad
//! inputs and their status codes, the OpenAPI document against the routes
//! served, and the live seat map.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use boxoffice_metrics::sample;
use boxoffice_node::config::{PaymentSettings, RaftTuning};
use common::{Chatbot, Cluster, FAR_FUTURE_MS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PAYS: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000 0000 0000 9995";

/// The gateway in front of a cluster, and an HTTP client of it.
struct Gateway {
    base: String,
    http: reqwest::Client,
    _running: common::Gateway,
}

impl Gateway {
    async fn start(cluster: &Cluster, chatbot: &Chatbot) -> Self {
        Self::from(common::Gateway::start(cluster, chatbot).await)
    }

    fn from(running: common::Gateway) -> Self {
        Self {
            base: running.base.clone(),
            http: reqwest::Client::new(),
            _running: running,
        }
    }

    /// Sends `method path` with an optional token and JSON body; returns
    /// the status and the JSON body (Null when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// GETs `path` as text: the status, the content type and the body.
    async fn fetch(&self, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (status, content_type, response.text().await.unwrap())
    }

    /// Sends a raw body with a content type.
    async fn raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The gateway's `/metrics` text.
    async fn metrics(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send();
        response.await.unwrap().text().await.unwrap()
    }

    /// Registers and logs in `email`; returns the access token.
    async fn session(&self, email: &str) -> String {
        let credentials = json!({"email": email, "password": "correct horse battery staple"});
        let (status, _) = self.post("/api/register", None, credentials.clone()).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, session) = self.post("/api/login", None, credentials).await;
        assert_eq!(status, StatusCode::OK, "{session}");
        session["access_token"].as_str().unwrap().to_owned()
    }
}

/// The error code of an error body.
fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

fn card(number: &str) -> Value {
    json!({"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}})
}

async fn paid_cluster() -> (Cluster, Chatbot, Gateway) {
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = Gateway::start(&cluster, &chatbot).await;
    (cluster, chatbot, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_in_json_with_the_right_status() {
    let (cluster, _chatbot, gw) = paid_cluster().await;
    let admin = cluster.token("admin").await;

    // Health, readiness, and headers on every response.
    let response = gw
        .http
        .get(format!("{}/healthz", gw.base))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    for header in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(headers.contains_key(header), "missing {header}");
    }
    assert!(
        !headers.contains_key("access-control-allow-origin"),
        "CORS must be off by default"
    );
    let (status, ready) = gw.get("/readyz", None).await;
    assert_eq!(
        (status, ready["ready"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, body) = gw.get("/api/nowhere", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // Accounts, with bad bodies of every kind.
    let (status, body) = gw
        .raw(
            "/api/register",
            "application/json",
            b"{\"email\": ".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let (status, body) = gw
        .post("/api/register", None, json!({"email": 5, "password": "x"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let (status, body) = gw
        .post(
            "/api/register",
            None,
            json!({"email": "a@example.com", "password": "long enough pass", "admin": true}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        "unknown fields are refused: {body}"
    );
    let (status, body) = gw.raw("/api/register", "text/plain", b"{}".to_vec()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Just over the 16 KiB limit.
    let huge = json!({"email": "a@example.com", "password": "p".repeat(17 * 1024)});
    let (status, body) = gw.post("/api/register", None, huge).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (status, body) = gw
        .post(
            "/api/register",
            None,
            json!({"email": "not an email", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_argument")
    );

    let alice = gw.session("alice@example.com").await;
    let (status, body) = gw
        .post(
            "/api/register",
            None,
            json!({"email": "alice@example.com", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_exists")
    );
    let (status, body) = gw
        .post(
            "/api/login",
            None,
            json!({"email": "alice@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, me) = gw.get("/api/me", Some(&alice)).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (StatusCode::OK, Some("alice@example.com"))
    );
    let (status, body) = gw.get("/api/me", None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, body) = gw.get("/api/me", Some("forged")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    // Shows: administrators create and edit them.
    let show = json!({
        "show_id": "gala", "title": "Gala", "seat_count": 20,
        "price_cents": 2500, "starts_at_ms": FAR_FUTURE_MS,
    });
    let (status, body) = gw.post("/api/shows", Some(&alice), show.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, body) = gw.post("/api/shows", None, show.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, created) = gw.post("/api/shows", Some(&admin), show.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["available"], 20);
    let (status, body) = gw.post("/api/shows", Some(&admin), show.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_exists")
    );
    let mut zero = show.clone();
    zero["show_id"] = json!("zero");
    zero["seat_count"] = json!(0);
    let (status, body) = gw.post("/api/shows", Some(&admin), zero).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_argument")
    );
    let (status, edited) = gw
        .call(
            Method::PATCH,
            "/api/shows/gala",
            Some(&admin),
            Some(json!({"title": "Grand gala"})),
        )
        .await;
    assert_eq!(
        (status, edited["title"].as_str()),
        (StatusCode::OK, Some("Grand gala"))
    );
    let (status, body) = gw
        .call(
            Method::PATCH,
            "/api/shows/gala",
            Some(&alice),
            Some(json!({"title": "Mine"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, shows) = gw.get("/api/shows", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shows[0]["title"], "Grand gala");
    let (status, map) = gw.get("/api/shows/gala", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(map["seats"].as_array().unwrap().len(), 20);
    assert_eq!(map["seats"][0], json!({"seat_no": 1, "state": "available"}));
    let (status, body) = gw.get("/api/shows/nowhere", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // Checkout: hold, a declined card frees the seats, a good one books.
    let bob = gw.session("bob@example.com").await;
    let hold = json!({"show_id": "gala", "seat_nos": [3, 4]});
    let (status, body) = gw.post("/api/holds", None, hold.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, held) = gw.post("/api/holds", Some(&alice), hold.clone()).await;
    assert_eq!(
        (status, held["status"].as_str()),
        (StatusCode::CREATED, Some("held")),
        "{held}"
    );
    assert!(held["hold_expires_at_ms"].as_i64().unwrap() > 0);
    let (status, body) = gw.post("/api/holds", Some(&bob), hold.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "{body}"
    );
    let (status, body) = gw
        .post(
            "/api/holds",
            Some(&bob),
            json!({"show_id": "gala", "seat_nos": [21]}),
        )
        .await;
    assert!(
        status.is_client_error() && status != StatusCode::CONFLICT,
        "{status} {body}"
    );
    let held_id = held["booking_id"].as_str().unwrap();
    let pay = format!("/api/bookings/{held_id}/pay");
    let (status, body) = gw
        .post(&pay, Some(&alice), json!({"card": {"number": PAYS}}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let (status, body) = gw.post(&pay, Some(&bob), card(PAYS)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "another user's booking is not found"
    );
    let (status, body) = gw.post(&pay, Some(&alice), card(DECLINED)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYMENT_REQUIRED, "payment_declined"),
        "{body}"
    );
    let (_, map) = gw.get("/api/shows/gala", None).await;
    assert_eq!(
        map["seats"][2]["state"], "available",
        "a decline frees the seats"
    );
    let (status, held) = gw.post("/api/holds", Some(&alice), hold.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let held_id = held["booking_id"].as_str().unwrap().to_owned();
    let (status, paid) = gw
        .post(
            &format!("/api/bookings/{held_id}/pay"),
            Some(&alice),
            card(PAYS),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("confirmed")),
        "{paid}"
    );
    assert_eq!(paid["payment_status"], "charged");
    assert_eq!(paid["total_cents"], 5000);
    let (status, mine) = gw.get("/api/bookings", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine[0]["booking_id"], held_id.as_str());
    let (_, theirs) = gw.get("/api/bookings", Some(&bob)).await;
    assert_eq!(theirs, json!([]));
    let cancel = format!("/api/bookings/{held_id}/cancel");
    let (status, body) = gw.post(&cancel, Some(&bob), json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, cancelled) = gw.post(&cancel, Some(&alice), json!({})).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, body) = gw
        .post("/api/bookings/x%20y/cancel", Some(&alice), json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_argument")
    );

    // Administration, the assistant, the cluster.
    let (status, body) = gw.get("/api/users", Some(&alice)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, users) = gw.get("/api/users", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(users.as_array().unwrap().len() >= 3);
    let (status, answer) = gw
        .post(
            "/api/assistant",
            Some(&alice),
            json!({"text": "which shows are on?"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["reply"].as_str().unwrap().contains("Grand gala"),
        "{answer}"
    );
    let (status, body) = gw
        .post("/api/assistant", None, json!({"session_id": "no text"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        "{body}"
    );
    let (status, body) = gw
        .post(
            "/api/assistant",
            Some("not a token"),
            json!({"text": "my bookings"}),
        )
        .await;
    // A forged token gets the answer anyone logged out gets.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["suggestions"][0]["action"], "log_in", "{body}");
    let (status, status_body) = gw.get("/api/cluster", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_body["nodes"][0]["role"], "leader");

    // Sessions end.
    let (status, session) = gw
        .post(
            "/api/login",
            None,
            json!({"email": "bob@example.com", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refreshed) = gw
        .post(
            "/api/refresh",
            None,
            json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let token = refreshed["access_token"].as_str().unwrap();
    let (status, _) = gw.post("/api/logout", Some(token), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = gw.get("/api/me", Some(token)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let (_cluster, _chatbot, gw) = paid_cluster().await;
    let (status, doc) = gw.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /api/shows",
        "POST /api/shows",
        "GET /api/shows/{show_id}",
        "PATCH /api/shows/{show_id}",
        "GET /api/shows/{show_id}/events",
        "GET /api/shows/{show_id}/plan",
        "POST /api/shows/{show_id}/cancel",
        "POST /api/shows/{show_id}/hold-back",
        "POST /api/shows/{show_id}/release",
        "GET /api/shows/{show_id}/sales",
        "GET /api/venues",
        "POST /api/venues",
        "GET /api/venues/{venue_id}",
        "GET /api/productions",
        "POST /api/productions",
        "POST /api/productions/{production_id}/performances",
        "POST /api/bookings/{booking_id}/return",
        "GET /api/tickets",
        "POST /api/tickets/{ticket_id}/reissue",
        "GET /api/tickets/{ticket_id}/qr.svg",
        "POST /api/tickets/{ticket_id}/transfer",
        "POST /api/checkin",
        "GET /api/performances/{show_id}/door/live",
        "GET /api/performances/{show_id}/queue",
        "POST /api/performances/{show_id}/queue",
        "GET /api/performances/{show_id}/queue/live",
        "GET /api/performances/{show_id}/waitlist",
        "POST /api/performances/{show_id}/waitlist",
        "DELETE /api/performances/{show_id}/waitlist",
        "GET /api/performances/{show_id}/waitlist/live",
        "GET /api/ticket-keys",
        "POST /api/register",
        "POST /api/login",
        "POST /api/refresh",
        "POST /api/logout",
        "GET /api/me",
        "GET /api/users",
        "POST /api/holds",
        "GET /api/bookings",
        "POST /api/bookings/{booking_id}/pay",
        "POST /api/bookings/{booking_id}/cancel",
        "POST /api/assistant",
        "GET /api/cluster",
        "GET /api/cluster/events",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    // Every documented route is served: none falls through to the
    // gateway's "no such route".
    for route in &documented {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{show_id}", "nowhere")
            .replace("{booking_id}", "1")
            .replace("{venue_id}", "nowhere")
            .replace("{production_id}", "nowhere");
        let request = gw
            .http
            .request(method.parse().unwrap(), format!("{}{path}", gw.base))
            .timeout(Duration::from_secs(10));
        let response = request.send().await.unwrap();
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{route}");
        if response.headers()["content-type"] == "text/event-stream" {
            continue;
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(body["error"]["message"], "no such route", "{route}");
    }
    // And what is not documented is not served, with JSON errors.
    let (status, body) = gw.call(Method::DELETE, "/api/shows", None, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (status, body) = gw.get("/api/bookings/1/refund", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

/// Reads server-sent events from `response` until one named `name`
/// arrives; returns its JSON data.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, name: &str) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut kind = "message";
            let mut data = String::new();
            for line in event.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if kind == name {
                return serde_json::from_str(&data).expect("event data is JSON");
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event within 5 s"))
            .unwrap()
            .expect("the stream goes on");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_seat_map_sees_a_booking_made_elsewhere() {
    let (cluster, _chatbot, gw) = paid_cluster().await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("live", "Live", 10, 0, FAR_FUTURE_MS)
        .await
        .unwrap();
    let (status, body) = gw.get("/api/shows/nowhere/events", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    let mut events = gw
        .http
        .get(format!("{}/api/shows/live/events", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_event(&mut events, &mut buffer, "seats").await;
    assert_eq!(first["full"], true);
    assert_eq!(first["seats"].as_array().unwrap().len(), 10);

    // Booked over gRPC, straight at the cluster: the page learns of it.
    let buyer = cluster.client("carol").await;
    buyer.book("live", &[5, 6]).await.unwrap();
    // A paid booking is a hold, then a confirm: the seats may show held
    // in one update and booked in the next, or booked at once.
    let update = loop {
        let update = next_event(&mut events, &mut buffer, "seats").await;
        assert_eq!(update["full"], false);
        if update["show"]["booked"] == 2 {
            break update;
        }
        assert_eq!(
            update["seats"],
            json!([{"seat_no": 5, "state": "held"}, {"seat_no": 6, "state": "held"}])
        );
    };
    assert_eq!(
        update["seats"],
        json!([{"seat_no": 5, "state": "booked"}, {"seat_no": 6, "state": "booked"}])
    );

    // A second page starts from the map as it is now.
    let mut second = gw
        .http
        .get(format!("{}/api/shows/live/events", gw.base))
        .send()
        .await
        .unwrap();
    let mut second_buffer = String::new();
    let now = next_event(&mut second, &mut second_buffer, "seats").await;
    assert_eq!(now["full"], true);
    assert_eq!(now["seats"][4]["state"], "booked");

    // The cluster page's stream.
    let mut cluster_events = gw
        .http
        .get(format!("{}/api/cluster/events", gw.base))
        .send()
        .await
        .unwrap();
    let mut cluster_buffer = String::new();
    let status = next_event(&mut cluster_events, &mut cluster_buffer, "cluster").await;
    assert_eq!(status["nodes"][0]["role"], "leader");

    // The gateway's metrics: requests by route template (never the path
    // itself), and the live feed with its two pages.
    let response = gw
        .http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        boxoffice_metrics::CONTENT_TYPE
    );
    let text = response.text().await.unwrap();
    let requests = "boxoffice_gateway_http_requests_total";
    let route = |status| {
        [
            ("method", "GET"),
            ("route", "/api/shows/{show_id}/events"),
            ("status", status),
        ]
    };
    assert_eq!(sample(&text, requests, &route("200")), Some(2.0), "{text}");
    assert_eq!(sample(&text, requests, &route("404")), Some(1.0), "{text}");
    assert!(!text.contains("nowhere"), "{text}");
    assert_eq!(
        sample(&text, "boxoffice_gateway_live_shows", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "boxoffice_gateway_live_subscribers", &[]),
        Some(2.0)
    );
    if cfg!(target_os = "linux") {
        assert!(sample(&text, "process_resident_memory_bytes", &[]).is_some());
    }
}

/// Streams are capped per network (an IPv4 /24) as well as per address,
/// and anonymous streams cannot take the signed-in buyers' pool: with the
/// public pool full, a buyer still follows their own standing, and a
/// stream with a bad token is refused without a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped_per_network_and_buyers_keep_a_pool_of_their_own() {
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gw = Gateway::from(
        common::Gateway::start_tuned(&cluster, &chatbot, |c| {
            c.max_event_streams = 4;
            c.max_event_streams_per_client = 2;
            c.max_event_streams_per_network = 3;
        })
        .await,
    );
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 2, 0, FAR_FUTURE_MS)
        .await
        .unwrap();
    let ann = cluster.token("ann").await;
    // A client of the gateway calling from `from` (any 127/8 address is
    // this machine).
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let open = |client: reqwest::Client, path: &'static str, token: Option<String>| {
        let url = format!("{}{path}", gw.base);
        async move {
            let mut request = client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap()
        }
    };
    let refusal = |page: reqwest::Response| async move {
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: Value = page.json().await.unwrap();
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    let cluster_page = "/api/cluster/events";
    let mut pages = Vec::new();
    // One address takes its two; another of 127.0.0.0/24 the network's
    // third.
    for ip in ["127.0.0.1", "127.0.0.1"] {
        let page = open(from(ip), cluster_page, None).await;
        assert_eq!(page.status(), StatusCode::OK, "{ip}");
        pages.push(page);
    }
    let message = refusal(open(from("127.0.0.1"), cluster_page, None).await).await;
    assert!(
        message.contains("one client may keep at most 2"),
        "{message}"
    );
    pages.push(open(from("127.0.0.2"), cluster_page, None).await);
    assert_eq!(pages[2].status(), StatusCode::OK);
    let message = refusal(open(from("127.0.0.3"), cluster_page, None).await).await;
    assert!(
        message.contains("one network (127.0.0.0/24) may keep at most 3"),
        "{message}"
    );
    // Another network takes the public pool's last place; then it is full.
    pages.push(open(from("127.0.1.1"), cluster_page, None).await);
    assert_eq!(pages[3].status(), StatusCode::OK);
    let message = refusal(open(from("127.0.2.1"), cluster_page, None).await).await;
    assert!(message.contains("at most 4 may be open"), "{message}");
    // A signed-in buyer still follows their own standing; a bad token
    // is turned away for the token, taking no place.
    let waitlist = "/api/performances/gala/waitlist/live";
    let bad = open(from("127.0.2.1"), waitlist, Some("not-a-token".into())).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let mine = open(from("127.0.2.1"), waitlist, Some(ann.clone())).await;
    assert_eq!(mine.status(), StatusCode::OK);
    let mut buffer = String::new();
    let mut mine = mine;
    next_event(&mut mine, &mut buffer, "standing").await;
}

/// The cluster page's stream costs the nodes the same however many pages
/// are open (one poller), and one client cannot open more than its share
/// of streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped_per_client_and_share_one_cluster_poller() {
    const PER_CLIENT: usize = 6;
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gw = Gateway::from(
        common::Gateway::start_tuned(&cluster, &chatbot, |c| {
            c.max_event_streams_per_client = PER_CLIENT;
        })
        .await,
    );
    let open = || async {
        gw.http
            .get(format!("{}/api/cluster/events", gw.base))
            .send()
            .await
            .unwrap()
    };
    let mut pages = Vec::new();
    for _ in 0..PER_CLIENT {
        let mut page = open().await;
        assert_eq!(page.status(), StatusCode::OK);
        let mut buffer = String::new();
        next_event(&mut page, &mut buffer, "cluster").await;
        pages.push(page);
    }
    let refused = open().await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(code(&body), "too_many_requests", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("at most {PER_CLIENT}")),
        "{body}"
    );
    // The live seat map counts against the same share.
    let (status, body) = gw.get("/api/shows/nosuch/events", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // Over a measured window, the node answers about one GetStatus per
    // poll interval (500 ms), not one per open page. (A window, not a
    // wait for a condition: the count over time is what is checked.)
    let get_status = [
        ("method", "boxoffice.v1.ClusterService/GetStatus"),
        ("code", "OK"),
    ];
    let calls =
        |text: String| sample(&text, "boxoffice_grpc_requests_total", &get_status).unwrap_or(0.0);
    let before = calls(cluster.metrics(1).await);
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = calls(cluster.metrics(1).await);
    let polls_possible = started.elapsed().as_millis() as f64 / 500.0 + 2.0;
    assert!(
        after - before <= polls_possible,
        "{} GetStatus calls in {:?} with {PER_CLIENT} pages open: not one poller",
        after - before,
        started.elapsed()
    );
    assert!(after > before, "the poller stopped while pages are open");
    let text = gw.metrics().await;
    assert_eq!(
        sample(&text, "boxoffice_gateway_cluster_pollers", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "boxoffice_gateway_event_streams", &[]),
        Some(PER_CLIENT as f64),
        "{text}"
    );

    // A closed page gives its place back, and with no page left the
    // poller stops.
    pages.pop();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let again = loop {
        let page = open().await;
        if page.status() == StatusCode::OK {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed page's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(again);
    pages.clear();
    loop {
        let text = gw.metrics().await;
        if sample(&text, "boxoffice_gateway_cluster_pollers", &[]) == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the poller outlived its pages: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The example venue and its prices, as an administrator uploads them.
fn example(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/venues/");
    std::fs::read_to_string(format!("{path}{name}")).expect("the example file")
}

/// The seat numbers of `labels` on `show`'s plan.
async fn seat_nos(gw: &Gateway, show: &str, labels: &[&str]) -> Vec<u32> {
    let (status, plan) = gw.get(&format!("/api/shows/{show}/plan"), None).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    labels
        .iter()
        .map(|label| {
            let place = plan["places"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["label"] == *label)
                .unwrap_or_else(|| panic!("no place {label}"));
            place["seat_no"].as_u64().unwrap() as u32
        })
        .collect()
}

/// Counts of `show` from its plan: (available, held, booked, held back).
async fn counts(gw: &Gateway, show: &str) -> (u64, u64, u64, u64) {
    let (_, plan) = gw.get(&format!("/api/shows/{show}/plan"), None).await;
    let n = |k: &str| plan["show"][k].as_u64().unwrap();
    (n("available"), n("held"), n("booked"), n("held_back"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venues_performances_tickets_returns_and_sales_over_json() {
    let (cluster, _chatbot, gw) = paid_cluster().await;
    let admin = cluster.token("admin").await;
    let alice = gw.session("alice@example.com").await;
    let bob = gw.session("bob@example.com").await;
    let theatre = example("theatre.toml");
    let pricing = example("theatre-pricing.toml");

    // A venue file with a mistake on line 23: 400 naming the line, and
    // nothing imported.
    let mut lines: Vec<&str> = theatre.lines().collect();
    assert_eq!(lines[22], "seats = \"1-20\"");
    lines[22] = "seats = \"1-20";
    let broken = lines.join("\n");
    let (status, body) = gw
        .post(
            "/api/venues",
            Some(&admin),
            json!({"venue_id": "broken", "toml": broken}),
        )
        .await;
    assert_eq!(
        (status, code(&body), body["error"]["line"].as_u64()),
        (StatusCode::BAD_REQUEST, "invalid_file", Some(23)),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 23: "),
        "{body}"
    );
    let import = json!({"venue_id": "royal-court", "toml": theatre});
    let (status, body) = gw.post("/api/venues", Some(&alice), import.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, body) = gw.post("/api/venues", None, import.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    // A customer's file is never parsed: refused before the gateway reads
    // it, so a mistake in it is not reported.
    let theirs = json!({"venue_id": "broken", "toml": broken});
    let (status, body) = gw.post("/api/venues", Some(&alice), theirs).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied"),
        "{body}"
    );
    let tiny = json!({"name": "Tiny", "stage": {"x": 0, "y": 0, "width": 1, "height": 1}});
    let (status, both) = gw
        .post(
            "/api/venues",
            Some(&admin),
            json!({"venue_id": "x", "toml": "name = \"Tiny\"", "venue": tiny}),
        )
        .await;
    assert_eq!(
        (status, code(&both)),
        (StatusCode::BAD_REQUEST, "invalid_argument"),
        "{both}"
    );
    let (_, venues) = gw.get("/api/venues", None).await;
    assert_eq!(venues, json!([]), "nothing imported by a refused call");

    let (status, venue) = gw.post("/api/venues", Some(&admin), import).await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    assert_eq!(
        (venue["seats"].as_u64(), venue["standing"].as_u64()),
        (Some(600), Some(0))
    );

    // The layout as JSON, and imported again as JSON (larger than the
    // usual body cap); an unknown attribute is refused, nothing stored.
    let (status, detail) = gw.get("/api/venues/royal-court", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["layout"]["sections"][0]["name"], "Stalls");
    let mut layout = detail["layout"].clone();
    assert!(serde_json::to_vec(&layout).unwrap().len() > 16 * 1024);
    layout["sections"][0]["rows"][0]["seats"][0]["attributes"] = json!(["sofa"]);
    let (status, body) = gw
        .post(
            "/api/venues",
            Some(&admin),
            json!({"venue_id": "copy", "venue": layout}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("sofa"));
    let (status, copy) = gw
        .post(
            "/api/venues",
            Some(&admin),
            json!({"venue_id": "copy", "venue": detail["layout"]}),
        )
        .await;
    assert_eq!(
        (status, copy["seats"].as_u64()),
        (StatusCode::CREATED, Some(600))
    );
    let (_, venues) = gw.get("/api/venues", None).await;
    assert_eq!(venues.as_array().unwrap().len(), 2);
    let (status, body) = gw.get("/api/venues/nowhere", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // A production and a run of one performance.
    let production = json!({"production_id": "lear", "title": "King Lear", "running_minutes": 190});
    let (status, body) = gw
        .post("/api/productions", Some(&alice), production.clone())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, created) = gw.post("/api/productions", Some(&admin), production).await;
    assert_eq!(
        (status, created["title"].as_str()),
        (StatusCode::CREATED, Some("King Lear"))
    );
    let run = |pricing: &str| {
        json!({
            "venue_id": "royal-court",
            "performances": [{"show_id": "lear-1", "starts_at_ms": FAR_FUTURE_MS}],
            "pricing_toml": pricing,
        })
    };
    let add = "/api/productions/lear/performances";
    let (status, body) = gw.post(add, Some(&alice), run(&pricing)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let bad_pricing = pricing.replacen("types = [", "types = [[", 1);
    let (status, body) = gw.post(add, Some(&alice), run(&bad_pricing)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied"),
        "a customer's pricing file is not parsed: {body}"
    );
    let (status, body) = gw.post(add, Some(&admin), run(&bad_pricing)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_file"),
        "{body}"
    );
    assert!(body["error"]["line"].as_u64().is_some(), "{body}");
    let (status, added) = gw.post(add, Some(&admin), run(&pricing)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added[0]["venue_id"], "royal-court");
    let (_, productions) = gw.get("/api/productions", None).await;
    assert_eq!(productions[0]["production"]["production_id"], "lear");
    assert_eq!(productions[0]["performances"][0]["show_id"], "lear-1");

    // The plan: layout, categories, prices, states.
    let (status, plan) = gw.get("/api/shows/lear-1/plan", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plan["venue"]["stage"]["width"], 600);
    assert_eq!(plan["places"].as_array().unwrap().len(), 600);
    assert_eq!(plan["seats"].as_array().unwrap().len(), 600);
    assert_eq!(plan["prices"]["ticket_types"][1], "concession");
    let pair = seat_nos(&gw, "lear-1", &["Stalls F-3", "Stalls F-4"]).await;
    let f3 = &plan["places"][pair[0] as usize - 1];
    assert_eq!(f3["category"], "A");

    // Bad holds change nothing.
    for (bad, what) in [
        (
            json!({"show_id": "lear-1", "seat_labels": ["Stalls Z-99"]}),
            "Z-99",
        ),
        (
            json!({"show_id": "lear-1", "seat_labels": ["Stalls F-3"], "ticket_types": ["pensioner"]}),
            "pensioner",
        ),
    ] {
        let (status, body) = gw.post("/api/holds", Some(&alice), bad).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_argument"),
            "{body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(what),
            "{body}"
        );
        assert_eq!(counts(&gw, "lear-1").await, (600, 0, 0, 0));
    }

    // Two tickets by label, adult and concession; paid.
    let (status, held) = gw
        .post(
            "/api/holds",
            Some(&alice),
            json!({"show_id": "lear-1", "seat_labels": ["Stalls F-3", "Stalls F-4"],
                "ticket_types": ["adult", "concession"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["total_cents"], 5500 + 4400);
    assert_eq!(
        held["tickets"],
        json!([
            {"seat_no": pair[0], "label": "Stalls F-3", "ticket_type": "adult", "price_cents": 5500},
            {"seat_no": pair[1], "label": "Stalls F-4", "ticket_type": "concession", "price_cents": 4400},
        ])
    );
    let id = held["booking_id"].as_str().unwrap().to_owned();
    let (status, paid) = gw
        .post(&format!("/api/bookings/{id}/pay"), Some(&alice), card(PAYS))
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (StatusCode::OK, Some("confirmed")),
        "{paid}"
    );

    // Nobody else returns it, nor manages the performance.
    let back = format!("/api/bookings/{id}/return");
    let one = json!({"seat_nos": [pair[1]]});
    let (status, body) = gw.post(&back, Some(&bob), one.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    for path in ["hold-back", "release", "cancel"] {
        let (status, body) = gw
            .post(
                &format!("/api/shows/lear-1/{path}"),
                Some(&bob),
                json!({"seat_labels": ["Stalls A-1"], "reason": "mine"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "permission_denied"),
            "{path}"
        );
    }
    let (status, body) = gw.get("/api/shows/lear-1/sales", Some(&bob)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, body) = gw.post(&back, Some(&alice), json!({"seat_nos": [1]})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a seat not in the booking: {body}"
    );
    assert_eq!(counts(&gw, "lear-1").await, (598, 0, 2, 0));

    // The concession ticket goes back: its price is refunded.
    let (status, returned) = gw.post(&back, Some(&alice), one).await;
    assert_eq!(status, StatusCode::OK, "{returned}");
    assert_eq!(returned["refund_cents"], 4400);
    assert_eq!(returned["kept"]["total_cents"], 5500);
    assert_eq!(returned["kept"]["tickets"][0]["label"], "Stalls F-3");
    assert_eq!(returned["returned"]["status"], "cancelled");
    assert_eq!(
        returned["returned"]["tickets"][0]["ticket_type"],
        "concession"
    );
    assert_eq!(counts(&gw, "lear-1").await, (599, 0, 1, 0));

    // The sales report, as JSON and as CSV.
    let (status, report) = gw.get("/api/shows/lear-1/sales", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (
            &report["sold"],
            &report["revenue_cents"],
            &report["refunded"],
            &report["refunded_cents"]
        ),
        (&json!(1), &json!(5500), &json!(1), &json!(4400))
    );
    let csv = gw
        .http
        .get(format!("{}/api/shows/lear-1/sales?format=csv", gw.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.lines().any(|l| l == "A,adult,1,5500,0,0"), "{csv}");
    assert!(csv.ends_with("total,,1,5500,1,4400\n"), "{csv}");
    let (status, _) = gw
        .get("/api/shows/lear-1/sales?format=pdf", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Held back and released by the box office.
    let (status, show) = gw
        .post(
            "/api/shows/lear-1/hold-back",
            Some(&admin),
            json!({"seat_labels": ["Stalls A-1", "Stalls A-2"], "reason": "press"}),
        )
        .await;
    assert_eq!(
        (status, show["held_back"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{show}"
    );
    let a1 = seat_nos(&gw, "lear-1", &["Stalls A-1"]).await[0];
    let (_, plan) = gw.get("/api/shows/lear-1/plan", None).await;
    assert_eq!(plan["seats"][a1 as usize - 1]["state"], "held_back");
    let (status, show) = gw
        .post(
            "/api/shows/lear-1/release",
            Some(&admin),
            json!({"seat_labels": ["Stalls A-1"]}),
        )
        .await;
    assert_eq!(
        (status, show["held_back"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{show}"
    );

    // The best two seats of category B, picked by the cluster; then the
    // last ticket back, which cancels the booking.
    let (status, best) = gw
        .post(
            "/api/holds",
            Some(&bob),
            json!({"show_id": "lear-1", "best": {"count": 2, "category": "B"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{best}");
    assert_eq!(best["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(best["total_cents"], 2 * 3500);
    let (status, all) = gw.post(&back, Some(&alice), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        (&all["kept"], &all["refund_cents"]),
        (&Value::Null, &json!(5500))
    );

    // Cancelling the performance releases Bob's hold.
    let (status, cancelled) = gw
        .post("/api/shows/lear-1/cancel", Some(&admin), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["show"]["state"], "cancelled");
    assert_eq!(
        cancelled["bookings"][0]["status"], "released",
        "{cancelled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standing_places_are_held_by_count_and_type() {
    let (cluster, _chatbot, gw) = paid_cluster().await;
    let admin = cluster.token("admin").await;
    let carol = gw.session("carol@example.com").await;
    let (status, venue) = gw
        .post(
            "/api/venues",
            Some(&admin),
            json!({"venue_id": "lighthouse", "toml": example("club.toml")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{venue}");
    assert_eq!(
        (venue["standing"].as_u64(), venue["areas"].as_u64()),
        (Some(2000), Some(1))
    );
    let (status, _) = gw
        .post(
            "/api/productions",
            Some(&admin),
            json!({"production_id": "gig", "title": "The Gig"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, added) = gw
        .post(
            "/api/productions/gig/performances",
            Some(&admin),
            json!({
                "venue_id": "lighthouse",
                "performances": [{"show_id": "gig-1", "starts_at_ms": FAR_FUTURE_MS}],
                "pricing_toml": example("club-pricing.toml"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");

    // The plan lists the standing places after the seats, in their area.
    let (_, plan) = gw.get("/api/shows/gig-1/plan", None).await;
    let places = plan["places"].as_array().unwrap();
    assert_eq!(places.len(), 2400);
    let floor = places.iter().filter(|p| p["area"] == "Floor").count();
    assert_eq!(floor, 2000);
    assert_eq!(plan["venue"]["areas"][0]["capacity"], 2000);

    // An unknown area changes nothing; three concession places are held.
    let (status, body) = gw
        .post(
            "/api/holds",
            Some(&carol),
            json!({"show_id": "gig-1", "standing": [{"area": "Roof", "count": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(counts(&gw, "gig-1").await, (2400, 0, 0, 0));
    let (status, held) = gw
        .post(
            "/api/holds",
            Some(&carol),
            json!({"show_id": "gig-1",
                "standing": [{"area": "Floor", "count": 3, "ticket_type": "concession"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["total_cents"], 3 * 2500);
    let tickets = held["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    assert!(
        tickets.iter().all(|t| t["ticket_type"] == "concession"
            && t["label"].as_str().unwrap().starts_with("Floor"))
    );
    assert_eq!(counts(&gw, "gig-1").await, (2397, 3, 0, 0));
}

/// E-tickets and the door over JSON: a buyer's ticket with its signed
/// code and its QR code (for its holder only); scanned at the door by an
/// administrator: admitted once, then "already in"; a customer may not
/// scan, and a garbled code is an answer, not an error; the keys that
/// verify codes are published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_listed_and_scanned_at_the_door_over_json() {
    let (cluster, _chatbot, gw) = paid_cluster().await;
    let admin = cluster.token("admin").await;
    let alice = gw.session("alice@example.com").await;
    let bob = gw.session("bob@example.com").await;
    let (status, show) = gw
        .post(
            "/api/shows",
            Some(&admin),
            json!({"show_id": "door", "title": "Door", "seat_count": 5, "price_cents": 1000,
                "starts_at_ms": 4_070_980_800_000_i64}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{show}");
    let (status, held) = gw
        .post(
            "/api/holds",
            Some(&alice),
            json!({"show_id": "door", "seat_nos": [3]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let id = held["booking_id"].as_str().unwrap();
    let (status, paid) = gw
        .post(&format!("/api/bookings/{id}/pay"), Some(&alice), card(PAYS))
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");

    let (status, tickets) = gw.get("/api/tickets", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{tickets}");
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets}");
    assert_eq!(tickets[0]["label"], "3");
    let ticket_code = tickets[0]["code"].as_str().unwrap().to_owned();
    // The QR code: an SVG image for the holder; another user's ticket is
    // not found, and without a session there is none.
    let ticket_id = tickets[0]["ticket_id"].as_str().unwrap();
    let qr = format!("/api/tickets/{ticket_id}/qr.svg");
    let (status, content_type, svg) = gw.fetch(&qr, Some(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{svg}");
    assert_eq!(content_type, "image/svg+xml");
    assert_eq!(svg, boxoffice_view::qr::qr_svg(&ticket_code).unwrap());
    let (status, body) = gw.get(&qr, Some(&bob)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        body["error"]["message"],
        format!("you have no ticket {ticket_id}")
    );
    let (status, body) = gw.get(&qr, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, body) = gw.get("/api/tickets/3/qr.svg", Some(&alice)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_argument"),
        "{body}"
    );
    let seat_4 = format!("/api/tickets/{id}-4/qr.svg");
    let (status, _) = gw.get(&seat_4, Some(&alice)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a seat the booking has not");
    let (status, none) = gw.get("/api/tickets", Some(&bob)).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let (status, body) = gw.get("/api/tickets?booking=1", Some(&alice)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown parameter: {body}");
    // The front-of-house manager watches the door live; a customer may not.
    let live = |token: &str| {
        gw.http
            .get(format!("{}/api/performances/door/door/live", gw.base))
            .bearer_auth(token)
            .send()
    };
    let refused = live(&alice).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut counts = live(&admin).await.unwrap();
    assert_eq!(counts.status(), StatusCode::OK);
    assert_eq!(counts.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let before = next_event(&mut counts, &mut buffer, "counts").await;
    assert_eq!((&before["sold"], &before["inside"]), (&json!(1), &json!(0)));
    let scan = json!({"show_id": "door", "gate": "north", "code": ticket_code});
    let (status, body) = gw.post("/api/checkin", Some(&alice), scan.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "permission_denied")
    );
    let (status, first) = gw.post("/api/checkin", Some(&admin), scan.clone()).await;
    assert_eq!(
        (status, &first["result"]),
        (StatusCode::OK, &json!("admitted")),
        "{first}"
    );
    assert_eq!(first["message"], "admitted: seat 3, adult");
    let after = next_event(&mut counts, &mut buffer, "counts").await;
    assert_eq!(after["inside"], 1, "{after}");
    assert_eq!(after["gates"], json!([{"gate": "north", "admitted": 1}]));
    let (_, again) = gw.post("/api/checkin", Some(&admin), scan).await;
    assert_eq!(
        (&again["result"], &again["gate"]),
        (&json!("already_in"), &json!("north"))
    );
    let garbled = json!({"show_id": "door", "gate": "north", "code": "BT1.xyz"});
    let (status, forged) = gw.post("/api/checkin", Some(&admin), garbled).await;
    assert_eq!(
        (status, &forged["result"]),
        (StatusCode::OK, &json!("forged")),
        "{forged}"
    );
    // A used ticket cannot be given away; an unused one can: Alice's code
    // then says transferred, and Bob holds the new one.
    let (status, body) = gw
        .post(
            &format!("/api/tickets/{ticket_id}/transfer"),
            Some(&alice),
            json!({"to": "bob@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, held) = gw
        .post(
            "/api/holds",
            Some(&alice),
            json!({"show_id": "door", "seat_nos": [4]}),
        )
        .await;
    let four = held["booking_id"].as_str().unwrap();
    let (status, _) = gw
        .post(
            &format!("/api/bookings/{four}/pay"),
            Some(&alice),
            card(PAYS),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = gw
        .get(&format!("/api/tickets?booking_id={four}"), Some(&alice))
        .await;
    let old_code = mine[0]["code"].clone();
    let given = format!("/api/tickets/{four}-4/transfer");
    let (status, body) = gw
        .post(&given, Some(&alice), json!({"to": "nobody@example.com"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = gw.post(&given, Some(&alice), json!({"too": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, done) = gw
        .post(&given, Some(&alice), json!({"to": "bob@example.com"}))
        .await;
    assert_eq!(
        (status, &done["version"]),
        (StatusCode::OK, &json!(1)),
        "{done}"
    );
    let (_, bobs) = gw.get("/api/tickets", Some(&bob)).await;
    assert_eq!(bobs.as_array().unwrap().len(), 1, "{bobs}");
    assert_eq!(bobs[0]["version"], 1);
    let stale = json!({"show_id": "door", "gate": "north", "code": old_code});
    let (_, answer) = gw.post("/api/checkin", Some(&admin), stale).await;
    assert_eq!(answer["result"], "transferred", "{answer}");
    let (status, keys) = gw.get("/api/ticket-keys", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys[0]["public_key_hex"].as_str().unwrap().len(),
        64,
        "{keys}"
    );
}

/// Issue 25 over JSON: the waiting room of a performance, joined with the
/// proof of work its `GET` asks for (a wrong nonce is refused with the
/// reason), and joins limited per network at the gateway: past the
/// limit a browser's join is refused with 429, whoever it is; only joins
/// that take a place count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_room_joins_need_their_work_and_are_limited_per_network() {
    const JOINS: u32 = 3;
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gw = Gateway::from(
        common::Gateway::start_tuned(&cluster, &chatbot, |c| {
            c.joins_per_network_per_minute = JOINS;
        })
        .await,
    );
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 10, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    let (status, body) = gw
        .get(
            "/api/performances/gala/queue",
            Some(&cluster.token("ann").await),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    common::set_room(&admin, "gala", FAR_FUTURE_MS - 1, 10, 0).await;
    let path = "/api/performances/gala/queue";
    let ann = cluster.token("ann").await;
    let (status, standing) = gw.get(path, Some(&ann)).await;
    assert_eq!(status, StatusCode::OK, "{standing}");
    assert_eq!(standing["status"], "outside", "{standing}");
    let (challenge, bits) = challenge_of(&standing);
    assert!(bits > 0, "{standing}");
    let nonce = boxoffice_core::pow::solve(&challenge, bits);
    let wrong = (0..)
        .find(|&n| !boxoffice_core::pow::proves(&challenge, n, bits))
        .unwrap();

    // No token, a token that is not one, a wrong nonce: refused with the
    // reason, and none of them counts against the network's joins (else
    // a script could lock a whole network out without an account).
    let (status, _) = gw.post(path, None, json!({ "pow_nonce": nonce })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for _ in 0..JOINS + 2 {
        let (status, body) = gw
            .post(path, Some("not-a-token"), json!({ "pow_nonce": nonce }))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, body) = gw
            .post(path, Some(&ann), json!({ "pow_nonce": wrong }))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("proof of work"),
            "{body}"
        );
    }
    // The right one: in the pre-queue. Joining again keeps the place and
    // is not another join.
    for _ in 0..2 {
        let (status, body) = gw
            .post(path, Some(&ann), json!({ "pow_nonce": nonce }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "pre_queue", "{body}");
    }
    // Two more accounts join from the same /24: the third join; a fourth
    // account's, with its own proof, is refused.
    let mut refused = None;
    for name in ["bob", "carol", "dave"] {
        let token = cluster.token(name).await;
        let (_, standing) = gw.get(path, Some(&token)).await;
        let (challenge, bits) = challenge_of(&standing);
        let proof = boxoffice_core::pow::solve(&challenge, bits);
        let (status, body) = gw
            .post(path, Some(&token), json!({ "pow_nonce": proof }))
            .await;
        if name == "dave" {
            refused = Some((status, body));
        } else {
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
        }
    }
    let (status, body) = refused.expect("dave tried");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many joins of waiting rooms from your network (127.0.0.0/24)"),
        "{body}"
    );
}

/// Issue 25 over JSON: a performance's waiting list. Bad input is refused
/// with the reason and changes nothing; while seats are free the list is
/// refused ("book them instead"); once sold out a buyer joins, sees their
/// entry, and leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_list_over_json() {
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gw = Gateway::from(common::Gateway::start(&cluster, &chatbot).await);
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 2, 0, FAR_FUTURE_MS)
        .await
        .unwrap();
    let path = "/api/performances/gala/waitlist";
    let ann = cluster.token("ann").await;
    let (status, _) = gw.post(path, None, json!({ "quantity": 1 })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (body, code, why) in [
        (
            json!({ "quantity": 0 }),
            StatusCode::BAD_REQUEST,
            "1 to 10 seats",
        ),
        (
            json!({ "quantity": 11 }),
            StatusCode::BAD_REQUEST,
            "1 to 10 seats",
        ),
        (
            json!({ "quantity": 1, "extra": 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "extra",
        ),
        (
            json!({ "quantity": 1 }),
            StatusCode::CONFLICT,
            "book them instead",
        ),
    ] {
        let (status, answer) = gw.post(path, Some(&ann), body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
        assert!(answer.to_string().contains(why), "{body}: {answer}");
    }
    let (status, body) = gw
        .post(
            "/api/performances/nope/waitlist",
            Some(&ann),
            json!({ "quantity": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, standing) = gw.get(path, Some(&ann)).await;
    assert_eq!(status, StatusCode::OK, "{standing}");
    assert_eq!(standing["status"], "outside", "refused joins left nothing");

    cluster
        .client("bob")
        .await
        .book("gala", &[1, 2])
        .await
        .unwrap();
    let (status, joined) = gw.post(path, Some(&ann), json!({ "quantity": 2 })).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["status"], "waiting", "{joined}");
    assert_eq!(joined["position"], 1, "{joined}");
    assert_eq!(joined["quantity"], 2, "{joined}");
    let (_, standing) = gw.get(path, Some(&ann)).await;
    assert_eq!(standing["status"], "waiting", "{standing}");
    assert_eq!(standing["waiting"], 1, "{standing}");
    let (status, left) = gw.call(Method::DELETE, path, Some(&ann), None).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert_eq!(left["status"], "outside", "{left}");
}

/// The gateway joins for a browser through the peer ports with the
/// browser's address, so the nodes' own limit on joins per network counts
/// the browser's network, not the gateway's: with the gateway's limit
/// off and the node's at two a minute, a third join from one /24 is
/// refused by the node, naming that network, while another /24 joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_count_joins_by_the_browsers_network() {
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    *cluster.tune_nodes.lock().unwrap() = Some(|c| c.booking.joins_per_network_per_minute = 2);
    cluster.stop(1).await;
    cluster.spawn(1);
    cluster.leader().await;
    let chatbot = Chatbot::start(&cluster).await;
    let gw = Gateway::from(
        common::Gateway::start_tuned(&cluster, &chatbot, |c| {
            c.joins_per_network_per_minute = 0;
        })
        .await,
    );
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 10, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    common::set_room(&admin, "gala", FAR_FUTURE_MS - 1, 10, 0).await;
    let path = "/api/performances/gala/queue";
    let join = |name: &'static str, from: &'static str| {
        let (cluster, gw) = (&cluster, &gw);
        async move {
            let token = cluster.token(name).await;
            let (_, standing) = gw.get(path, Some(&token)).await;
            let (challenge, bits) = challenge_of(&standing);
            let response = reqwest::Client::builder()
                .local_address(from.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap()
                .post(format!("{}{path}", gw.base))
                .bearer_auth(&token)
                .json(&json!({ "pow_nonce": boxoffice_core::pow::solve(&challenge, bits) }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    for name in ["ann", "bob"] {
        let (status, body) = join(name, "127.0.0.1").await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
    let (status, body) = join("carol", "127.0.0.2").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(127.0.0.0/24) on this node"),
        "{body}"
    );
    let (status, body) = join("dave", "127.0.1.1").await;
    assert_eq!(status, StatusCode::OK, "another network: {body}");
    assert_eq!(body["status"], "pre_queue", "{body}");
}

/// The join challenge (from hex) and the bits of work a standing asks for.
fn challenge_of(standing: &Value) -> ([u8; 32], u32) {
    let hex = standing["join_challenge"].as_str().expect("a challenge");
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).expect("hex"))
        .collect();
    let bits = standing["join_pow_bits"].as_u64().expect("bits");
    (
        bytes.try_into().expect("32 bytes"),
        u32::try_from(bits).expect("few bits"),
    )
}
