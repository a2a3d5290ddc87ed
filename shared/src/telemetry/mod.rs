//! Logs and metrics. Logs carry out_seq_no, status and error codes; never a
//! body. Metrics are CloudWatch embedded-metric-format lines (see `metrics`).

pub mod metrics;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON` (the template sets the
/// function's LogFormat), text otherwise; level from `AWS_LAMBDA_LOG_LEVEL`
/// or `RUST_LOG`. Each line of an invocation carries its `requestId`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
