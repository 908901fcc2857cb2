//! The OpenAPI document: what [`super::api`] registers, under this info,
//! these tags and the bearer scheme.

use std::sync::LazyLock;

use axum::Json;
use secureclose_protocol as protocol;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SecureClose Cloud API",
        description = "Accounts, companies and sessions for SecureClose Desktop. Errors are always `{code, message}`."
    ),
    components(schemas(
        crate::service::releases::UpdateManifest,
        protocol::ApiError,
        protocol::Health,
        protocol::LoginRequest,
        protocol::LoginResponse,
        protocol::CompanyChoice,
        protocol::SessionGrant,
        protocol::MeResponse,
        protocol::UsersResponse,
        protocol::User,
        protocol::Company,
        protocol::DmsIntegration,
        protocol::OfflinePolicy,
        protocol::Role,
        protocol::UserStatus,
        protocol::Challenge,
        protocol::VerifyCodeRequest,
        protocol::SecondFactorMethod,
        protocol::TotpEnrollment,
        protocol::ConfirmTotpRequest,
        protocol::TotpStatus,
        protocol::ResendCodeRequest,
        protocol::EnrollPhoneRequest,
        protocol::EnrollTotpRequest,
        protocol::UserUpdate,
        protocol::CompanyUpdate,
        protocol::SessionPolicy,
        protocol::NewUserRequest,
        protocol::SetupCodeGrant,
        protocol::TextSetupCodeRequest,
        protocol::ResetTwoFactorRequest,
        protocol::RecoveryNotice,
        protocol::RecoveryStatus,
        protocol::RecoveryCodes,
        protocol::ReauthRequest,
        protocol::ReauthStep,
        protocol::ReauthDone,
        protocol::TrustedComputer,
        protocol::TrustedComputerGrant,
        protocol::SetupCodeTexted,
        protocol::ActivateRequest,
        protocol::ChangePasswordRequest,
        protocol::ChangePasswordResponse,
        protocol::OutboxMessage,
        protocol::sync::ChangesPage,
        protocol::sync::PushRequest,
        protocol::sync::PushResponse,
        protocol::sync::Mutation,
        protocol::sync::MutationChange,
        protocol::sync::MutationOutcome,
        protocol::sync::MutationResult,
        protocol::sync::ResumeRequest,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "session", description = "Sign in and out"),
        (name = "account", description = "The caller, their company and its users"),
        (name = "admin", description = "Admin edits of users and the company (own company only)"),
        (name = "sync", description = "Offline-first sync: pull changes, push offline edits"),
        (name = "dev", description = "Development-only endpoints (exist only with --dev)"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Built once from the router's own registrations.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> =
    LazyLock::new(|| super::api(true, 0).split_for_parts().1);

/// The document as pretty JSON (what `secureclose-cloud openapi` prints).
pub fn openapi_document() -> Result<String, crate::CloudError> {
    DOCUMENT
        .to_pretty_json()
        .map_err(|e| crate::CloudError::Internal(format!("openapi serialisation: {e}")))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "OpenAPI document of this API", content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(DOCUMENT.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_every_contract_path_and_bearer_security() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_document().unwrap()).unwrap();
        for path in [
            "/api/v1/health",
            "/api/v1/login",
            "/api/v1/logout",
            "/api/v1/me",
            "/api/v1/company",
            "/api/v1/users",
            "/api/v1/openapi.json",
            "/api/v1/login/verify",
            "/api/v1/login/resend",
            "/api/v1/login/enroll-phone",
            "/api/v1/login/enroll-totp",
            "/api/v1/users/{id}",
            "/api/v1/dev/outbox",
            "/api/v1/sync/changes",
            "/api/v1/sync/push",
            "/api/v1/login/resume",
            "/api/v1/users/{id}/reset-password",
            "/api/v1/users/{id}/revoke-sessions",
            "/api/v1/users/{id}/setup-code/text",
            "/api/v1/users/{id}/reset-two-factor",
            "/api/v1/account/recovery-codes",
            "/api/v1/account/reauth",
            "/api/v1/account/reauth/verify",
            "/api/v1/account/trusted-computers",
            "/api/v1/account/trusted-computers/{id}",
            "/api/v1/users/{id}/trusted-computers",
            "/api/v1/users/{id}/trusted-computers/{computer_id}",
            "/api/v1/account/activate",
            "/api/v1/account/password",
        ] {
            assert!(
                doc["paths"][path].is_object(),
                "{path} missing from the document"
            );
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["LoginResponse"].is_object());
        assert!(doc["paths"]["/api/v1/users/{id}"]["patch"].is_object());
        assert!(doc["paths"]["/api/v1/company"]["patch"].is_object());
        assert!(doc["paths"]["/api/v1/users/{id}"]["delete"].is_object());
        assert!(doc["paths"]["/api/v1/users"]["post"].is_object());
        for schema in [
            "Challenge",
            "VerifyCodeRequest",
            "UserUpdate",
            "CompanyUpdate",
            "ChangesPage",
            "PushRequest",
            "PushResponse",
            "ResumeRequest",
            "NewUserRequest",
            "SetupCodeGrant",
            "TextSetupCodeRequest",
            "ResetTwoFactorRequest",
            "RecoveryStatus",
            "RecoveryCodes",
            "SetupCodeTexted",
            "ActivateRequest",
            "ChangePasswordRequest",
            "SessionPolicy",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
    }
}
