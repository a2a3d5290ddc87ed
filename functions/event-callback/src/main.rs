//! event-callback: receives WeChat's message push (the 1.0 face_identify event).

wxface::function_main!(
    wxface::app::services_from_env,
    wxface::http::event_callback::handle
);
