//! Offline-first sync: pull deltas by a per-company change cursor,
//! push an outbox of idempotent mutations, and resume an offline session.
//! The rules these types carry are in the README ("Working offline") and in
//! the cloud's `sync` module.

use serde::{Deserialize, Serialize};

use crate::{ApiError, Company, CompanyUpdate, User, UserUpdate};

/// Rows per pull page when the client does not ask (and the most it may ask).
pub const DEFAULT_PAGE_ROWS: u32 = 1000;
pub const MAX_PAGE_ROWS: u32 = 5000;
/// Mutations per push request; the client sends its outbox in chunks.
pub const MAX_PUSH_MUTATIONS: usize = 500;

/// `GET /api/v1/sync/changes?since=<cursor>&limit=<rows>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ChangesQuery {
    /// The `cursor` of the previous page; 0 for everything.
    #[serde(default)]
    pub since: i64,
    /// 1..=MAX_PAGE_ROWS, DEFAULT_PAGE_ROWS when absent.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One page of changes of the caller's company, in change order.
/// An idle check (nothing changed) is this with empty lists and the same cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangesPage {
    /// Present when the company row changed after `since`.
    pub company: Option<Company>,
    /// Users created or changed after `since` (disabled users included: they
    /// are rows with `status: disabled`, so an admin can re-enable them).
    pub users: Vec<User>,
    /// Tombstones: ids of users deleted after `since`.
    pub removed_user_ids: Vec<String>,
    /// Pass as `since` for the next page; store it only after the page is applied.
    pub cursor: i64,
    pub has_more: bool,
}

/// One offline edit. `base` holds, for exactly the fields in `changes`, the
/// values the client saw before the edit (same shape as `changes`): the cloud
/// compares them field by field with its current values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MutationChange {
    UpdateUser {
        user_id: String,
        changes: UserUpdate,
        base: UserUpdate,
    },
    UpdateCompany {
        changes: CompanyUpdate,
        base: CompanyUpdate,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mutation {
    /// Client-generated (UUID v4). The cloud applies a key at most once and
    /// answers a replay with the first result.
    pub idempotency_key: String,
    /// The entity's `version` the edit was made on.
    pub base_version: i64,
    #[serde(flatten)]
    pub change: MutationChange,
}

/// `POST /api/v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub mutations: Vec<Mutation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MutationOutcome {
    /// Applied (or already applied: a replay). `version` is the entity's new version.
    Applied { version: i64 },
    /// Refused for good: authorization, validation or DMS gating.
    Rejected { error: ApiError },
    /// Someone changed these fields since the client's `base`; nothing of
    /// the mutation was applied. `message` is a sentence for the person.
    Conflict {
        fields: Vec<String>,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationResult {
    pub idempotency_key: String,
    #[serde(flatten)]
    pub outcome: MutationOutcome,
    /// The entity as the cloud holds it now (after applying, or unchanged on
    /// rejection/conflict), when the caller may see it: the client stores it.
    pub user: Option<User>,
    pub company: Option<Company>,
}

/// One result per mutation, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
}

/// `POST /api/v1/login/resume`: a session signed in offline on a trusted
/// device gets a cloud session back without a new SMS code, within the
/// company's offline policy (see `SessionGrant::device_token`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResumeRequest {
    pub email: String,
    pub password: String,
    pub device_token: String,
    /// The company of the session being resumed: an email is unique per
    /// company only, so this names the account. Absent from older clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
}

impl std::fmt::Debug for ResumeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("device_token", &"<redacted>")
            .field("company_id", &self.company_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutation_is_one_flat_object_tagged_by_kind() {
        let mutation = Mutation {
            idempotency_key: "k1".into(),
            base_version: 3,
            change: MutationChange::UpdateUser {
                user_id: "u1".into(),
                changes: UserUpdate {
                    mobile_phone: Some(None),
                    ..UserUpdate::default()
                },
                base: UserUpdate {
                    mobile_phone: Some(Some("+14805550142".into())),
                    ..UserUpdate::default()
                },
            },
        };
        let json = serde_json::to_value(&mutation).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "idempotency_key": "k1", "base_version": 3, "kind": "update_user",
                "user_id": "u1",
                "changes": {"mobile_phone": null},
                "base": {"mobile_phone": "+14805550142"}
            }),
            "a removed phone must stay distinguishable from an untouched one on the wire"
        );
        let back: Mutation = serde_json::from_value(json).unwrap();
        assert_eq!(back, mutation);
    }

    #[test]
    fn results_are_tagged_by_outcome() {
        let result = MutationResult {
            idempotency_key: "k".into(),
            outcome: MutationOutcome::Conflict {
                fields: vec!["two_factor_enabled".into()],
                message: "changed meanwhile".into(),
            },
            user: None,
            company: None,
        };
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["outcome"], "conflict");
        assert_eq!(json["fields"][0], "two_factor_enabled");
    }

    #[test]
    fn resume_request_debug_hides_its_secrets() {
        let shown = format!(
            "{:?}",
            ResumeRequest {
                email: "a@b.c".into(),
                password: "hunter22".into(),
                device_token: "dt-secret".into(),
                company_id: None,
            }
        );
        assert!(
            !shown.contains("hunter22") && !shown.contains("dt-secret"),
            "{shown}"
        );
    }
}
