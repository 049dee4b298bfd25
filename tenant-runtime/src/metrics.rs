//! Prometheus metrics of the runtime. Labels are bounded: route templates, methods,
//! status codes and tiers, never one value per tenant or host.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tenancy::Tier;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: &'static str,
    pub status: String,
    pub tier: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StripeLabels {
    /// payment_intent, refund, cancel, retrieve.
    pub call: &'static str,
    /// ok, refused, unavailable.
    pub outcome: &'static str,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily,
    /// Catalog queries made to resolve a host (cache misses), by outcome.
    pub catalog_lookups: Family<LookupLabels, Counter>,
    /// Route invalidations received through `NOTIFY tenant_routes`.
    pub route_notifications: Counter,
    pub cached_routes: Gauge,
    pub tenant_pools: Gauge,
    /// Calls to Stripe for booking deposits, by call and outcome.
    pub stripe_calls: Family<StripeLabels, Counter>,
    /// Deposit follow-ups the sweeper handled.
    pub payment_followups: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("instudio_runtime");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let catalog_lookups = Family::<LookupLabels, Counter>::default();
        let route_notifications = Counter::default();
        let cached_routes = Gauge::default();
        let tenant_pools = Gauge::default();
        let stripe_calls = Family::<StripeLabels, Counter>::default();
        let payment_followups = Counter::default();
        registry.register(
            "stripe_calls",
            "Calls to Stripe for booking deposits and refunds",
            stripe_calls.clone(),
        );
        registry.register(
            "payment_followups",
            "Deposit follow-ups settled by the sweeper",
            payment_followups.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_duration.clone(),
        );
        registry.register(
            "catalog_lookups",
            "Host look-ups that reached the catalog",
            catalog_lookups.clone(),
        );
        registry.register(
            "route_notifications",
            "Route changes received",
            route_notifications.clone(),
        );
        registry.register(
            "cached_routes",
            "Host routes in the cache",
            cached_routes.clone(),
        );
        registry.register(
            "tenant_pools",
            "Open per-database connection pools",
            tenant_pools.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            catalog_lookups,
            route_notifications,
            cached_routes,
            tenant_pools,
            stripe_calls,
            payment_followups,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn method_label(method: &Method) -> &'static str {
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

/// Middleware: counts and times every request by route template, status and tier (the
/// routing middleware leaves the tier in the response's extensions).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let response = next.run(req).await;
    let tier = response
        .extensions()
        .get::<Tier>()
        .map_or("none", |t| t.as_str());
    let labels = HttpLabels {
        route,
        method,
        status: response.status().as_u16().to_string(),
        tier,
    };
    metrics
        .http_duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    metrics.http_requests.get_or_create(&labels).inc();
    response
}
