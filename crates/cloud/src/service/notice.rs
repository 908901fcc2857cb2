//! "Your sign-in settings changed" texts (ASVS V6/V7): when a user's phone or
//! second factor changes, the phone they had is told, so a takeover (a
//! swapped number, an app added by whoever holds the password, a reset
//! talked out of an admin) does not go unnoticed. The text carries no code
//! and no link: nothing to phish with. Sent after the change committed; a
//! refused or failed text never undoes the change (the phone may be lost),
//! it is audited and logged.

use secureclose_protocol::{User, UserStatus};

use super::sms_guard;
use crate::db::audit::{self, kinds, Event};
use crate::phone;
use crate::state::AppState;

/// A change one phone is to be told about, decided inside the change's
/// transaction and sent by [`send`] after it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The user whose settings changed.
    pub subject: User,
    /// The number that was theirs before the change.
    pub to: String,
    /// What changed, as the person reads it.
    pub change: &'static str,
}

pub const PHONE_CHANGED: &str = "the mobile phone for your sign-in codes was changed";
pub const PHONE_REMOVED: &str = "the mobile phone for your sign-in codes was removed";
pub const TWO_FACTOR_OFF: &str = "two-step verification was turned off for your account";
pub const APP_ADDED: &str = "an authenticator app was set up for your account";
pub const APP_REMOVED: &str = "the authenticator app was removed from your account";
pub const FACTOR_RESET: &str = "your administrator reset your two-step verification; you will \
     set it up again at your next sign-in";

/// The text: what changed and what to do if it was not them.
pub fn body(change: &str) -> String {
    format!(
        "SecureClose: your sign-in settings changed: {change}. If this wasn't you, contact \
         your administrator right away."
    )
}

impl Notice {
    /// A notice to `subject`'s phone, if they have one.
    pub fn to_phone_of(subject: &User, change: &'static str) -> Option<Notice> {
        subject.mobile_phone.clone().map(|to| Notice {
            subject: subject.clone(),
            to,
            change,
        })
    }
}

/// Sends `notice` through the SMS guardrails, on behalf of `actor`. Never
/// fails: the change it reports has already happened.
pub async fn send(state: &AppState, actor: &User, notice: Notice) {
    let Notice {
        subject,
        to,
        change,
    } = notice;
    if subject.status != UserStatus::Active {
        // A disabled account signs in nowhere: there is nothing to warn about.
        return;
    }
    let hint = phone::hint(&to);
    let sent = match sms_guard::reserve(state, actor, &subject, &to, "settings notice").await {
        // A refusal is audited by the guard itself.
        Err(error) => {
            tracing::warn!(user_id = %subject.id, code = error.code(), "settings notice refused");
            return;
        }
        Ok(permit) => permit.send(state, &body(change)).await,
    };
    let (kind, detail) = match sent {
        Ok(()) => (kinds::NOTICE_SENT, format!("{change} (to {hint})")),
        Err(error) => {
            tracing::warn!(user_id = %subject.id, %error, "settings notice failed");
            (
                kinds::NOTICE_FAILED,
                format!("{change} (to {hint}): {error}"),
            )
        }
    };
    let event = Event::about(kind, actor, &subject, detail);
    if let Err(error) = audit::record(&state.db, state.now(), event).await {
        tracing::warn!(user_id = %subject.id, %error, "settings notice not audited");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_carries_no_digits_to_mistake_for_a_code() {
        for change in [
            PHONE_CHANGED,
            PHONE_REMOVED,
            TWO_FACTOR_OFF,
            APP_ADDED,
            APP_REMOVED,
            FACTOR_RESET,
        ] {
            let text = body(change);
            assert!(
                !text.chars().any(|c| c.is_ascii_digit()),
                "a notice must not look like a sign-in code: {text}"
            );
            assert!(text.contains(change));
        }
    }
}
