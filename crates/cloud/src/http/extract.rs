//! What a request carries, turned into typed values: the bearer session
//! (as [`AuthedUser`] / [`AdminUser`] request guards), the peer address, and
//! JSON bodies whose rejections are `{code, message}` errors.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::CloudError;
use crate::service::sessions::{self, AdminUser, AuthedUser, SourceAddr};
use crate::state::AppState;

fn bearer_token(headers: &HeaderMap) -> Result<&str, CloudError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(CloudError::Unauthenticated)?
        .to_str()
        .map_err(|_| CloudError::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(CloudError::Unauthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(CloudError::Unauthenticated);
    }
    Ok(token)
}

impl FromRequestParts<AppState> for AuthedUser {
    type Rejection = CloudError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CloudError> {
        sessions::authenticate(state, bearer_token(&parts.headers)?).await
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = CloudError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CloudError> {
        AdminUser::try_from(AuthedUser::from_request_parts(parts, state).await?)
    }
}

/// Only the IP: one machine's many ports are one source.
impl FromRequestParts<AppState> for SourceAddr {
    type Rejection = CloudError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, CloudError> {
        let ConnectInfo(addr) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .cloned()
            .ok_or_else(|| CloudError::Internal("no peer address on the request".into()))?;
        Ok(SourceAddr(addr.ip().to_canonical().to_string()))
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::db;
    use crate::passwords::PasswordHasher;
    use crate::tokens::{new_session_token, token_hash};

    #[test]
    fn bearer_header_parsing() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            bearer_token(&headers),
            Err(CloudError::Unauthenticated)
        ));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer_token(&headers).is_err(), "only bearer tokens");
        headers.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(bearer_token(&headers).is_err(), "empty token");
        headers.insert(AUTHORIZATION, "bearer tok123".parse().unwrap());
        assert_eq!(bearer_token(&headers).unwrap(), "tok123");
    }

    #[tokio::test]
    async fn admin_extractor_admits_admins_and_forbids_everyone_else() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use axum::routing::get;
        use tower::ServiceExt as _;

        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::sqlite_url_for(&dir.path().join("cloud.db"));
        crate::db::seed::seed_demo(&url).await.unwrap();
        let db = crate::db::connect(&url, 2).await.unwrap();
        use crate::clock::now_ms;
        let mut tokens = Vec::new();
        for email in ["admin@desertsun.example", "marcus.reyes@desertsun.example"] {
            let user = db::users::credentials_by_email(&db, email, None)
                .await
                .unwrap()
                .remove(0)
                .user;
            let token = new_session_token();
            db::sessions::insert_session(
                &db,
                &token_hash(&token),
                &user.id,
                now_ms(),
                now_ms() + 60_000,
                0,
            )
            .await
            .unwrap();
            tokens.push(token);
        }
        let config = crate::config::CloudConfig::new(&url, "127.0.0.1:0".parse().unwrap());
        let state = AppState {
            db,
            hasher: Arc::new(PasswordHasher::new(1, 1).await.unwrap()),
            config: Arc::new(config),
            sms: Arc::new(crate::sms::UnconfiguredGateway),
            totp_key: Arc::new(crate::sealing::SealingKey::dev()),
        };
        let app = axum::Router::new()
            .route("/admin-only", get(|_: AdminUser| async { "ok" }))
            .with_state(state);
        let call = |token: &str| {
            let request = Request::get("/admin-only")
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request)
        };
        assert_eq!(call(&tokens[0]).await.unwrap().status(), StatusCode::OK);
        assert_eq!(
            call(&tokens[1]).await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "a plain user must not pass an admin-only handler"
        );
    }
}
