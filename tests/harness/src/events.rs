//! The sample events under `events/`: function URL (payload 2.0) requests.

use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use crate::workspace_root;

/// `events/<name>` with each `(from, to)` of `replace` applied (every `from`
/// must be there), read as lambda_http reads a function URL request.
pub fn load(name: &str, replace: &[(&str, &str)]) -> lambda_http::Request {
    let path = workspace_root().join("events").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (from, to) in replace {
        assert!(text.contains(from), "{name} has {from}");
        text = text.replace(from, to);
    }
    let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let context = req.request_context_ref();
    assert!(
        matches!(context, Some(RequestContext::ApiGatewayV2(_))),
        "{name} is not read as a payload 2.0 (function URL) request"
    );
    req
}
