//! The web app: plain HTML, CSS and ES modules, compiled into the binary
//! (no Node toolchain, no files to deploy next to it).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Each asset: its path, content type and bytes.
const ASSETS: [(&str, &str, &str); 9] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/api.js"),
    ),
    (
        "/ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/ui.js"),
    ),
    (
        "/tickets.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/tickets.js"),
    ),
    (
        "/queue.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/queue.js"),
    ),
    (
        "/waitlist.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/waitlist.js"),
    ),
    (
        "/seatmap.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/seatmap.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
];

/// Routes serving the app's files; browsers revalidate them on each load.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(
                path,
                get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, content_type),
                            (header::CACHE_CONTROL, "no-cache"),
                        ],
                        body,
                    )
                        .into_response()
                }),
            )
        })
}
