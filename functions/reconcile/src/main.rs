//! reconcile: the server's own checks of pending 2.0 sessions. New sessions
//! from the table's stream get their first check booked; each check from
//! EventBridge Scheduler asks WeChat and books the next.

wxface::function_main!(
    stream: wxface::app::reconcile_services_from_env,
    wxface::reconcile::handle
);
