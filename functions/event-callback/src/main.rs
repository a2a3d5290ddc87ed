//! event-callback: receives WeChat's message push (the 1.0 face_identify event).

use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    wxface::telemetry::init();
    // Clients and configuration are built once per container, not per request.
    let services = wxface::app::services_from_env().await?;
    let services = &services;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(wxface::http::event_callback::handle(services, req).await)
    }))
    .await
}
