//! verify-result: the server-side result of a face verification.

wxface::function_main!(
    wxface::app::services_from_env,
    wxface::http::verify_result::handle
);
