//! Wire types shared by the SecureClose desktop (`secureclose-core`) and the
//! SecureClose cloud (`secureclose-cloud`). Serde only: no I/O lives here.
//!
//! Timestamps are Unix epoch milliseconds (`i64`) so both database dialects
//! and the UI agree on one representation. Identifiers are UUID strings.

use serde::{Deserialize, Serialize};

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
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
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
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// An opaque bearer token for the cloud API, with its expiry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionGrant {
    pub token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionGrant {
    // The token is a credential: never let it reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGrant")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The cloud's answer to a correct password. Tagged by `status` so the 2FA
/// issue can add `second_factor_required` and `phone_enrollment_required`
/// without breaking older clients' parsing of `signed_in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LoginResponse {
    SignedIn {
        session: SessionGrant,
        user: User,
        company: Company,
    },
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let LoginResponse::SignedIn { user, .. } = parsed;
        assert_eq!(user.role, Role::Admin);
    }

    #[test]
    fn session_grant_debug_never_shows_the_token() {
        let grant = SessionGrant {
            token: "super-secret-token".into(),
            expires_at: 1,
        };
        let shown = format!("{grant:?}");
        assert!(
            !shown.contains("super-secret-token"),
            "a token in Debug output ends up in logs: {shown}"
        );
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
