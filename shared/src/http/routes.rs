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

/// issue-key: `POST /` (function URL), `POST /issue-key` (HTTP API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKeyRoute {
    IssueKey,
}

impl Routes for IssueKeyRoute {
    const FUNCTION: &'static str = "issue-key";
    const MOUNTS: &'static [Mount<Self>] = &[Mount {
        route: Self::IssueKey,
        method: "POST",
        url_path: "/",
        api_path: "/issue-key",
    }];
}

/// verify-result: the verification, and the receipts' public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyResultRoute {
    Verify,
    Jwks,
}

/// Where the receipts' public keys are published (docs/api.md §6), behind
/// either front.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

impl Routes for VerifyResultRoute {
    const FUNCTION: &'static str = "verify-result";
    const MOUNTS: &'static [Mount<Self>] = &[
        Mount {
            route: Self::Verify,
            method: "POST",
            url_path: "/",
            api_path: "/verify-result",
        },
        Mount {
            route: Self::Jwks,
            method: "GET",
            url_path: JWKS_PATH,
            api_path: JWKS_PATH,
        },
    ];
}

/// event-callback: WeChat's URL check and its pushes, on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCallbackRoute {
    UrlCheck,
    Push,
}

impl Routes for EventCallbackRoute {
    const FUNCTION: &'static str = "event-callback";
    const MOUNTS: &'static [Mount<Self>] = &[
        Mount {
            route: Self::UrlCheck,
            method: "GET",
            url_path: "/",
            api_path: "/event-callback",
        },
        Mount {
            route: Self::Push,
            method: "POST",
            url_path: "/",
            api_path: "/event-callback",
        },
    ];
}

/// authinfo: the kiosk's authinfo, and a consenting user's real name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthinfoRoute {
    Authinfo,
    RealName,
}

impl Routes for AuthinfoRoute {
    const FUNCTION: &'static str = "authinfo";
    const MOUNTS: &'static [Mount<Self>] = &[
        Mount {
            route: Self::Authinfo,
            method: "POST",
            url_path: "/",
            api_path: "/authinfo",
        },
        Mount {
            route: Self::RealName,
            method: "POST",
            url_path: "/real-name",
            api_path: "/authinfo/real-name",
        },
    ];
}

/// lookup: the business backend's read of a session (IAM-authorized).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupRoute {
    Lookup,
}

impl Routes for LookupRoute {
    const FUNCTION: &'static str = "lookup";
    const AUTH: Auth = Auth::AwsIam;
    const MOUNTS: &'static [Mount<Self>] = &[Mount {
        route: Self::Lookup,
        method: "GET",
        url_path: "/",
        api_path: "/lookup",
    }];
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

    /// Both fronts' paths reach the same route.
    #[test]
    fn each_route_answers_on_its_url_path_and_its_api_path() {
        use AuthinfoRoute as A;
        use EventCallbackRoute as E;
        use VerifyResultRoute as V;
        let ok = |m, p| IssueKeyRoute::parse(&req(m, p)).ok();
        assert_eq!(ok("POST", "/"), Some(IssueKeyRoute::IssueKey));
        assert_eq!(ok("POST", "/issue-key"), Some(IssueKeyRoute::IssueKey));
        for (m, p, want) in [
            ("POST", "/", V::Verify),
            ("POST", "/verify-result", V::Verify),
            ("GET", JWKS_PATH, V::Jwks),
        ] {
            assert_eq!(V::parse(&req(m, p)).ok(), Some(want), "{m} {p}");
        }
        for (m, p, want) in [
            ("GET", "/", E::UrlCheck),
            ("POST", "/", E::Push),
            ("GET", "/event-callback", E::UrlCheck),
            ("POST", "/event-callback", E::Push),
        ] {
            assert_eq!(E::parse(&req(m, p)).ok(), Some(want), "{m} {p}");
        }
        for (m, p, want) in [
            ("POST", "/", A::Authinfo),
            ("POST", "/authinfo", A::Authinfo),
            ("POST", "/real-name", A::RealName),
            ("POST", "/authinfo/real-name", A::RealName),
        ] {
            assert_eq!(A::parse(&req(m, p)).ok(), Some(want), "{m} {p}");
        }
        assert_eq!(
            LookupRoute::parse(&req("GET", "/lookup")).ok(),
            Some(LookupRoute::Lookup)
        );
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
