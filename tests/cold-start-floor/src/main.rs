//! The cold-start benchmark's floor: the least a `lambda_http` function
//! does (a runtime, a constant answer), built with the functions' profile.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("ok")))
    }))
    .await
}
