//! issue-key: starts a face verification for the logged-in mini-program user.

wxface::function_main!(
    wxface::app::services_from_env,
    wxface::http::issue_key::handle
);
