//! lookup: a session's state for the business's backend (IAM-authenticated).

wxface::function_main!(wxface::app::services_from_env, wxface::http::lookup::handle);
