//! publish-events: the table's stream in, a `Verification Finalized` event
//! on EventBridge for every session that became final.

wxface::function_main!(
    stream: wxface::app::event_services_from_env,
    wxface::stream::handle
);
