//! authinfo: the face kiosk's backend — WeChat Pay authinfo (`POST /`) and
//! the consenting user's real name (`POST /real-name`).

use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    wxface::telemetry::init();
    // Clients and configuration are built once per container, not per request.
    let services = wxface::app::kiosk_services_from_env().await?;
    let services = &services;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(wxface::http::authinfo::handle(services, req).await)
    }))
    .await
}
