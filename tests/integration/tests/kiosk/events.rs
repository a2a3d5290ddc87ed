//! The sample events in `events/authinfo-*.json` are function URL (payload
//! 2.0) requests that, with a real token, rawdata and face_sid, work.

use wxface_harness::events::load;
use wxface_harness::fixtures::person;

use crate::world::{World, user};

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    let w = World::new().await;
    let req = load(
        "authinfo-get-authinfo.json",
        &[
            ("REPLACE_WITH_DEVICE_TOKEN", &w.token),
            ("REPLACE_WITH_SDK_RAWDATA", "raw"),
        ],
    );
    assert_eq!(req.uri().path(), "/");
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 200);

    let face = w.pay.mint_face_sid(&user(person(0)), true).await;
    w.sync_clock().await;
    let req = load(
        "authinfo-real-name.json",
        &[
            ("REPLACE_WITH_DEVICE_TOKEN", &w.token),
            ("REPLACE_WITH_FACE_SID", &face.face_sid),
        ],
    );
    assert_eq!(req.uri().path(), "/real-name");
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 200);

    // As shipped (placeholder token) they are refused.
    let req = load("authinfo-real-name.json", &[]);
    let resp = wxface::http::authinfo::handle(&w.svc, req).await;
    assert_eq!(resp.status(), 401);
}
