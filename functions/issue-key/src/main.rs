//! issue-key: starts a face verification for the logged-in mini-program user.

use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    wxface::telemetry::init();
    // Clients and configuration are built once per container, not per request.
    let services = wxface::app::services_from_env().await?;
    let services = &services;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(wxface::http::issue_key::handle(services, req).await)
    }))
    .await
}
