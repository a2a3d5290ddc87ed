//! Where each function is mounted, and the one place that reads a request's
//! method and path (docs/api.md §1).
//!
//! A function answers behind either front (README "Fronts"): its own function
//! URL, where it sees `/`, `/real-name` or `/.well-known/jwks.json`; or the
//! HTTP API, whose `$default` stage hands it the route's path (`/issue-key`,
//! `/authinfo/real-name`, ...). Each function's [`Routes`] enum lists its
//! routes with both paths, so the function does not care where it is mounted;
//! [`api_routes`] is the HTTP API's route table, which the template tests and
//! the local API front read.

use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::ApiError;

/// Who may call a route behind the HTTP API (a function URL has the same auth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone on the internet; the function authenticates the request itself.
    None,
    /// SigV4-signed by a principal allowed `execute-api:Invoke` (or, behind a
    /// function URL, `lambda:InvokeFunctionUrl`).
    AwsIam,
}

/// One route of a function, as each front mounts it.
#[derive(Debug)]
pub struct Mount<R: 'static> {
    pub route: R,
    pub method: &'static str,
    /// The path a function URL delivers.
    pub url_path: &'static str,
    /// The path behind the HTTP API (contract §7).
    pub api_path: &'static str,
}

/// A function's routes: one enum per function, every route listed once.
pub trait Routes: Copy + Sized + 'static {
    /// The function (its package under `functions/`).
    const FUNCTION: &'static str;
    const AUTH: Auth = Auth::None;
    const MOUNTS: &'static [Mount<Self>];

    /// The route of `req`: `404` for a path that is none of this function's,
    /// `405` with the path's methods in `Allow` for a method it does not take.
    fn parse(req: &Request) -> Result<Self, ApiError> {
        let path = match req.uri().path() {
            "" => "/",
            p => p,
        };
        let on_path = || {
            Self::MOUNTS
                .iter()
                .filter(move |m| m.url_path == path || m.api_path == path)
        };
        if let Some(m) = on_path().find(|m| m.method == req.method().as_str()) {
            return Ok(m.route);
        }
        let methods: Vec<&str> = on_path().map(|m| m.method).collect();
        if methods.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
            ));
        }
        let mut e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        );
        e.allow = Some(methods.join(", ").into());
        Err(e)
    }
}

// A function's route enum and its `Routes` from one table, so each route is
// named once, beside its method, its function URL path and its HTTP API path.
macro_rules! function_routes {
    (
        $(#[$doc:meta])*
        $name:ident for $function:literal $(, auth $auth:ident)? {
            $($route:ident: $method:literal $url_path:expr, $api_path:expr;)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($route,)+
        }

        impl Routes for $name {
            const FUNCTION: &'static str = $function;
            $(const AUTH: Auth = Auth::$auth;)?
            const MOUNTS: &'static [Mount<Self>] = &[$(Mount {
                route: Self::$route,
                method: $method,
                url_path: $url_path,
                api_path: $api_path,
            }),+];
        }
    };
}

function_routes! {
    /// issue-key: `POST /` (function URL), `POST /issue-key` (HTTP API).
    IssueKeyRoute for "issue-key" {
        IssueKey: "POST" "/", "/issue-key";
    }
}

/// Where the receipts' public keys are published (docs/api.md §6), behind
/// either front.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

function_routes! {
    /// verify-result: the verification, and the receipts' public keys.
    VerifyResultRoute for "verify-result" {
        Verify: "POST" "/", "/verify-result";
        Jwks: "GET" JWKS_PATH, JWKS_PATH;
    }
}

function_routes! {
    /// event-callback: WeChat's URL check and its pushes, on one path.
    EventCallbackRoute for "event-callback" {
        UrlCheck: "GET" "/", "/event-callback";
        Push: "POST" "/", "/event-callback";
    }
}

function_routes! {
    /// authinfo: the kiosk's authinfo, and a consenting user's real name.
    AuthinfoRoute for "authinfo" {
        Authinfo: "POST" "/", "/authinfo";
        RealName: "POST" "/real-name", "/authinfo/real-name";
    }
}

function_routes! {
    /// lookup: the business backend's read of a session (IAM-authorized).
    LookupRoute for "lookup", auth AwsIam {
        Lookup: "GET" "/", "/lookup";
    }
}

/// One route of the HTTP API (contract §7), and where the function's URL
/// mounts the same route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    pub function: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// The same route's path behind the function's own URL.
    pub url_path: &'static str,
    pub auth: Auth,
}

impl ApiRoute {
    /// API Gateway's route key, e.g. `POST /issue-key`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn api_routes_of<R: Routes>() -> impl Iterator<Item = ApiRoute> {
    R::MOUNTS.iter().map(|m| ApiRoute {
        function: R::FUNCTION,
        method: m.method,
        path: m.api_path,
        url_path: m.url_path,
        auth: R::AUTH,
    })
}

/// Every route of the HTTP API, by function: what template.yaml's `HttpApi`
/// front must declare, no more.
pub fn api_routes() -> Vec<ApiRoute> {
    api_routes_of::<IssueKeyRoute>()
        .chain(api_routes_of::<VerifyResultRoute>())
        .chain(api_routes_of::<EventCallbackRoute>())
        .chain(api_routes_of::<AuthinfoRoute>())
        .chain(api_routes_of::<LookupRoute>())
        .collect()
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http::{Method, Request as HttpRequest};

    use super::*;

    fn req(method: &str, path: &str) -> Request {
        HttpRequest::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .body(Body::Empty)
            .unwrap()
    }

    /// A refused request's status and `Allow`.
    fn status<R: Routes + std::fmt::Debug>(method: &str, path: &str) -> (u16, Option<String>) {
        let e = R::parse(&req(method, path)).expect_err("refused");
        (e.status.as_u16(), e.allow.as_deref().map(str::to_owned))
    }

    /// Each `(method, path)` reaches its route.
    fn assert_reach<R: Routes + PartialEq + std::fmt::Debug>(cases: &[(&str, &str, R)]) {
        for &(m, p, want) in cases {
            assert_eq!(R::parse(&req(m, p)).ok(), Some(want), "{m} {p}");
        }
    }

    /// Both fronts' paths reach the same route.
    #[test]
    fn each_route_answers_on_its_url_path_and_its_api_path() {
        use AuthinfoRoute as A;
        use EventCallbackRoute as E;
        use IssueKeyRoute as I;
        use VerifyResultRoute as V;
        assert_reach(&[
            ("POST", "/", I::IssueKey),
            ("POST", "/issue-key", I::IssueKey),
        ]);
        assert_reach(&[
            ("POST", "/", V::Verify),
            ("POST", "/verify-result", V::Verify),
            ("GET", JWKS_PATH, V::Jwks),
        ]);
        assert_reach(&[
            ("GET", "/", E::UrlCheck),
            ("POST", "/", E::Push),
            ("GET", "/event-callback", E::UrlCheck),
            ("POST", "/event-callback", E::Push),
        ]);
        assert_reach(&[
            ("POST", "/", A::Authinfo),
            ("POST", "/authinfo", A::Authinfo),
            ("POST", "/real-name", A::RealName),
            ("POST", "/authinfo/real-name", A::RealName),
        ]);
        assert_reach(&[("GET", "/lookup", LookupRoute::Lookup)]);
    }

    #[test]
    fn another_path_is_404_and_another_method_405_with_the_paths_methods() {
        assert_eq!(status::<IssueKeyRoute>("POST", "/x"), (404, None));
        // Another function's API path is not this one's.
        assert_eq!(
            status::<IssueKeyRoute>("POST", "/verify-result"),
            (404, None)
        );
        assert_eq!(status::<AuthinfoRoute>("POST", "/authinfo/"), (404, None));
        assert_eq!(
            status::<IssueKeyRoute>("GET", "/issue-key"),
            (405, Some("POST".into()))
        );
        assert_eq!(
            status::<VerifyResultRoute>("POST", JWKS_PATH),
            (405, Some("GET".into()))
        );
        assert_eq!(
            status::<EventCallbackRoute>("PUT", "/event-callback"),
            (405, Some("GET, POST".into()))
        );
        assert_eq!(
            status::<LookupRoute>("POST", "/"),
            (405, Some("GET".into()))
        );
    }

    /// Contract §7's table, exactly.
    #[test]
    fn the_api_routes_are_the_contracts() {
        let keys: Vec<(String, &str, Auth)> = api_routes()
            .iter()
            .map(|r| (r.key(), r.function, r.auth))
            .collect();
        let want = [
            ("POST /issue-key", "issue-key", Auth::None),
            ("POST /verify-result", "verify-result", Auth::None),
            ("GET /.well-known/jwks.json", "verify-result", Auth::None),
            ("GET /event-callback", "event-callback", Auth::None),
            ("POST /event-callback", "event-callback", Auth::None),
            ("POST /authinfo", "authinfo", Auth::None),
            ("POST /authinfo/real-name", "authinfo", Auth::None),
            ("GET /lookup", "lookup", Auth::AwsIam),
        ];
        let want: Vec<(String, &str, Auth)> = want
            .iter()
            .map(|(k, f, a)| (k.to_string(), *f, *a))
            .collect();
        assert_eq!(keys, want);
    }
}
