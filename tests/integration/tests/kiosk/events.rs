//! The sample events in `events/authinfo-*.json` are function URL (payload
//! 2.0) requests that, with a real token, rawdata and face_sid, work; so do
//! their twins in `events/http-api/`, as the HTTP API front hands them over.

use wxface_harness::events::load;
use wxface_harness::fixtures::person;

use crate::world::{World, user};

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    sample_events_in("", "/", "/real-name").await;
}

#[tokio::test]
async fn http_api_sample_events_run_through_the_handler() {
    sample_events_in("http-api/", "/authinfo", "/authinfo/real-name").await;
}

async fn sample_events_in(dir: &str, authinfo_path: &str, real_name_path: &str) {
    let w = World::new().await;
    let req = load(
        &format!("{dir}authinfo-get-authinfo.json"),
        &[
            ("REPLACE_WITH_DEVICE_TOKEN", &w.token),
            ("REPLACE_WITH_SDK_RAWDATA", "raw"),
        ],
    );
    assert_eq!(req.uri().path(), authinfo_path);
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 200);

    let face = w.pay.mint_face_sid(&user(person(0)), true).await;
    w.sync_clock().await;
    let req = load(
        &format!("{dir}authinfo-real-name.json"),
        &[
            ("REPLACE_WITH_DEVICE_TOKEN", &w.token),
            ("REPLACE_WITH_FACE_SID", &face.face_sid),
        ],
    );
    assert_eq!(req.uri().path(), real_name_path);
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 200);

    // As shipped (placeholder token) they are refused.
    let req = load(&format!("{dir}authinfo-real-name.json"), &[]);
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 401);
}
