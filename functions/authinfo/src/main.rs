//! authinfo: the face kiosk's backend — WeChat Pay authinfo (`POST /`) and
//! the consenting user's real name (`POST /real-name`).

wxface::function_main!(
    wxface::app::kiosk_services_from_env,
    wxface::http::authinfo::handle
);
