//! The HTTP API: extract, validate, call a service, map the result. No SQL,
//! no rules. Every endpoint is registered once, in [`api`], which also
//! builds its OpenAPI entry (utoipa-axum), so router and document cannot
//! disagree.

pub mod account;
pub mod admin;
pub mod dev;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod session;
pub mod sync;
pub mod updates;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::CloudError;
use crate::service::sync::MAX_PUSH_BODY_BYTES;
use crate::state::AppState;

/// Every endpoint with its OpenAPI entry. `dev`: include the development
/// outbox (the document always lists it, the server only in dev mode).
/// `max_body`: the body limit of every request but a push.
pub fn api(dev: bool, max_body: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, push) = routes!(sync::push);
    // A full chunk of MAX_PUSH_MUTATIONS edits is far above the default limit.
    let push = push.layer(DefaultBodyLimit::max(max_body.max(MAX_PUSH_BODY_BYTES)));
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(session::login))
        .routes(routes!(session::verify))
        .routes(routes!(session::resend))
        .routes(routes!(session::enroll_phone))
        .routes(routes!(session::enroll_totp))
        .routes(routes!(session::resume))
        .routes(routes!(session::logout))
        .routes(routes!(sync::changes))
        .routes((schemas, paths, push))
        .routes(routes!(account::me))
        .routes(routes!(account::company, admin::update_company))
        .routes(routes!(account::users, admin::create_user))
        .routes(routes!(admin::reset_password))
        .routes(routes!(admin::text_setup_code))
        .routes(routes!(admin::revoke_sessions))
        .routes(routes!(admin::reset_two_factor))
        .routes(routes!(account::activate))
        .routes(routes!(account::change_password))
        .routes(routes!(
            account::totp_status,
            account::begin_totp,
            account::remove_totp
        ))
        .routes(routes!(account::confirm_totp))
        .routes(routes!(
            account::recovery_status,
            account::regenerate_recovery_codes
        ))
        .routes(routes!(account::reauth))
        .routes(routes!(account::trusted_computers))
        .routes(routes!(account::revoke_trusted_computer))
        .routes(routes!(admin::user_trusted_computers))
        .routes(routes!(admin::revoke_user_trusted_computer))
        .routes(routes!(account::reauth_verify))
        .routes(routes!(
            admin::get_user,
            admin::update_user,
            admin::delete_user
        ))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(updates::check));
    if dev {
        // Absent (404) outside dev mode: production never exposes the outbox.
        api = api.routes(routes!(dev::outbox));
    }
    api
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let (router, _) = api(state.config.dev_mode, max_body).split_for_parts();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        // Pull pages of thousands of users shrink several times; only when
        // the client sends Accept-Encoding: gzip.
        .layer(CompressionLayer::new().gzip(true))
        .layer(CatchPanicLayer::custom(panic_response))
        // The default span and response events carry method, path, status and
        // latency only: never headers (bearer tokens) or bodies (passwords).
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> CloudError {
    CloudError::NotFound
}

async fn method_not_allowed() -> CloudError {
    CloudError::MethodNotAllowed
}

fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload may quote request data; it is not logged.
    CloudError::Internal("a request handler panicked".into()).into_response()
}
