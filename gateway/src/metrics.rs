//! Prometheus metrics, rendered at `GET /metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use std::sync::LazyLock;

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn register<T: prometheus::core::Collector + Clone + 'static>(metric: T) -> T {
    REGISTRY
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

pub static EVENTS_PUBLISHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_events_published_total",
            "Events stored and fanned out",
        )
        .unwrap(),
    )
});
pub static SUBSCRIBERS: LazyLock<IntGauge> =
    LazyLock::new(|| register(IntGauge::new("esprit_subscribers", "Open SSE streams").unwrap()));
pub static DELIVERIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new("esprit_deliveries_total", "Events written to SSE streams").unwrap())
});
pub static AUTH_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_auth_failures_total",
            "Requests that presented a token nobody holds",
        )
        .unwrap(),
    )
});
pub static SIM_REQUESTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_sim_requests_total",
            "Requests the workspace mirror and answers sent to Sim's API",
        )
        .unwrap(),
    )
});
/// Today's usage per agent, from the store at each scrape (the same figures
/// as `GET /api/usage`, on every gateway and after any restart).
pub static USAGE_TODAY: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    register(
        prometheus::GaugeVec::new(
            Opts::new(
                "esprit_usage_today",
                "Runs started, tokens and dollars today (the gateway's day), per agent",
            ),
            &["agent", "measure"],
        )
        .unwrap(),
    )
});
/// What came in over OTLP (`spans`, `log_records`), what it became
/// (`events`), and what was let go (`dropped`: a run that waited too long
/// for its character, events a rule refused).
pub static OTLP: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "esprit_otlp_total",
                "OpenTelemetry items received and the office events they became",
            ),
            &["item"],
        )
        .unwrap(),
    )
});
/// Spans no agent ever claimed (set at each scrape).
pub static OTLP_UNATTRIBUTED: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "esprit_otlp_unattributed_spans",
            "Spans let go because no ancestor named an agent",
        )
        .unwrap(),
    )
});
pub static SUBSCRIBERS_CUT_OFF: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_subscribers_cut_off_total",
            "Streams ended because they fell behind",
        )
        .unwrap(),
    )
});
pub static WEBHOOK_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(HistogramOpts::new(
            "esprit_webhook_seconds",
            "Outbound webhook latency, all attempts",
        ))
        .unwrap(),
    )
});
pub static WEBHOOK_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "esprit_webhook_failures_total",
                "Webhook attempts that failed, by reason",
            ),
            &["reason"],
        )
        .unwrap(),
    )
});
pub static STORE_COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "esprit_store_commit_seconds",
                "Time to commit one group of events",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .unwrap(),
    )
});

/// Where a live event's time goes on its way out, by stage:
/// `publish` (a `POST /api/events` from its body read to its 202: checks,
/// the queue to the store and the commit), `to_stream` (from the commit to a
/// stream taking it: the fan-out and the wait for the stream's task), and
/// `in_stream` (from there to its write: gathering with the events behind it).
pub static STAGE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new(
                "esprit_event_stage_seconds",
                "Where a live event's time goes: publish, to_stream, in_stream",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
                1.0,
            ]),
            &["stage"],
        )
        .unwrap(),
    )
});

pub static CONNECTIONS_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_connections_refused_total",
            "Connections refused because too many were open",
        )
        .unwrap(),
    )
});

pub static RATE_LIMITED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "esprit_rate_limited_total",
            "Requests refused with 429 by a rate limit",
        )
        .unwrap(),
    )
});

pub static TAIL_LAG_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "esprit_tail_lag_seconds",
                "From an event's commit in the shared log to this gateway's reader (Redis)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
            ]),
        )
        .unwrap(),
    )
});
pub static REDIS_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new("esprit_redis_seconds", "Redis round trips, by operation").buckets(
                vec![0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0],
            ),
            &["op"],
        )
        .unwrap(),
    )
});

/// Touches every metric so all of them show from the first scrape.
pub fn init() {
    LazyLock::force(&EVENTS_PUBLISHED);
    LazyLock::force(&SUBSCRIBERS);
    LazyLock::force(&DELIVERIES);
    LazyLock::force(&SUBSCRIBERS_CUT_OFF);
    LazyLock::force(&WEBHOOK_SECONDS);
    LazyLock::force(&WEBHOOK_FAILURES);
    LazyLock::force(&STORE_COMMIT_SECONDS);
    LazyLock::force(&STAGE_SECONDS);
    LazyLock::force(&CONNECTIONS_REFUSED);
    LazyLock::force(&RATE_LIMITED);
    LazyLock::force(&TAIL_LAG_SECONDS);
    LazyLock::force(&REDIS_SECONDS);
    LazyLock::force(&SIM_REQUESTS);
    LazyLock::force(&USAGE_TODAY);
}

pub fn render() -> String {
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&REGISTRY.gather(), &mut buffer)
        .expect("text encoding of metrics cannot fail");
    String::from_utf8(buffer).expect("metrics are UTF-8")
}
