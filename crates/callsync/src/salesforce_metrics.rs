//! Salesforce request latency as a Prometheus histogram, by operation and outcome, taken
//! from the `salesforce_request` tracing span the `salesforce` client opens around every
//! request (method, path, and the status once answered). A tracing layer rather than a
//! hook in `crm` or the worker: every request is measured — the worker's, the settings
//! check's, the lookup's — and the client stays free of any metrics library.
//!
//! `operation` is the REST resource without ids: `query`, `search`, `composite`,
//! `composite/sobjects`, `sobjects/Task`, `sobjects/Task/describe`, `limits`, `versions`.
//! `outcome` is `ok` (2xx), `client_error` (4xx), `server_error` (5xx) or `transport_error`
//! (no answer: a timeout, a refused connection).

use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The span name the `salesforce` client gives each request.
const REQUEST_SPAN: &str = "salesforce_request";

/// The layer; add it to the subscriber beside the log formatter (`cli::init_logging`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SalesforceMetricsLayer;

/// Only the client's spans, whatever the log filter says.
pub fn wants(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("salesforce")
}

#[derive(Debug)]
struct Timing {
    started: Instant,
    method: String,
    path: String,
    status: Option<u64>,
}

#[derive(Default)]
struct Fields {
    method: Option<String>,
    path: Option<String>,
    status: Option<u64>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "method" => self.method = Some(format!("{value:?}")),
            "path" => self.path = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "method" => self.method = Some(value.to_owned()),
            "path" => self.path = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "status" {
            self.status = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "status" {
            self.status = u64::try_from(value).ok();
        }
    }
}

impl<S> Layer<S> for SalesforceMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != REQUEST_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Timing {
                started: Instant::now(),
                method: fields.method.unwrap_or_default(),
                path: fields.path.unwrap_or_default(),
                status: fields.status,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            let mut fields = Fields::default();
            values.record(&mut fields);
            if fields.status.is_some() {
                timing.status = fields.status;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        let Some(timing) = extensions.get::<Timing>() else {
            return;
        };
        metrics::histogram!(
            crate::metrics::SALESFORCE_REQUEST_SECONDS,
            "method" => timing.method.clone(),
            "operation" => operation(&timing.path),
            "outcome" => outcome(timing.status),
        )
        .record(timing.started.elapsed().as_secs_f64());
    }
}

/// The REST resource of a request path, without ids (see the module documentation).
pub fn operation(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["services", "data"] => return "versions".to_owned(),
        ["services", "data", _version, rest @ ..] => rest,
        ["services", "oauth2", what, ..] => return format!("oauth2/{what}"),
        _ => return "other".to_owned(),
    };
    match rest {
        [] => "resources".to_owned(),
        ["sobjects", object, "describe", ..] => format!("sobjects/{object}/describe"),
        ["sobjects", object, ..] => format!("sobjects/{object}"),
        ["composite", "sobjects", ..] => "composite/sobjects".to_owned(),
        ["composite", "tree", ..] => "composite/tree".to_owned(),
        [first, ..] => (*first).to_owned(),
    }
}

fn outcome(status: Option<u64>) -> &'static str {
    match status {
        Some(200..=299) => "ok",
        Some(400..=499) => "client_error",
        Some(_) => "server_error",
        None => "transport_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_the_resource_without_ids() {
        for (path, expected) in [
            (
                "/services/data/v62.0/sobjects/Task/00T000000000001AAA",
                "sobjects/Task",
            ),
            ("/services/data/v62.0/sobjects/Task", "sobjects/Task"),
            (
                "/services/data/v62.0/sobjects/Task/describe",
                "sobjects/Task/describe",
            ),
            ("/services/data/v62.0/query", "query"),
            (
                "/services/data/v62.0/query/01gD0000002HU6KIAW-2000",
                "query",
            ),
            (
                "/services/data/v62.0/composite/sobjects",
                "composite/sobjects",
            ),
            ("/services/data/v62.0/composite", "composite"),
            ("/services/data/v62.0/search", "search"),
            ("/services/data/", "versions"),
            ("/services/oauth2/token", "oauth2/token"),
        ] {
            assert_eq!(operation(path), expected, "{path}");
        }
        assert_eq!(outcome(Some(201)), "ok");
        assert_eq!(outcome(Some(503)), "server_error");
        assert_eq!(outcome(None), "transport_error");
    }
}
