//! Typed HTTP client for the SecureClose cloud API (see CONTRACTS.md).
//! The base URL is injected so tests can point it at a local server.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use secureclose_protocol::{
    ApiError, Company, Health, LoginRequest, LoginResponse, MeResponse, UsersResponse,
};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::CoreError;
use crate::sensitive::Sensitive;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Login includes an argon2id verification on a possibly busy server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Checks a cloud URL: https anywhere, plain http only to this machine
/// (the local dev cloud). Returns it normalised without a trailing slash.
pub fn validate_cloud_url(input: &str) -> Result<String, CoreError> {
    let invalid = |reason: &str| CoreError::InvalidCloudUrl {
        reason: reason.into(),
    };
    let url = Url::parse(input.trim())
        .map_err(|_| invalid("enter a full address such as https://cloud.example.com"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the address must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the address must not contain ? or #"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(invalid(
                "it must start with https:// (plain http is only allowed to this computer)",
            ))
        }
        _ => return Err(invalid("it must start with https://")),
    }
    if url.host_str().unwrap_or("").is_empty() {
        return Err(invalid("it has no host name"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[derive(Clone)]
pub struct CloudClient {
    base: String,
    http: reqwest::Client,
}

impl CloudClient {
    /// `base_url` is validated with [`validate_cloud_url`].
    pub fn new(base_url: &str) -> Result<Self, CoreError> {
        let base = validate_cloud_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("SecureClose-Desktop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CoreError::CloudUnreachable {
                url: base.clone(),
                detail: format!("HTTP client setup failed: {err}"),
            })?;
        Ok(Self { base, http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn health(&self) -> Result<Health, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/health", None))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse, CoreError> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let request = self
            .request(Method::POST, "/api/v1/login", None)
            .json(&body);
        // `body` holds the password; it is dropped here, and never logged.
        drop(body);
        self.json(request).await
    }

    /// Revokes the session on the cloud.
    pub async fn logout(&self, token: &Sensitive<String>) -> Result<(), CoreError> {
        let response = self
            .send(self.request(Method::POST, "/api/v1/logout", Some(token)))
            .await?;
        self.check(response).await.map(drop)
    }

    pub async fn me(&self, token: &Sensitive<String>) -> Result<MeResponse, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/me", Some(token)))
            .await
    }

    pub async fn company(&self, token: &Sensitive<String>) -> Result<Company, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/company", Some(token)))
            .await
    }

    pub async fn users(&self, token: &Sensitive<String>) -> Result<UsersResponse, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/users", Some(token)))
            .await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&Sensitive<String>>,
    ) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token.expose()),
            None => builder,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, CoreError> {
        request
            .send()
            .await
            .map_err(|err| self.transport_error(&err))
    }

    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, CoreError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(api) => Err(CoreError::Cloud {
                status: status.as_u16(),
                code: api.code,
                message: api.message,
            }),
            // Not our API's error shape: a proxy, a captive portal, a wrong URL.
            Err(_) if status == StatusCode::NOT_FOUND => Err(CoreError::CloudUnreachable {
                url: self.base.clone(),
                detail: "HTTP 404: is this the address of a SecureClose cloud?".into(),
            }),
            Err(_) => Err(CoreError::CloudUnreachable {
                url: self.base.clone(),
                detail: format!("HTTP {status}"),
            }),
        }
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, CoreError> {
        let response = self.check(self.send(request).await?).await?;
        let body = response
            .bytes()
            .await
            .map_err(|err| self.transport_error(&err))?;
        serde_json::from_slice(&body).map_err(|err| CoreError::CloudUnreachable {
            url: self.base.clone(),
            detail: format!("unexpected response: {err}"),
        })
    }

    fn transport_error(&self, err: &reqwest::Error) -> CoreError {
        if err.is_connect() {
            CoreError::Offline {
                url: self.base.clone(),
            }
        } else if err.is_timeout() {
            CoreError::CloudUnreachable {
                url: self.base.clone(),
                detail: "the request timed out".into(),
            }
        } else {
            CoreError::CloudUnreachable {
                url: self.base.clone(),
                detail: err.to_string(),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cache::tests::{company, user};
    use axum::extract::Json;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::Router;
    use secureclose_protocol::SessionGrant;

    pub(crate) const TOKEN: &str = "tok-0123456789";
    pub(crate) const PASSWORD: &str = "correct horse battery staple";

    fn authorized(headers: &HeaderMap) -> bool {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {TOKEN}"))
    }

    fn unauthenticated() -> (StatusCode, Json<ApiError>) {
        (
            StatusCode::UNAUTHORIZED,
            Json(ApiError::new("unauthenticated", "Please sign in again.")),
        )
    }

    /// A stand-in for the cloud that follows CONTRACTS.md closely enough for
    /// the client and AppCore; the real one is exercised from tests/.
    pub(crate) async fn fake_cloud() -> (String, tokio::task::JoinHandle<()>) {
        let app = Router::new()
            .route(
                "/api/v1/health",
                get(|| async {
                    Json(Health {
                        status: "ok".into(),
                        version: "0.1.0".into(),
                        database: "sqlite".into(),
                    })
                }),
            )
            .route(
                "/api/v1/login",
                post(|Json(req): Json<LoginRequest>| async move {
                    if req.password != PASSWORD {
                        return Err((
                            StatusCode::UNAUTHORIZED,
                            Json(ApiError::new(
                                "invalid_credentials",
                                "The email or password is incorrect.",
                            )),
                        ));
                    }
                    let mut admin = user("u1", "Alice Admin", &req.email);
                    admin.role = secureclose_protocol::Role::Admin;
                    Ok(Json(LoginResponse::SignedIn {
                        session: SessionGrant {
                            token: TOKEN.into(),
                            expires_at: 9_999_999_999_999,
                        },
                        user: admin,
                        company: company(),
                    }))
                }),
            )
            .route(
                "/api/v1/logout",
                post(|headers: HeaderMap| async move {
                    if authorized(&headers) {
                        Ok(StatusCode::NO_CONTENT)
                    } else {
                        Err(unauthenticated())
                    }
                }),
            )
            .route(
                "/api/v1/company",
                get(|headers: HeaderMap| async move {
                    authorized(&headers)
                        .then(|| Json(company()))
                        .ok_or_else(unauthenticated)
                }),
            )
            .route(
                "/api/v1/users",
                get(|headers: HeaderMap| async move {
                    authorized(&headers)
                        .then(|| {
                            Json(UsersResponse {
                                users: vec![
                                    user("u1", "Alice Admin", "alice@desertmotors.example"),
                                    user("u2", "Bob Builder", "bob@desertmotors.example"),
                                    user("u3", "Carol Finance", "carol@desertmotors.example"),
                                ],
                            })
                        })
                        .ok_or_else(unauthenticated)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://{addr}"), handle)
    }

    /// An address nothing listens on: bind, note the port, close.
    pub(crate) async fn dead_url() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    }

    #[test]
    fn cloud_url_requires_https_except_to_loopback() {
        for ok in [
            "https://cloud.secureclose.net",
            "https://cloud.secureclose.net/",
            "http://127.0.0.1:8787",
            "http://localhost:8787/",
            "http://[::1]:8787",
            "HTTP://LOCALHOST:1",
        ] {
            assert!(validate_cloud_url(ok).is_ok(), "{ok} must be accepted");
        }
        for bad in [
            "http://cloud.secureclose.net",
            "http://10.0.0.5:8787",
            "http://localhost.evil.example",
            "ftp://cloud.secureclose.net",
            "cloud.secureclose.net",
            "",
            "https://user:pw@cloud.secureclose.net",
        ] {
            let err = validate_cloud_url(bad).err();
            assert!(
                matches!(err, Some(CoreError::InvalidCloudUrl { .. })),
                "{bad} must be refused with invalid_cloud_url, got {err:?}"
            );
        }
        assert_eq!(
            validate_cloud_url(" https://cloud.example/ ").unwrap(),
            "https://cloud.example",
            "normalised so paths can be appended"
        );
        let msg = crate::error::CoreError::InvalidCloudUrl { reason: "x".into() }.user_message();
        assert!(msg.contains("not valid"), "the user learns why: {msg}");
    }

    #[tokio::test]
    async fn typed_calls_succeed_against_the_contract() {
        let (url, _server) = fake_cloud().await;
        let client = CloudClient::new(&url).unwrap();
        assert_eq!(client.health().await.unwrap().status, "ok");
        let LoginResponse::SignedIn { session, user, .. } = client
            .login("alice@desertmotors.example", PASSWORD)
            .await
            .unwrap()
        else {
            panic!("alice has no second factor: the password alone must sign in");
        };
        assert_eq!(user.email, "alice@desertmotors.example");
        let token = Sensitive::new(session.token);
        assert_eq!(client.company(&token).await.unwrap(), company());
        assert_eq!(client.users(&token).await.unwrap().users.len(), 3);
        client.logout(&token).await.expect("logout answers 204");
    }

    #[tokio::test]
    async fn error_bodies_become_cloud_errors_with_their_code() {
        let (url, _server) = fake_cloud().await;
        let client = CloudClient::new(&url).unwrap();
        let err = client.login("a@b.example", "wrong").await.unwrap_err();
        match &err {
            CoreError::Cloud {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, 401);
                assert_eq!(code, "invalid_credentials");
                assert_eq!(message, "The email or password is incorrect.");
            }
            other => panic!("expected a cloud error, got {other:?}"),
        }
        let bad = Sensitive::new("nope".to_owned());
        let err = client.users(&bad).await.unwrap_err();
        assert!(err.is_session_rejected(), "401 unauthenticated: {err:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_offline_with_a_clear_message() {
        let url = dead_url().await;
        let client = CloudClient::new(&url).unwrap();
        let err = client.health().await.unwrap_err();
        assert!(matches!(err, CoreError::Offline { .. }), "got {err:?}");
        let api = ApiError::from(&err);
        assert_eq!(api.code, "offline");
        assert!(
            api.message.contains(&url),
            "names the address: {}",
            api.message
        );
    }

    #[tokio::test]
    async fn non_api_answers_are_cloud_unreachable() {
        let (url, _server) = fake_cloud().await;
        // A 404 without our error body: the URL points at something else.
        let client = CloudClient::new(&format!("{url}/elsewhere")).unwrap();
        let err = client.health().await.unwrap_err();
        assert_eq!(err.code(), "cloud_unreachable", "got {err:?}");
    }
}
