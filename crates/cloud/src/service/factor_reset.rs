//! Break-glass for a lost phone or authenticator app: an admin resets a
//! user's second factor, with a reason. The user's app is removed and their
//! phone taken off the profile (a lost phone must not keep receiving codes),
//! every session, device grant and sign-in attempt of theirs ends, and the
//! company's policy then makes them enrol a factor at their next sign-in
//! (by password, as the help-center article's first enrolment is). Audited
//! with the reason; the old phone is told. Never one's own factors: another
//! admin must do it, so one stolen admin password cannot strip an admin's
//! second factor.

use secureclose_protocol::{ResetTwoFactorRequest, User};

use super::accounts::own_user;
use super::notice::{self, Notice};
use super::sessions::AdminUser;
use crate::db::audit::{self, kinds, Event};
use crate::db::companies::next_change_seq;
use crate::db::security::{self, Scope};
use crate::db::users::UserFields;
use crate::db::{self, totp as totp_store};
use crate::error::CloudError;
use crate::phone;
use crate::state::AppState;

/// Shortest and longest reason an admin may give.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 5..=500;

fn checked_reason(reason: &str) -> Result<String, CloudError> {
    let reason = reason.trim();
    let chars = reason.chars().count();
    if !REASON_CHARS.contains(&chars) {
        return Err(CloudError::Validation(format!(
            "give a reason of {} to {} characters (for example \"lost phone, confirmed by phone call\")",
            REASON_CHARS.start(),
            REASON_CHARS.end()
        )));
    }
    Ok(reason.to_string())
}

/// Resets `id`'s second factor; returns the user as now stored.
pub async fn reset_two_factor(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    request: &ResetTwoFactorRequest,
) -> Result<User, CloudError> {
    let actor = &admin.authed().user;
    if id == actor.id {
        return Err(CloudError::OwnTwoFactorReset);
    }
    let reason = checked_reason(&request.reason)?;
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let seq = next_change_seq(&mut tx, &actor.company_id).await?;
    let target = own_user(&mut tx, admin, id).await?;
    // Checked after the company: another company's id stays a plain 403.
    admin.authed().require_fresh_reauth(now)?;
    let had_app = totp_store::remove(&mut tx, &target.id).await?;
    db::recovery::remove_all(&mut tx, &target.id).await?;
    let fields = UserFields {
        mobile_phone: None,
        phone_verified_at: None,
        ..UserFields::of(&target)
    };
    if !db::users::write_fields(&mut tx, &target.id, &target.company_id, &fields, now, seq).await? {
        return Err(CloudError::Forbidden);
    }
    security::end_sessions(&mut tx, Scope::User(&target.id), now, None).await?;
    let removed = match (&target.mobile_phone, had_app) {
        (Some(phone), true) => format!("authenticator app and phone {}", phone::hint(phone)),
        (Some(phone), false) => format!("phone {}", phone::hint(phone)),
        (None, true) => "authenticator app".to_string(),
        (None, false) => "no factor was set up".to_string(),
    };
    let detail = format!("removed {removed} and the recovery codes; reason: {reason}");
    let event = Event::about(kinds::TWO_FACTOR_RESET, actor, &target, detail);
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, "second factor reset by an admin");

    if let Some(notice) = Notice::to_phone_of(&target, notice::FACTOR_RESET) {
        notice::send(state, actor, notice).await;
    }
    db::users::user_by_id(&state.db, &target.id)
        .await?
        .ok_or(CloudError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_and_must_say_something() {
        assert_eq!(checked_reason("  lost phone  ").unwrap(), "lost phone");
        assert!(checked_reason("   ").is_err());
        assert!(checked_reason("lost").is_err(), "too short to say why");
        assert!(checked_reason(&"x".repeat(501)).is_err());
        assert!(
            checked_reason(&"é".repeat(500)).is_ok(),
            "characters, not bytes"
        );
    }
}
