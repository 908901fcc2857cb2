//! Wire types shared by the SecureClose desktop (`secureclose-core`) and the
//! SecureClose cloud (`secureclose-cloud`). Serde only: no I/O lives here.
//!
//! Timestamps are Unix epoch milliseconds (`i64`) so both database dialects
//! and the UI agree on one representation. Identifiers are UUID strings.

use serde::{Deserialize, Serialize};

#[cfg(feature = "passwords")]
pub mod passwords;
#[cfg(feature = "phone")]
pub mod phone;
pub mod rules;
pub mod sync;

/// Version of this API; the cloud reports it from `/api/v1/health`.
pub const API_VERSION: &str = "v1";

/// Every error the cloud returns, and every error the desktop shows the UI.
/// `code` is stable and machine-readable; `message` is for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// Wrong second-factor code: tries left on this code before the login
    /// attempt must restart. Absent for every other error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub attempts_left: Option<u32>,
    /// Rate limits and the resend cooldown: when (epoch ms) trying again can
    /// succeed. Absent for every other error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub retry_at: Option<i64>,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            attempts_left: None,
            retry_at: None,
        }
    }

    pub fn with_attempts_left(mut self, attempts_left: u32) -> Self {
        self.attempts_left = Some(attempts_left);
        self
    }

    pub fn with_retry_at(mut self, retry_at: i64) -> Self {
        self.retry_at = Some(retry_at);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// A user of one company, as the cloud (the authority) knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub company_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    /// E.164, e.g. `+14805551234`.
    pub mobile_phone: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub phone_verified_at: Option<i64>,
    /// The per-user Two-Factor Authentication toggle (Login Info tab).
    pub two_factor_enabled: bool,
    /// True when this is a colleague as a non-admin may see them: phone,
    /// verification time and 2FA were withheld and say nothing (see
    /// `rules::as_seen_by`). Absent from older clouds, which withheld nothing.
    #[serde(default)]
    pub security_withheld: bool,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub updated_at: i64,
}

/// The dealership's DMS (dealer management system) integration. Two-factor
/// authentication is only available where the integration supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DmsIntegration {
    pub kind: String,
    pub supports_two_factor: bool,
}

/// Whether and for how long a user may sign in on this device without the
/// cloud (measured since their last online second factor here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfflinePolicy {
    pub allowed: bool,
    pub max_hours: u32,
}

impl OfflinePolicy {
    /// The grace window, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        i64::from(self.max_hours).saturating_mul(3_600_000)
    }

    /// Whether a second factor completed at `second_factor_at` (never: `None`)
    /// still lets a 2FA user in without a new code at `now`. The desktop
    /// (offline sign-in) and the cloud (resume) apply this same rule.
    pub fn covers_second_factor_at(&self, second_factor_at: Option<i64>, now: i64) -> bool {
        second_factor_at.is_some_and(|at| at.saturating_add(self.grace_ms()) > now)
    }
}

/// The effective 2FA rule, the same on the cloud and the desktop: (the user's
/// toggle OR the company's) AND the DMS integration supports it. A row whose
/// toggle was withheld says nothing about it, so it counts as on.
pub fn needs_second_factor(user: &User, company: &Company) -> bool {
    (user.two_factor_enabled || user.security_withheld || company.two_factor_required)
        && company.dms.supports_two_factor
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Company {
    pub id: String,
    pub name: String,
    /// The company-wide Two-Factor Authentication toggle (Company Profile).
    pub two_factor_required: bool,
    pub dms: DmsIntegration,
    pub offline_policy: OfflinePolicy,
    /// Idle lock and absolute session limit. Absent from older clouds, which
    /// had neither: their desktops use the defaults.
    #[serde(default)]
    pub session_policy: SessionPolicy,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: i64,
}

/// How long a desktop session lasts (NIST SP 800-63B AAL2: inactivity at
/// most an hour, a session at most a day). The desktop locks after
/// `idle_lock_minutes` without input; the cloud refuses a session token
/// `max_session_hours` after its sign-in, whatever the token's own expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPolicy {
    pub idle_lock_minutes: u32,
    pub max_session_hours: u32,
    /// Days a person may skip the code on a computer they chose to trust
    /// after entering one; 0 (the default) turns trusted computers off.
    #[serde(default)]
    pub trusted_computer_days: u32,
}

impl SessionPolicy {
    pub const DEFAULT_IDLE_LOCK_MINUTES: u32 = 30;
    pub const DEFAULT_MAX_SESSION_HOURS: u32 = 12;
    pub const IDLE_LOCK_MINUTES: std::ops::RangeInclusive<u32> = 5..=60;
    pub const MAX_SESSION_HOURS: std::ops::RangeInclusive<u32> = 1..=24;
    pub const TRUSTED_COMPUTER_DAYS: std::ops::RangeInclusive<u32> = 0..=30;

    /// The absolute limit, in milliseconds.
    pub fn max_session_ms(&self) -> i64 {
        i64::from(self.max_session_hours).saturating_mul(3_600_000)
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_lock_minutes: Self::DEFAULT_IDLE_LOCK_MINUTES,
            max_session_hours: Self::DEFAULT_MAX_SESSION_HOURS,
            trusted_computer_days: 0,
        }
    }
}

/// Limits of the offline grace window an admin may choose (hours).
pub const OFFLINE_MAX_HOURS: std::ops::RangeInclusive<u32> = 1..=168;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// An email is unique per company, not across companies: after a
    /// `company_choice_required` answer the client names the company here,
    /// and only that company's account is considered. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// This computer's trusted-computer token, if it has one for the
    /// account: a valid one stands in for the second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_token: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    // A password must never reach a log or a panic message through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("company_id", &self.company_id)
            .field(
                "trusted_token",
                &self.trusted_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// One company a person may sign in to, in a `company_choice_required` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyChoice {
    pub id: String,
    pub name: String,
}

/// An opaque bearer token for the cloud API, with its expiry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionGrant {
    pub token: String,
    pub expires_at: i64,
    /// Trusted-device credential for `POST /login/resume` (offline sign-in): lets
    /// this device turn an offline sign-in back into a cloud session within
    /// the company's offline policy. Kept in the OS keychain, never cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// What this sign-in did with the user's recovery codes, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryNotice>,
    /// A new trusted-computer token, when the person asked to skip the code
    /// on this computer: kept in the OS keychain, sent with `/login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_computer: Option<TrustedComputerGrant>,
    /// After a sign-in with a second factor, for someone with an
    /// authenticator app at a company that allows offline sign-in: the app's
    /// secret, which the desktop keeps sealed under a key derived from the
    /// password, to check the app's codes when the cloud cannot be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_app: Option<OfflineApp>,
}

/// An authenticator app's secret for offline sign-in, and the last time
/// step the cloud accepted (the desktop accepts only later ones).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfflineApp {
    /// RFC 4648 base32, as the app was set up with.
    pub secret: String,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for OfflineApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineApp")
            .field("secret", &"<redacted>")
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A trusted computer's id (to tell it apart in lists) and its token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustedComputerGrant {
    pub id: String,
    pub token: String,
}

impl std::fmt::Debug for TrustedComputerGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedComputerGrant")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// One of a person's trusted computers (epoch ms). `this_computer` is the
/// desktop's own mark (the cloud always sends false).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustedComputer {
    pub id: String,
    pub label: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: i64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_used_at: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: i64,
    #[serde(default)]
    pub this_computer: bool,
}

/// A sign-in's news about recovery codes: ten fresh ones to show once (the
/// first sign-in with a second factor), or, after a sign-in with a recovery
/// code, how many unused ones remain.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryNotice {
    #[serde(default)]
    pub issued: Vec<String>,
    #[serde(default)]
    pub left: Option<u32>,
}

impl std::fmt::Debug for RecoveryNotice {
    // The codes sign in: never let them reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryNotice")
            .field("issued", &self.issued.len())
            .field("left", &self.left)
            .finish()
    }
}

/// `GET /api/v1/account/recovery-codes`: how many of the user's codes are
/// unused, of how many, and when the set was issued (`null`: never).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryStatus {
    pub remaining: u32,
    pub total: u32,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub issued_at: Option<i64>,
}

/// `POST /api/v1/account/reauth`: the signed-in person's current password,
/// the first step of proving themselves again before a security change.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReauthRequest {
    pub password: String,
}

impl std::fmt::Debug for ReauthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReauthRequest { password: <redacted> }")
    }
}

/// Where a re-authentication stands after the password: done (someone with
/// no second factor), or an attempt to answer with a code at
/// `POST /api/v1/account/reauth/verify` (same body as `/login/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReauthStep {
    /// Until when (epoch ms) the proof counts.
    Done {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        until: i64,
    },
    NeedsSecondFactor {
        challenge: Challenge,
    },
}

/// A finished re-authentication: until when (epoch ms) it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReauthDone {
    pub until: i64,
}

/// A new set of recovery codes, shown once; the old set no longer works.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub issued_at: i64,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("codes", &self.codes.len())
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl std::fmt::Debug for SessionGrant {
    // The token is a credential: never let it reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGrant")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .field("recovery", &self.recovery)
            .field("trusted_computer", &self.trusted_computer)
            .field("offline_app", &self.offline_app)
            .finish()
    }
}

/// The cloud's answer to a correct password. Tagged by `status` so the 2FA
/// issue can add `second_factor_required` and `phone_enrollment_required`
/// without breaking older clients' parsing of `signed_in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// One value per sign-in, parsed and moved once: boxing the large variant
// would only complicate every match for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum LoginResponse {
    SignedIn {
        session: SessionGrant,
        user: User,
        company: Company,
    },
    /// Password accepted; a code was sent by SMS to the user's verified phone.
    /// Finish with `POST /api/v1/login/verify`.
    SecondFactorRequired { challenge: Challenge },
    /// Password accepted; 2FA is required but the user has no verified phone.
    /// Enrol with `POST /api/v1/login/enroll-phone`, then verify the code.
    PhoneEnrollmentRequired { challenge: Challenge },
    /// The password matched the accounts of this email at several companies
    /// (an email is unique per company only). Nothing is signed in: repeat
    /// the login with one of these as `company_id`. Never answered to a wrong
    /// password, so it reveals the companies only to someone who knows it.
    CompanyChoiceRequired { companies: Vec<CompanyChoice> },
}

/// One login attempt waiting for its second factor. The id is a bearer
/// credential for this attempt only (it never grants API access by itself).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Challenge {
    pub challenge_id: String,
    /// Masked destination for "Enter the code sent to ••• ••• 1234"; `None`
    /// until a phone is known (enrolment before the number is entered).
    pub phone_hint: Option<String>,
    /// Whether a code has been sent for this attempt.
    pub code_sent: bool,
    /// When the current code stops working (epoch ms); `None` before a send.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub code_expires_at: Option<i64>,
    /// Earliest moment a resend is accepted (epoch ms); `None` before a send.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub resend_available_at: Option<i64>,
    /// Wrong codes still accepted for the current code.
    pub attempts_left: u32,
    /// When the whole login attempt expires and must restart (epoch ms).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: i64,
    /// The second factors this user can answer with, the text message first
    /// when there is a phone. Absent from older clouds: SMS only.
    #[serde(default = "sms_only")]
    pub methods: Vec<SecondFactorMethod>,
    /// The company's trusted-computer days, when this sign-in may offer
    /// "Don't ask for a code on this computer" (0: not offered).
    #[serde(default)]
    pub trusted_computer_days: u32,
}

fn sms_only() -> Vec<SecondFactorMethod> {
    vec![SecondFactorMethod::Sms]
}

/// A second factor a sign-in can be finished with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SecondFactorMethod {
    /// The code texted to the user's phone.
    #[default]
    Sms,
    /// The code of an authenticator app (TOTP).
    Totp,
    /// One of the user's single-use recovery codes.
    Recovery,
}

impl SecondFactorMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorMethod::Sms => "sms",
            SecondFactorMethod::Totp => "totp",
            SecondFactorMethod::Recovery => "recovery",
        }
    }
}

impl std::fmt::Debug for Challenge {
    // The challenge id lets its holder try codes: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("challenge_id", &"<redacted>")
            .field("phone_hint", &self.phone_hint)
            .field("code_sent", &self.code_sent)
            .field("code_expires_at", &self.code_expires_at)
            .field("resend_available_at", &self.resend_available_at)
            .field("attempts_left", &self.attempts_left)
            .field("expires_at", &self.expires_at)
            .field("methods", &self.methods)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyCodeRequest {
    pub challenge_id: String,
    /// Which factor `code` is from; absent (older clients) means SMS.
    #[serde(default)]
    pub method: SecondFactorMethod,
    pub code: String,
    /// "Don't ask for a code on this computer": issue a trusted-computer
    /// token with the session (where the company allows it).
    #[serde(default)]
    pub remember_computer: bool,
    /// How the computer is listed among the person's trusted computers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_label: Option<String>,
}

impl std::fmt::Debug for VerifyCodeRequest {
    // The code is a one-time credential and the challenge id names an open
    // sign-in attempt: neither may reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCodeRequest")
            .field("challenge_id", &"<redacted>")
            .field("method", &self.method)
            .field("code", &"<redacted>")
            .field("remember_computer", &self.remember_computer)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResendCodeRequest {
    pub challenge_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollPhoneRequest {
    pub challenge_id: String,
    /// As typed by the user; the cloud parses it (US default region) to E.164.
    pub mobile_phone: String,
}

/// `POST /api/v1/users/{id}/reset-two-factor`: why the admin resets the
/// user's second factor (kept in the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetTwoFactorRequest {
    pub reason: String,
}

/// Enrolment at sign-in with an authenticator app instead of a phone
/// (`POST /api/v1/login/enroll-totp`): the attempt's id; the answer is a
/// [`TotpEnrollment`], finished by `/login/verify` with `method: "totp"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollTotpRequest {
    pub challenge_id: String,
}

/// The start of an authenticator-app enrolment (`POST /api/v1/account/totp`):
/// the secret to put in the app, as a QR code of `otpauth_uri` or typed in
/// from `secret` (base32). Nothing changes at sign-in until it is confirmed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrollment {
    pub enrollment_id: String,
    /// Base32 (RFC 4648, no padding), as authenticator apps expect it typed.
    pub secret: String,
    pub otpauth_uri: String,
    /// When an unconfirmed enrolment stops being confirmable (epoch ms).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at: i64,
}

impl std::fmt::Debug for TotpEnrollment {
    // The secret mints codes: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("enrollment_id", &self.enrollment_id)
            .field("secret", &"<redacted>")
            .field("otpauth_uri", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The first code from the app, which makes the enrolment active.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfirmTotpRequest {
    pub enrollment_id: String,
    pub code: String,
}

impl std::fmt::Debug for ConfirmTotpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmTotpRequest")
            .field("enrollment_id", &self.enrollment_id)
            .field("code", &"<redacted>")
            .finish()
    }
}

/// Whether the caller has an active authenticator app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpStatus {
    pub enabled: bool,
    /// When the active one was confirmed (epoch ms).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub confirmed_at: Option<i64>,
    /// Ten fresh recovery codes when this confirmation was the user's first
    /// factor: shown once. Empty otherwise.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for TotpStatus {
    // Recovery codes sign in: never let them reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpStatus")
            .field("enabled", &self.enabled)
            .field("confirmed_at", &self.confirmed_at)
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}

/// An admin's edit of one user: only the fields present change.
/// `mobile_phone: Some(None)` (JSON `null`) removes the phone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub email: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[cfg_attr(feature = "ts", ts(optional, type = "string | null"))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub mobile_phone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub status: Option<UserStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub two_factor_enabled: Option<bool>,
}

/// An admin's edit of the company profile: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompanyUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub two_factor_required: Option<bool>,
    /// Offline sign-in: allowed or not, and the grace window (1 to 168 hours
    /// when allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub offline_policy: Option<OfflinePolicy>,
    /// Idle lock (5 to 60 minutes) and absolute session limit (1 to 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session_policy: Option<SessionPolicy>,
}

/// An admin adds a user to their company (`POST /api/v1/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUserRequest {
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// As typed; stored as E.164. Blank or absent: no phone.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub two_factor_enabled: Option<bool>,
}

/// A user with a fresh one-time setup code (creation and password reset).
/// The code is shown once to the admin; the cloud keeps only its hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupCodeGrant {
    pub user: User,
    pub setup_code: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub setup_code_expires_at: i64,
}

impl std::fmt::Debug for SetupCodeGrant {
    // The code sets the account's password: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupCodeGrant")
            .field("user", &self.user)
            .field("setup_code", &"<redacted>")
            .field("setup_code_expires_at", &self.setup_code_expires_at)
            .finish()
    }
}

/// An admin texts a user's setup code to the mobile phone on their profile
/// (`POST /api/v1/users/{id}/setup-code/text`). The cloud keeps only the
/// code's hash, so the admin's client sends back the code it was shown; the
/// number is always the one on file, never one from the request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextSetupCodeRequest {
    pub setup_code: String,
}

impl std::fmt::Debug for TextSetupCodeRequest {
    // The code sets the account's password: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextSetupCodeRequest")
            .field("setup_code", &"<redacted>")
            .finish()
    }
}

/// A setup code texted: where to (masked as in "Enter the code sent to
/// ••• ••• 1234") and how many more texts that code allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupCodeTexted {
    pub phone_hint: String,
    pub texts_left: u32,
}

/// First sign-in (`POST /api/v1/account/activate`): the setup code an admin
/// handed over and the password the person chooses. Answers like `/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivateRequest {
    pub email: String,
    pub setup_code: String,
    pub new_password: String,
}

impl std::fmt::Debug for ActivateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivateRequest")
            .field("email", &self.email)
            .field("setup_code", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// A signed-in user changes their password (`POST /api/v1/account/password`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
    /// This device's grant (`SessionGrant::device_token`), if it has one: the
    /// change ends every grant of the user, and this one is replaced by the
    /// grant in the answer (same offline standing, new password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("current_password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The answer to a password change: this device's replacement grant, when
/// the request named a live one of the user's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for ChangePasswordResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordResponse")
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `null` and "absent" mean different things in a partial update.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// A message the development SMS outbox recorded (dev mode only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxMessage {
    pub to: String,
    pub body: String,
    pub sent_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub user: User,
    pub company: Company,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsersResponse {
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
    pub database: String,
}

/// Stable error codes shared by cloud and desktop.
pub mod codes {
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const SESSION_EXPIRED: &str = "session_expired";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const VALIDATION: &str = "validation";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const SERVER_BUSY: &str = "server_busy";
    pub const INTERNAL: &str = "internal";
    // Second factor: texted codes and phone enrolment.
    pub const INVALID_CODE: &str = "invalid_code";
    pub const CODE_EXPIRED: &str = "code_expired";
    /// Too many wrong codes or the attempt timed out: sign in again.
    pub const CHALLENGE_CLOSED: &str = "challenge_closed";
    pub const RESEND_TOO_SOON: &str = "resend_too_soon";
    pub const SMS_LIMIT: &str = "sms_limit";
    /// The number is in a country the company does not text (the operator's
    /// list, United States and Canada by default): nothing was sent.
    pub const SMS_COUNTRY_NOT_ALLOWED: &str = "sms_country_not_allowed";
    /// The company sent as many texts today as the operator allows; with
    /// `retry_at`, when the count starts again (midnight UTC).
    pub const SMS_DAILY_CAP: &str = "sms_daily_cap";
    pub const SMS_FAILED: &str = "sms_failed";
    pub const INVALID_PHONE: &str = "invalid_phone";
    /// Turning 2FA on for a user with no mobile phone.
    pub const PHONE_REQUIRED: &str = "phone_required";
    /// Removing the mobile phone of a user whom 2FA applies to (their own
    /// toggle or the company's): without it their password alone would do.
    pub const PHONE_NEEDED_FOR_TWO_FACTOR: &str = "phone_needed_for_two_factor";
    /// The company's DMS integration does not support 2FA.
    pub const TWO_FACTOR_UNAVAILABLE: &str = "two_factor_unavailable";
    pub const ACCOUNT_LOCKED: &str = "account_locked";
    pub const CONFLICT: &str = "conflict";
    /// `/login/resume` refused: no valid device grant, or outside the
    /// company's offline policy. The person signs in again online.
    pub const RESUME_REFUSED: &str = "resume_refused";
    /// A new password the password rules refuse (`passwords::check_password`);
    /// the message says which rule.
    pub const PASSWORD_REFUSED: &str = "password_refused";
    /// Texting a setup code to a user with no mobile phone on file.
    pub const NO_MOBILE_PHONE: &str = "no_mobile_phone";
    /// The setup code to text is not the user's current one: wrong, already
    /// used, expired, or replaced by a later reset.
    pub const SETUP_CODE_NOT_CURRENT: &str = "setup_code_not_current";
    /// This setup code was texted as often as one code may be.
    pub const SETUP_CODE_TEXT_LIMIT: &str = "setup_code_text_limit";
    /// An admin resetting their own password: they change it in their
    /// profile, which asks for the current one.
    pub const OWN_PASSWORD_RESET: &str = "own_password_reset";
    /// The user's authenticator-app secret does not open with the cloud's
    /// configured key (the key was changed): the app cannot be checked until
    /// it is set up again; a texted code or an admin reset still works.
    pub const TOTP_UNREADABLE: &str = "totp_unreadable";
    /// An admin resetting their own second factor: another admin must.
    pub const OWN_TWO_FACTOR_RESET: &str = "own_two_factor_reset";
    /// A security change (a factor added or removed, new recovery codes,
    /// one's own phone, an admin's reset) without a re-authentication in the
    /// last five minutes: `POST /api/v1/account/reauth` first.
    pub const REAUTH_REQUIRED: &str = "reauth_required";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_requests_never_print_their_secrets() {
        let login = format!(
            "{:?}",
            LoginRequest {
                email: "dana@desertsun.example".into(),
                password: "correct horse battery staple".into(),
                company_id: Some("company-7".into()),
                trusted_token: Some("trusted-secret".into()),
            }
        );
        assert!(
            !login.contains("trusted-secret"),
            "Debug leaked the trusted-computer token: {login}"
        );
        assert!(
            login.contains("dana@desertsun.example"),
            "the email helps a log reader: {login}"
        );
        assert!(
            !login.contains("correct horse"),
            "Debug leaked the password: {login}"
        );
        let verify = format!(
            "{:?}",
            VerifyCodeRequest {
                challenge_id: "chal-7f3a9".into(),
                method: SecondFactorMethod::Totp,
                code: "493817".into(),
                remember_computer: true,
                computer_label: Some("DESKTOP-1 (Windows)".into()),
            }
        );
        assert!(
            !verify.contains("493817") && !verify.contains("chal-7f3a9"),
            "Debug leaked the code or the challenge id: {verify}"
        );
    }

    #[test]
    fn login_response_is_tagged_by_status_so_new_states_can_be_added() {
        let json = serde_json::json!({
            "status": "signed_in",
            "session": {"token": "t", "expires_at": 5},
            "user": {
                "id": "u", "company_id": "c", "email": "a@b.c", "display_name": "A",
                "role": "admin", "status": "active", "mobile_phone": null,
                "phone_verified_at": null, "two_factor_enabled": false,
                "version": 1, "updated_at": 2
            },
            "company": {
                "id": "c", "name": "C", "two_factor_required": false,
                "dms": {"kind": "cdk", "supports_two_factor": true},
                "offline_policy": {"allowed": true, "max_hours": 72},
                "version": 1
            }
        });
        let parsed: LoginResponse = serde_json::from_value(json).unwrap();
        let LoginResponse::SignedIn { user, .. } = parsed else {
            panic!("a signed_in body must parse as SignedIn");
        };
        assert_eq!(user.role, Role::Admin);
    }

    #[test]
    fn account_requests_never_print_their_secrets() {
        let shown = format!(
            "{:?} {:?} {:?}",
            ActivateRequest {
                email: "nora@x.example".into(),
                setup_code: "ABCD-EFGH-JKMN".into(),
                new_password: "violet tractor umbrella".into(),
            },
            ChangePasswordRequest {
                current_password: "old secret words".into(),
                new_password: "new secret words".into(),
                device_token: Some("device-secret".into()),
            },
            ChangePasswordResponse {
                device_token: Some("device-secret-2".into()),
            },
        );
        for secret in [
            "ABCD",
            "violet",
            "old secret",
            "new secret",
            "device-secret",
        ] {
            assert!(!shown.contains(secret), "Debug leaked {secret}: {shown}");
        }
        assert!(shown.contains("nora@x.example"));
    }

    #[test]
    fn session_grant_debug_never_shows_the_token() {
        let grant = SessionGrant {
            token: "super-secret-token".into(),
            expires_at: 1,
            device_token: Some("device-secret".into()),
            recovery: Some(RecoveryNotice {
                issued: vec!["RCVRY-23456".into()],
                left: None,
            }),
            trusted_computer: Some(TrustedComputerGrant {
                id: "tc-1".into(),
                token: "trusted-secret".into(),
            }),
            offline_app: Some(OfflineApp {
                secret: "JBSWY3DPEHPK3PXP".into(),
                last_step: Some(1),
            }),
        };
        let shown = format!("{grant:?}");
        assert!(!shown.contains("trusted-secret"), "{shown}");
        assert!(
            !shown.contains("JBSWY3DP"),
            "an app secret in Debug: {shown}"
        );
        assert!(
            !shown.contains("super-secret-token") && !shown.contains("device-secret"),
            "a token in Debug output ends up in logs: {shown}"
        );
        assert!(
            !shown.contains("RCVRY"),
            "a recovery code in Debug: {shown}"
        );
    }

    #[test]
    fn recovery_codes_never_print() {
        let shown = format!(
            "{:?} {:?} {:?}",
            RecoveryCodes {
                codes: vec!["RCVRY-23456".into()],
                issued_at: 1,
            },
            TotpStatus {
                enabled: true,
                confirmed_at: Some(1),
                recovery_codes: vec!["RCVRY-789AB".into()],
            },
            ReauthRequest {
                password: "secret words".into(),
            },
        );
        assert!(
            !shown.contains("RCVRY") && !shown.contains("secret words"),
            "Debug output ends up in logs: {shown}"
        );
    }

    #[test]
    fn user_update_tells_a_removed_phone_from_an_untouched_one() {
        let remove: UserUpdate = serde_json::from_str(r#"{"mobile_phone": null}"#).unwrap();
        assert_eq!(
            remove.mobile_phone,
            Some(None),
            "null means: remove the phone"
        );
        let untouched: UserUpdate = serde_json::from_str("{}").unwrap();
        assert_eq!(
            untouched.mobile_phone, None,
            "absent means: leave the phone alone"
        );
        assert_eq!(
            serde_json::to_value(&remove).unwrap(),
            serde_json::json!({"mobile_phone": null}),
            "a removal must survive the round trip to the cloud"
        );
        assert_eq!(
            serde_json::to_value(&untouched).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn api_error_extras_appear_only_when_set() {
        let plain = serde_json::to_value(ApiError::new("x", "y")).unwrap();
        assert_eq!(plain, serde_json::json!({"code": "x", "message": "y"}));
        let wrong_code =
            serde_json::to_value(ApiError::new("invalid_code", "m").with_attempts_left(3)).unwrap();
        assert_eq!(wrong_code["attempts_left"], 3);
    }

    #[test]
    fn challenge_debug_never_shows_its_id() {
        let challenge = Challenge {
            challenge_id: "attempt-secret".into(),
            phone_hint: Some("••• ••• 1234".into()),
            code_sent: true,
            code_expires_at: Some(1),
            resend_available_at: Some(1),
            attempts_left: 5,
            expires_at: 2,
            methods: vec![SecondFactorMethod::Sms, SecondFactorMethod::Totp],
            trusted_computer_days: 0,
        };
        assert!(!format!("{challenge:?}").contains("attempt-secret"));
    }

    #[test]
    fn older_peers_mean_sms_on_both_sides_of_verify() {
        let request: VerifyCodeRequest =
            serde_json::from_value(serde_json::json!({"challenge_id": "c", "code": "123456"}))
                .unwrap();
        assert_eq!(request.method, SecondFactorMethod::Sms);
        let totp: VerifyCodeRequest = serde_json::from_value(
            serde_json::json!({"challenge_id": "c", "method": "totp", "code": "123456"}),
        )
        .unwrap();
        assert_eq!(totp.method, SecondFactorMethod::Totp);
        let challenge: Challenge = serde_json::from_value(serde_json::json!({
            "challenge_id": "c", "phone_hint": null, "code_sent": true,
            "code_expires_at": null, "resend_available_at": null,
            "attempts_left": 5, "expires_at": 1
        }))
        .unwrap();
        assert_eq!(challenge.methods, vec![SecondFactorMethod::Sms]);
    }

    #[test]
    fn totp_enrolment_debug_never_shows_the_secret() {
        let enrollment = TotpEnrollment {
            enrollment_id: "e".into(),
            secret: "JBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
            expires_at: 1,
        };
        assert!(!format!("{enrollment:?}").contains("JBSWY3DP"));
        let confirm = ConfirmTotpRequest {
            enrollment_id: "e".into(),
            code: "493817".into(),
        };
        assert!(!format!("{confirm:?}").contains("493817"));
    }

    #[test]
    fn role_and_status_round_trip_through_their_database_strings() {
        for role in [Role::Admin, Role::User] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for status in [UserStatus::Active, UserStatus::Disabled] {
            assert_eq!(UserStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
