//! deliver-webhooks: the tenants' events from their queue, each POSTed to
//! its tenant's receiver, signed as Standard Webhooks.

wxface::function_main!(
    stream: wxface::app::webhook_services_from_env,
    wxface::webhooks::handle
);
