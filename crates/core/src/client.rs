//! Typed HTTP client for the SecureClose cloud API (see CONTRACTS.md).
//! The base URL is injected so tests can point it at a local server.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use secureclose_protocol::sync::{ChangesPage, Mutation, PushRequest, PushResponse, ResumeRequest};
use secureclose_protocol::{
    ActivateRequest, ApiError, Challenge, ChangePasswordRequest, ChangePasswordResponse, Company,
    CompanyUpdate, ConfirmTotpRequest, EnrollPhoneRequest, EnrollTotpRequest, Health, LoginRequest,
    LoginResponse, MeResponse, NewUserRequest, ReauthDone, ReauthRequest, ReauthStep,
    RecoveryCodes, RecoveryStatus, ResendCodeRequest, ResetTwoFactorRequest, SecondFactorMethod,
    SetupCodeGrant, SetupCodeTexted, TextSetupCodeRequest, TotpEnrollment, TotpStatus,
    TrustedComputer, User, UserUpdate, UsersResponse, VerifyCodeRequest,
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
            // A 307/308 would resend the body (a password, a code, a token)
            // to wherever the answer points: never follow one (see `check`).
            .redirect(reqwest::redirect::Policy::none())
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

    /// `company_id`: the company picked after a `company_choice_required`
    /// answer (an email is unique per company only); `None` at first.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        company_id: Option<&str>,
    ) -> Result<LoginResponse, CoreError> {
        self.login_with(email, password, company_id, None).await
    }

    /// [`CloudClient::login`] from a computer the person trusted: its token
    /// may stand in for the code.
    pub async fn login_with(
        &self,
        email: &str,
        password: &str,
        company_id: Option<&str>,
        trusted_token: Option<&str>,
    ) -> Result<LoginResponse, CoreError> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            company_id: company_id.map(str::to_owned),
            trusted_token: trusted_token.map(str::to_owned),
        };
        let request = self
            .request(Method::POST, "/api/v1/login", None)
            .json(&body);
        // `body` holds the password; it is dropped here, and never logged.
        drop(body);
        self.json(request).await
    }

    /// First sign-in with the setup code an admin handed over and the
    /// password the person chose; answers like [`CloudClient::login`]. The
    /// code and the password are sent once and never logged.
    pub async fn activate(
        &self,
        email: &str,
        setup_code: &Sensitive<String>,
        new_password: &Sensitive<String>,
    ) -> Result<LoginResponse, CoreError> {
        let body = ActivateRequest {
            email: email.to_owned(),
            setup_code: setup_code.expose().clone(),
            new_password: new_password.expose().clone(),
        };
        let request = self
            .request(Method::POST, "/api/v1/account/activate", None)
            .json(&body);
        drop(body);
        self.json(request).await
    }

    /// The signed-in user's own password change. `device_token`: this
    /// computer's grant, which the cloud ends with all the others and
    /// answers with its replacement.
    pub async fn change_password(
        &self,
        token: &Sensitive<String>,
        current_password: &Sensitive<String>,
        new_password: &Sensitive<String>,
        device_token: Option<&Sensitive<String>>,
    ) -> Result<ChangePasswordResponse, CoreError> {
        let body = ChangePasswordRequest {
            current_password: current_password.expose().clone(),
            new_password: new_password.expose().clone(),
            device_token: device_token.map(|token| token.expose().clone()),
        };
        let request = self
            .request(Method::POST, "/api/v1/account/password", Some(token))
            .json(&body);
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

    /// Completes a login with the code the user typed, from the texted
    /// message or the authenticator app (`method`). The code is sent once
    /// and never kept or logged.
    pub async fn verify_code(
        &self,
        challenge_id: &Sensitive<String>,
        method: SecondFactorMethod,
        code: &str,
    ) -> Result<LoginResponse, CoreError> {
        self.verify_code_with(challenge_id, method, code, None)
            .await
    }

    /// [`CloudClient::verify_code`], asking to trust this computer (listed
    /// as `remember_as`) when it is `Some`.
    pub async fn verify_code_with(
        &self,
        challenge_id: &Sensitive<String>,
        method: SecondFactorMethod,
        code: &str,
        remember_as: Option<&str>,
    ) -> Result<LoginResponse, CoreError> {
        let body = VerifyCodeRequest {
            challenge_id: challenge_id.expose().clone(),
            method,
            code: code.to_owned(),
            remember_computer: remember_as.is_some(),
            computer_label: remember_as.map(str::to_owned),
        };
        let request = self
            .request(Method::POST, "/api/v1/login/verify", None)
            .json(&body);
        drop(body);
        self.json(request).await
    }

    pub async fn resend_code(
        &self,
        challenge_id: &Sensitive<String>,
    ) -> Result<Challenge, CoreError> {
        let body = ResendCodeRequest {
            challenge_id: challenge_id.expose().clone(),
        };
        self.json(
            self.request(Method::POST, "/api/v1/login/resend", None)
                .json(&body),
        )
        .await
    }

    /// Sends the phone the user typed (the cloud parses it to E.164) and has
    /// a code sent to it.
    pub async fn enroll_phone(
        &self,
        challenge_id: &Sensitive<String>,
        mobile_phone: &str,
    ) -> Result<Challenge, CoreError> {
        let body = EnrollPhoneRequest {
            challenge_id: challenge_id.expose().clone(),
            mobile_phone: mobile_phone.to_owned(),
        };
        self.json(
            self.request(Method::POST, "/api/v1/login/enroll-phone", None)
                .json(&body),
        )
        .await
    }

    /// Starts an authenticator-app enrolment in place of a phone.
    pub async fn enroll_totp(
        &self,
        challenge_id: &Sensitive<String>,
    ) -> Result<TotpEnrollment, CoreError> {
        let body = EnrollTotpRequest {
            challenge_id: challenge_id.expose().clone(),
        };
        self.json(
            self.request(Method::POST, "/api/v1/login/enroll-totp", None)
                .json(&body),
        )
        .await
    }

    pub async fn user(&self, token: &Sensitive<String>, user_id: &str) -> Result<User, CoreError> {
        let url = self.user_url(user_id)?;
        self.json(self.with_token(self.http.get(url), token)).await
    }

    /// An admin's edit of one user; returns the user as the cloud stored it.
    pub async fn update_user(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
        update: &UserUpdate,
    ) -> Result<User, CoreError> {
        let url = self.user_url(user_id)?;
        self.json(self.with_token(self.http.patch(url), token).json(update))
            .await
    }

    /// An admin's edit of the company; returns the company as stored.
    pub async fn update_company(
        &self,
        token: &Sensitive<String>,
        update: &CompanyUpdate,
    ) -> Result<Company, CoreError> {
        self.json(
            self.request(Method::PATCH, "/api/v1/company", Some(token))
                .json(update),
        )
        .await
    }

    /// An admin adds a user; the answer carries their one-time setup code
    /// (a [`SetupCodeGrant`], whose Debug redacts it).
    pub async fn create_user(
        &self,
        token: &Sensitive<String>,
        request: &NewUserRequest,
    ) -> Result<SetupCodeGrant, CoreError> {
        self.json(
            self.request(Method::POST, "/api/v1/users", Some(token))
                .json(request),
        )
        .await
    }

    /// An admin resets a user's password: a new setup code, the old password
    /// and every session of the user end.
    pub async fn reset_password(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
    ) -> Result<SetupCodeGrant, CoreError> {
        let url = self.user_action_url(user_id, "reset-password")?;
        self.json(self.with_token(self.http.post(url), token)).await
    }

    /// An admin texts a user's setup code to the phone on their profile.
    pub async fn text_setup_code(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
        setup_code: &Sensitive<String>,
    ) -> Result<SetupCodeTexted, CoreError> {
        let url = self.user_action_url(user_id, "setup-code/text")?;
        let request = TextSetupCodeRequest {
            setup_code: setup_code.expose().clone(),
        };
        self.json(self.with_token(self.http.post(url), token).json(&request))
            .await
    }

    /// Whether the signed-in user has an authenticator app.
    pub async fn totp_status(&self, token: &Sensitive<String>) -> Result<TotpStatus, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/account/totp", Some(token)))
            .await
    }

    /// Starts adding an authenticator app; the answer holds its secret.
    pub async fn begin_totp(&self, token: &Sensitive<String>) -> Result<TotpEnrollment, CoreError> {
        self.json(self.request(Method::POST, "/api/v1/account/totp", Some(token)))
            .await
    }

    /// The app's first code, which makes it a sign-in factor.
    pub async fn confirm_totp(
        &self,
        token: &Sensitive<String>,
        enrollment_id: &str,
        code: &str,
    ) -> Result<TotpStatus, CoreError> {
        let body = ConfirmTotpRequest {
            enrollment_id: enrollment_id.to_owned(),
            code: code.to_owned(),
        };
        let request = self
            .request(Method::POST, "/api/v1/account/totp/confirm", Some(token))
            .json(&body);
        drop(body);
        self.json(request).await
    }

    pub async fn recovery_status(
        &self,
        token: &Sensitive<String>,
    ) -> Result<RecoveryStatus, CoreError> {
        self.json(self.request(Method::GET, "/api/v1/account/recovery-codes", Some(token)))
            .await
    }

    pub async fn regenerate_recovery_codes(
        &self,
        token: &Sensitive<String>,
    ) -> Result<RecoveryCodes, CoreError> {
        self.json(self.request(Method::POST, "/api/v1/account/recovery-codes", Some(token)))
            .await
    }

    /// Re-authentication's password step.
    pub async fn reauth(
        &self,
        token: &Sensitive<String>,
        password: &Sensitive<String>,
    ) -> Result<ReauthStep, CoreError> {
        let body = ReauthRequest {
            password: password.expose().clone(),
        };
        let request = self
            .request(Method::POST, "/api/v1/account/reauth", Some(token))
            .json(&body);
        drop(body);
        self.json(request).await
    }

    /// Re-authentication's code step.
    pub async fn verify_reauth(
        &self,
        token: &Sensitive<String>,
        challenge_id: &Sensitive<String>,
        method: SecondFactorMethod,
        code: &str,
    ) -> Result<ReauthDone, CoreError> {
        let body = VerifyCodeRequest {
            challenge_id: challenge_id.expose().clone(),
            method,
            code: code.to_owned(),
            remember_computer: false,
            computer_label: None,
        };
        let request = self
            .request(Method::POST, "/api/v1/account/reauth/verify", Some(token))
            .json(&body);
        drop(body);
        self.json(request).await
    }

    pub async fn remove_totp(&self, token: &Sensitive<String>) -> Result<(), CoreError> {
        let response = self
            .send(self.request(Method::DELETE, "/api/v1/account/totp", Some(token)))
            .await?;
        self.check(response).await.map(drop)
    }

    /// An admin resets a user's second factor (app and phone), with a reason.
    pub async fn reset_two_factor(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
        reason: &str,
    ) -> Result<User, CoreError> {
        let url = self.user_action_url(user_id, "reset-two-factor")?;
        let request = ResetTwoFactorRequest {
            reason: reason.to_owned(),
        };
        self.json(self.with_token(self.http.post(url), token).json(&request))
            .await
    }

    pub async fn trusted_computers(
        &self,
        token: &Sensitive<String>,
    ) -> Result<Vec<TrustedComputer>, CoreError> {
        let path = "/api/v1/account/trusted-computers";
        self.json(self.request(Method::GET, path, Some(token)))
            .await
    }

    pub async fn revoke_trusted_computer(
        &self,
        token: &Sensitive<String>,
        id: &str,
    ) -> Result<(), CoreError> {
        let url = self.url_with_id("/api/v1/account/trusted-computers", id)?;
        let response = self
            .send(self.with_token(self.http.delete(url), token))
            .await?;
        self.check(response).await.map(drop)
    }

    pub async fn user_trusted_computers(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
    ) -> Result<Vec<TrustedComputer>, CoreError> {
        let url = self.user_action_url(user_id, "trusted-computers")?;
        self.json(self.with_token(self.http.get(url), token)).await
    }

    pub async fn revoke_user_trusted_computer(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
        id: &str,
    ) -> Result<(), CoreError> {
        let url = with_segment(self.user_action_url(user_id, "trusted-computers")?, id)?;
        let response = self
            .send(self.with_token(self.http.delete(url), token))
            .await?;
        self.check(response).await.map(drop)
    }

    /// An admin ends every session and offline grant of a user.
    pub async fn revoke_sessions(
        &self,
        token: &Sensitive<String>,
        user_id: &str,
    ) -> Result<(), CoreError> {
        let url = self.user_action_url(user_id, "revoke-sessions")?;
        let response = self
            .send(self.with_token(self.http.post(url), token))
            .await?;
        self.check(response).await.map(drop)
    }

    /// One page of the company's changes after `since` (the reqwest `gzip`
    /// feature asks for and inflates a compressed body).
    pub async fn changes(
        &self,
        token: &Sensitive<String>,
        since: i64,
        limit: u32,
    ) -> Result<ChangesPage, CoreError> {
        // Two integers: nothing to escape.
        let path = format!("/api/v1/sync/changes?since={since}&limit={limit}");
        self.json(self.request(Method::GET, &path, Some(token)))
            .await
    }

    /// Sends queued edits; one result per mutation, in order.
    pub async fn push(
        &self,
        token: &Sensitive<String>,
        mutations: &[Mutation],
    ) -> Result<PushResponse, CoreError> {
        let body = PushRequest {
            mutations: mutations.to_vec(),
        };
        self.json(
            self.request(Method::POST, "/api/v1/sync/push", Some(token))
                .json(&body),
        )
        .await
    }

    /// Turns an offline sign-in back into a cloud session with the password
    /// and this device's token (both sent once, never logged). The session's
    /// company names the account: an email is unique per company only.
    pub async fn resume(
        &self,
        email: &str,
        password: &Sensitive<String>,
        device_token: &Sensitive<String>,
        company_id: &str,
    ) -> Result<LoginResponse, CoreError> {
        let body = ResumeRequest {
            email: email.to_owned(),
            password: password.expose().clone(),
            device_token: device_token.expose().clone(),
            company_id: Some(company_id.to_owned()),
        };
        let request = self
            .request(Method::POST, "/api/v1/login/resume", None)
            .json(&body);
        drop(body);
        self.json(request).await
    }

    /// `path` followed by `id` percent-encoded as one path segment, so no id
    /// can reach another route.
    fn url_with_id(&self, path: &str, id: &str) -> Result<Url, CoreError> {
        let url = Url::parse(&format!("{}{path}", self.base)).map_err(|_| not_a_base())?;
        with_segment(url, id)
    }

    /// `/api/v1/users/{id}`, the id one percent-encoded segment.
    fn user_url(&self, user_id: &str) -> Result<Url, CoreError> {
        self.url_with_id("/api/v1/users", user_id)
    }

    /// `/api/v1/users/{id}/{action}`, the id one percent-encoded segment.
    fn user_action_url(&self, user_id: &str, action: &str) -> Result<Url, CoreError> {
        let mut url = self.user_url(user_id)?;
        url.path_segments_mut()
            .map_err(|()| not_a_base())?
            .extend(action.split('/'));
        Ok(url)
    }

    fn with_token(&self, builder: RequestBuilder, token: &Sensitive<String>) -> RequestBuilder {
        builder.bearer_auth(token.expose())
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
        if status.is_redirection() {
            return Err(redirect_error(&self.base, status, response.headers()));
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(error_from_body(&self.base, status, &body))
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

/// A redirect answer: our API never redirects, so it is a proxy, a moved or
/// mistyped address, or a hostile server. Not followed; the log says where
/// it pointed (an address, never a secret).
fn redirect_error(
    base: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> CoreError {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    CoreError::CloudRedirected {
        url: base.to_owned(),
        status: status.as_u16(),
        location,
    }
}

/// The error for a non-success answer: the cloud's `{code, message, ..}`
/// with its extras, or "unreachable" when the body is not our API's.
fn error_from_body(base: &str, status: StatusCode, body: &[u8]) -> CoreError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(api) => CoreError::from_api(status.as_u16(), api),
        // Not our API's error shape: a proxy, a captive portal, a wrong URL.
        Err(_) if status == StatusCode::NOT_FOUND => CoreError::CloudUnreachable {
            url: base.to_owned(),
            detail: "HTTP 404: is this the address of a SecureClose cloud?".into(),
        },
        Err(_) => CoreError::CloudUnreachable {
            url: base.to_owned(),
            detail: format!("HTTP {status}"),
        },
    }
}

fn not_a_base() -> CoreError {
    CoreError::InvalidCloudUrl {
        reason: "it cannot be used as a base address".into(),
    }
}

/// `url` with `segment` appended, percent-encoded as one path segment.
fn with_segment(mut url: Url, segment: &str) -> Result<Url, CoreError> {
    url.path_segments_mut()
        .map_err(|()| not_a_base())?
        .push(segment);
    Ok(url)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;

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

    #[test]
    fn error_bodies_keep_the_cloud_code_message_and_extras() {
        let body =
            br#"{"code":"invalid_code","message":"That code is not right.","attempts_left":2}"#;
        let err = error_from_body("http://127.0.0.1:1", StatusCode::BAD_REQUEST, body);
        match &err {
            CoreError::Cloud {
                status,
                code,
                message,
                attempts_left,
                retry_at,
            } => {
                assert_eq!(*status, 400);
                assert_eq!(code, "invalid_code");
                assert_eq!(message, "That code is not right.");
                assert_eq!(
                    *attempts_left,
                    Some(2),
                    "the dialog shows the tries left from here"
                );
                assert_eq!(*retry_at, None);
            }
            other => panic!("expected a cloud error, got {other:?}"),
        }
        let body = br#"{"code":"resend_too_soon","message":"Wait.","retry_at":1700000030000}"#;
        let api = ApiError::from(&error_from_body(
            "http://127.0.0.1:1",
            StatusCode::TOO_MANY_REQUESTS,
            body,
        ));
        assert_eq!(
            api.retry_at,
            Some(1_700_000_030_000),
            "retry_at must reach the UI for the resend countdown"
        );
    }

    #[test]
    fn non_api_answers_are_cloud_unreachable() {
        // A proxy, captive portal or some other site: not our error shape.
        let not_found = error_from_body(
            "https://cloud.example",
            StatusCode::NOT_FOUND,
            b"<html>Not Found</html>",
        );
        assert_eq!(not_found.code(), "cloud_unreachable", "got {not_found:?}");
        assert!(
            not_found.to_string().contains("404"),
            "the log says what came back: {not_found}"
        );
        let gateway = error_from_body("https://cloud.example", StatusCode::BAD_GATEWAY, b"");
        assert_eq!(gateway.code(), "cloud_unreachable");
    }

    #[test]
    fn user_ids_stay_one_path_segment() {
        let client = CloudClient::new("https://cloud.example/base").unwrap();
        assert_eq!(
            client.user_url("u-1").unwrap().as_str(),
            "https://cloud.example/base/api/v1/users/u-1"
        );
        assert_eq!(
            client.user_url("../company").unwrap().as_str(),
            "https://cloud.example/base/api/v1/users/..%2Fcompany",
            "an id must never walk to another route"
        );
        assert_eq!(
            client
                .user_action_url("../company", "reset-password")
                .unwrap()
                .as_str(),
            "https://cloud.example/base/api/v1/users/..%2Fcompany/reset-password"
        );
    }

    /// Reads one HTTP request (head and a Content-Length body) from `stream`.
    async fn read_request(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            {
                Ok(Ok(n)) if n > 0 => n,
                _ => return seen,
            };
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return seen;
                }
            }
        }
    }

    /// The attack: the cloud address answers the sign-in with a 307 (or
    /// 308) to another host, which would receive the password body again.
    #[tokio::test]
    async fn a_redirect_is_never_followed_and_the_password_goes_nowhere_else() {
        use tokio::io::AsyncWriteExt;
        for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
            let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let target = format!("http://{}/api/v1/login", elsewhere.local_addr().unwrap());
            let received = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
            let recorder = {
                let received = received.clone();
                tokio::spawn(async move {
                    while let Ok((mut stream, _)) = elsewhere.accept().await {
                        let request = read_request(&mut stream).await;
                        received.lock().unwrap().extend_from_slice(&request);
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
                            )
                            .await;
                    }
                })
            };
            let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let relay_url = format!("http://{}", relay.local_addr().unwrap());
            let answer = format!(
                "HTTP/1.1 {status}\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let redirector = tokio::spawn(async move {
                while let Ok((mut stream, _)) = relay.accept().await {
                    read_request(&mut stream).await;
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });

            let client = CloudClient::new(&relay_url).unwrap();
            let err = client
                .login("alice@desertmotors.example", "hunter2-secret", None)
                .await
                .unwrap_err();
            // Give a follow-up request time to arrive, had one been sent.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(
                received.lock().unwrap().is_empty(),
                "{status}: the other host must receive nothing, got {:?}",
                String::from_utf8_lossy(&received.lock().unwrap())
            );
            assert_eq!(err.code(), "cloud_redirected", "{status}: {err:?}");
            let api = ApiError::from(&err);
            assert!(
                api.message.contains(&relay_url) && api.message.contains("Server settings"),
                "the person learns which address misbehaved and where to fix it: {}",
                api.message
            );
            assert!(
                err.to_string().contains(&target) && !format!("{err:?}").contains("hunter2"),
                "the log says where it pointed, never the password: {err:?}"
            );
            recorder.abort();
            redirector.abort();
        }
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
}
