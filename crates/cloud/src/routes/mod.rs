//! HTTP routes of the v1 API, and the layers every request passes through.

pub mod account;
pub mod admin;
pub mod dev;
pub mod health;
pub mod session;
pub mod sync;
pub mod updates;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::error::CloudError;
use crate::{openapi, AppState};

pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let mut router = Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/login/verify", post(session::verify))
        .route("/api/v1/login/resend", post(session::resend))
        .route("/api/v1/login/enroll-phone", post(session::enroll_phone))
        .route("/api/v1/login/resume", post(session::resume))
        .route("/api/v1/sync/changes", get(sync::changes))
        .route(
            "/api/v1/sync/push",
            // A full chunk of MAX_PUSH_MUTATIONS edits is far above the default limit.
            post(sync::push).layer(DefaultBodyLimit::max(
                max_body.max(sync::MAX_PUSH_BODY_BYTES),
            )),
        )
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/me", get(account::me))
        .route(
            "/api/v1/company",
            get(account::company).patch(admin::update_company),
        )
        .route("/api/v1/users", get(account::users))
        .route(
            "/api/v1/users/{id}",
            get(admin::get_user)
                .patch(admin::update_user)
                .delete(admin::delete_user),
        )
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route(
            "/updates/{target}/{arch}/{current_version}",
            get(updates::check),
        );
    if state.config.dev_mode {
        // Absent (404) outside dev mode: production never exposes the outbox.
        router = router.route("/api/v1/dev/outbox", get(dev::outbox));
    }
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

/// `axum::Json` whose rejections are `{code, message}` errors. Messages never
/// quote the body: serde's messages can contain field values (passwords).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = CloudError;

    async fn from_request(req: Request, state: &S) -> Result<Self, CloudError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection_to_error(&rejection)),
        }
    }
}

fn json_rejection_to_error(rejection: &JsonRejection) -> CloudError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return CloudError::PayloadTooLarge;
    }
    let message = match rejection {
        JsonRejection::JsonSyntaxError(_) => "the request body is not valid JSON",
        JsonRejection::JsonDataError(_) => {
            "the request body is JSON but has missing or wrongly typed fields"
        }
        JsonRejection::MissingJsonContentType(_) => {
            "the request body must be JSON with `Content-Type: application/json`"
        }
        _ => "the request body could not be read",
    };
    CloudError::Validation(message.into())
}
