//! The console's static assets, compiled into the binary: htmx (vendored
//! from the npm package `htmx.org`, see `console/static/README.md`), our
//! stylesheet and our one small script (the placeholder palette). Nothing is loaded from another host.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const HTMX: &[u8] = include_bytes!("../../console/static/htmx.min.js");
const HTMX_LICENSE: &[u8] = include_bytes!("../../console/static/htmx.LICENSE");
const STYLESHEET: &[u8] = include_bytes!("../../console/static/console.css");
const SCRIPT: &[u8] = include_bytes!("../../console/static/console.js");

/// `GET /console/static/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "htmx.LICENSE" => (HTMX_LICENSE, "text/plain; charset=utf-8"),
        "console.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change only with the binary; an hour keeps pages quick
    // without holding an old stylesheet across an upgrade for long.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
