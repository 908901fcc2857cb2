//! Security audit events stored in the cloud database (who did what to whom).
//! Details never hold a secret: no code, password, token or attempt id.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use secureclose_protocol::User;

use super::Db;
use crate::error::CloudError;

/// Event kinds (stable strings in `audit_events.kind`).
pub mod kinds {
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const CODE_SENT: &str = "code_sent";
    pub const CODE_SEND_FAILED: &str = "code_send_failed";
    /// A guardrail refused a text before the carrier saw it (country not
    /// allowed, the user's or number's budget, the company's daily cap).
    pub const SMS_REFUSED: &str = "sms_refused";
    pub const CODE_FAILED: &str = "code_failed";
    pub const ACCOUNT_LOCKED: &str = "account_locked";
    pub const ACCOUNT_UNLOCKED: &str = "account_unlocked";
    pub const TWO_FACTOR_ENABLED: &str = "two_factor_enabled";
    pub const TWO_FACTOR_DISABLED: &str = "two_factor_disabled";
    pub const COMPANY_TWO_FACTOR_ENABLED: &str = "company_two_factor_enabled";
    pub const COMPANY_TWO_FACTOR_DISABLED: &str = "company_two_factor_disabled";
    /// A user with 2FA due and no phone on file was offered enrolment after
    /// their password alone (the article's procedure): admins should see it.
    pub const PHONE_ENROLLMENT_STARTED: &str = "phone_enrollment_started";
    /// That enrolment finished: the number is now the user's verified phone.
    pub const PHONE_ENROLLED: &str = "phone_enrolled";
    /// An admin-entered number received a code that came back at sign-in.
    pub const PHONE_VERIFIED: &str = "phone_verified";
    pub const PHONE_CHANGED: &str = "phone_changed";
    pub const PHONE_REMOVED: &str = "phone_removed";
    pub const USER_UPDATED: &str = "user_updated";
    pub const COMPANY_UPDATED: &str = "company_updated";
    pub const USER_DELETED: &str = "user_deleted";
    /// The operator onboarded a company (`secureclose-cloud company create`).
    pub const COMPANY_CREATED: &str = "company_created";
    /// An admin added a user (or the operator a company's first admin).
    pub const USER_CREATED: &str = "user_created";
    /// An admin reset a user's password: a new setup code, the old password void.
    pub const PASSWORD_RESET: &str = "password_reset";
    /// An admin texted a user's setup code to the phone on file (never the code).
    pub const SETUP_CODE_TEXTED: &str = "setup_code_texted";
    /// That text could not be sent (the carrier's reason, never the code).
    pub const SETUP_CODE_TEXT_FAILED: &str = "setup_code_text_failed";
    /// A setup code was redeemed: the user chose their password.
    pub const ACCOUNT_ACTIVATED: &str = "account_activated";
    /// A signed-in user changed their own password.
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// An admin ended every session and device grant of a user.
    pub const SESSIONS_REVOKED: &str = "sessions_revoked";
    /// A user was given a set of recovery codes (their first, or a new one).
    pub const RECOVERY_CODES_ISSUED: &str = "recovery_codes_issued";
    /// A recovery code signed a user in (the detail says how many remain).
    pub const RECOVERY_CODE_USED: &str = "recovery_code_used";
    /// A person chose to skip the code on a computer (the detail: its label).
    pub const TRUSTED_COMPUTER_ADDED: &str = "trusted_computer_added";
    /// A trusted computer was revoked by its owner or an admin.
    pub const TRUSTED_COMPUTER_REVOKED: &str = "trusted_computer_revoked";
    /// A signed-in user proved themselves again before a security change.
    pub const REAUTHENTICATED: &str = "reauthenticated";
    /// An admin reset a user's second factor (the detail has the reason).
    pub const TWO_FACTOR_RESET: &str = "two_factor_reset";
    /// A text that carries no code (a security notice) was sent, or failed.
    pub const NOTICE_SENT: &str = "notice_sent";
    pub const NOTICE_FAILED: &str = "notice_failed";
    /// `/login/resume` turned an offline sign-in back into a cloud session.
    pub const SESSION_RESUMED: &str = "session_resumed";
    /// A user began adding an authenticator app (not active until confirmed).
    pub const TOTP_ENROLLMENT_STARTED: &str = "totp_enrollment_started";
    /// Its first code was right: the authenticator app is now a sign-in factor.
    pub const TOTP_ENABLED: &str = "totp_enabled";
    /// The user removed their authenticator app.
    pub const TOTP_REMOVED: &str = "totp_removed";
}

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub kind: &'a str,
    pub actor_user_id: Option<&'a str>,
    pub subject_user_id: Option<&'a str>,
    pub company_id: Option<&'a str>,
    pub detail: String,
}

impl<'a> Event<'a> {
    /// `actor` did `kind` to `subject` (recorded under the subject's company).
    pub fn about(
        kind: &'a str,
        actor: &'a User,
        subject: &'a User,
        detail: impl Into<String>,
    ) -> Self {
        Event {
            kind,
            actor_user_id: Some(&actor.id),
            subject_user_id: Some(&subject.id),
            company_id: Some(&subject.company_id),
            detail: detail.into(),
        }
    }
}

pub async fn record(db: &Db, at: i64, event: Event<'_>) -> Result<(), CloudError> {
    let mut conn = db.pool.acquire().await?;
    record_in(&mut conn, at, event).await
}

/// [`record`] inside a transaction: the event commits (or not) with the change.
pub async fn record_in(
    conn: &mut sqlx::AnyConnection,
    at: i64,
    event: Event<'_>,
) -> Result<(), CloudError> {
    sqlx::query(
        "INSERT INTO audit_events (at, kind, actor_user_id, subject_user_id, company_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(event.kind)
    .bind(event.actor_user_id)
    .bind(event.subject_user_id)
    .bind(event.company_id)
    .bind(event.detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored event (tests and future admin views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub at: i64,
    pub kind: String,
    pub actor_user_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub company_id: Option<String>,
    pub detail: String,
}

fn from_row(row: &AnyRow) -> Result<StoredEvent, CloudError> {
    Ok(StoredEvent {
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        actor_user_id: row.try_get("actor_user_id")?,
        subject_user_id: row.try_get("subject_user_id")?,
        company_id: row.try_get("company_id")?,
        detail: row.try_get("detail")?,
    })
}

/// Every event, oldest first.
pub async fn all(pool: &sqlx::AnyPool) -> Result<Vec<StoredEvent>, CloudError> {
    let rows = sqlx::query(
        "SELECT at, kind, actor_user_id, subject_user_id, company_id, detail \
         FROM audit_events ORDER BY seq",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}
