//! Logging. Logs carry out_seq_no, status and error codes; never a body.

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON` (the Lambda setting), text
/// otherwise; level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
