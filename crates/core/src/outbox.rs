//! A local edit, without I/O: which fields it really changes (and their base
//! values, for the cloud's three-way merge), after the edit rules both sides
//! share (`protocol::rules`, which also replays a pending edit onto a cached
//! row). The cache calls these inside its transactions.

use secureclose_protocol::rules::{self, apply_user_changes};
use secureclose_protocol::{Company, CompanyUpdate, User, UserUpdate};

use crate::error::CoreError;

/// The changed fields of an edit and, for exactly those fields, the values
/// the person saw before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<T> {
    pub changes: T,
    pub base: T,
}

/// Compares an admin's update with the cached user, after the shared edit
/// rules (`protocol::rules`) checked and normalised it as the cloud will
/// store it. Fields equal to the cached value are dropped: a form that
/// resends an untouched field must not conflict with someone else's change
/// to it. `None` = nothing changes. An edit the rules refuse (a blank name,
/// an invalid phone, 2FA without a phone, ...) is refused here with the
/// cloud's code, before anything is queued.
pub fn user_edit(
    cached: &User,
    company: &Company,
    update: &UserUpdate,
) -> Result<Option<Edit<UserUpdate>>, CoreError> {
    let checked = rules::check_user_update(update)?;
    let mut changes = UserUpdate::default();
    let mut base = UserUpdate::default();
    if let Some(name) = checked.display_name.filter(|n| *n != cached.display_name) {
        changes.display_name = Some(name);
        base.display_name = Some(cached.display_name.clone());
    }
    if let Some(email) = checked.email.filter(|e| *e != cached.email) {
        changes.email = Some(email);
        base.email = Some(cached.email.clone());
    }
    if let Some(phone) = checked.mobile_phone.filter(|p| *p != cached.mobile_phone) {
        changes.mobile_phone = Some(phone);
        base.mobile_phone = Some(cached.mobile_phone.clone());
    }
    if let Some(role) = checked.role.filter(|r| *r != cached.role) {
        changes.role = Some(role);
        base.role = Some(cached.role);
    }
    if let Some(status) = checked.status.filter(|s| *s != cached.status) {
        changes.status = Some(status);
        base.status = Some(cached.status);
    }
    if let Some(on) = checked
        .two_factor_enabled
        .filter(|on| *on != cached.two_factor_enabled)
    {
        changes.two_factor_enabled = Some(on);
        base.two_factor_enabled = Some(cached.two_factor_enabled);
    }
    if changes == UserUpdate::default() {
        return Ok(None);
    }
    let mut after = cached.clone();
    apply_user_changes(&mut after, &changes);
    rules::check_user_two_factor(cached, &changes, &after, company)?;
    Ok(Some(Edit { changes, base }))
}

/// As [`user_edit`], for the company profile.
pub fn company_edit(
    cached: &Company,
    update: &CompanyUpdate,
) -> Result<Option<Edit<CompanyUpdate>>, CoreError> {
    let checked = rules::check_company_update(update)?;
    let mut changes = CompanyUpdate::default();
    let mut base = CompanyUpdate::default();
    if let Some(name) = checked.name.filter(|n| *n != cached.name) {
        changes.name = Some(name);
        base.name = Some(cached.name.clone());
    }
    if let Some(on) = checked
        .two_factor_required
        .filter(|on| *on != cached.two_factor_required)
    {
        changes.two_factor_required = Some(on);
        base.two_factor_required = Some(cached.two_factor_required);
    }
    if let Some(policy) = checked
        .offline_policy
        .filter(|p| *p != cached.offline_policy)
    {
        changes.offline_policy = Some(policy);
        base.offline_policy = Some(cached.offline_policy.clone());
    }
    if let Some(policy) = checked
        .session_policy
        .filter(|p| *p != cached.session_policy)
    {
        changes.session_policy = Some(policy);
        base.session_policy = Some(cached.session_policy);
    }
    if changes == CompanyUpdate::default() {
        return Ok(None);
    }
    rules::check_company_two_factor(cached, &changes)?;
    Ok(Some(Edit { changes, base }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{company, user};
    use secureclose_protocol::rules::apply_company_changes;
    use secureclose_protocol::{codes, Role};
    use secureclose_protocol::{OfflinePolicy, SessionPolicy};

    fn bob() -> User {
        user("u2", "Bob Builder", "bob@desertmotors.example")
    }

    #[test]
    fn only_changed_fields_are_sent_with_their_base_values() {
        let cached = bob();
        let edit = user_edit(
            &cached,
            &company(),
            &UserUpdate {
                display_name: Some(" Bob Builder ".into()),
                email: Some(cached.email.to_uppercase()),
                two_factor_enabled: Some(!cached.two_factor_enabled),
                role: Some(Role::Admin),
                ..UserUpdate::default()
            },
        )
        .unwrap()
        .expect("the 2FA toggle and role changed");
        assert_eq!(
            edit.changes,
            UserUpdate {
                two_factor_enabled: Some(!cached.two_factor_enabled),
                role: Some(Role::Admin),
                ..UserUpdate::default()
            },
            "untouched fields (same name, same email in another case) must not be sent: \
             they would conflict with someone else's change"
        );
        assert_eq!(
            edit.base,
            UserUpdate {
                two_factor_enabled: Some(cached.two_factor_enabled),
                role: Some(cached.role),
                ..UserUpdate::default()
            },
            "base holds exactly the changed fields' cached values"
        );
        assert_eq!(
            user_edit(&cached, &company(), &UserUpdate::default()).unwrap(),
            None,
            "an empty edit queues nothing"
        );
    }

    #[test]
    fn phones_are_normalised_and_invalid_ones_refused() {
        let cached = bob();
        let edit = user_edit(
            &cached,
            &company(),
            &UserUpdate {
                mobile_phone: Some(Some("(480) 555-0134".into())),
                ..UserUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(edit.changes.mobile_phone, Some(Some("+14805550134".into())));
        assert_eq!(edit.base.mobile_phone, Some(cached.mobile_phone.clone()));
        let err = user_edit(
            &cached,
            &company(),
            &UserUpdate {
                mobile_phone: Some(Some("555-CALL-NOW".into())),
                ..UserUpdate::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), codes::INVALID_PHONE, "{err:?}");
        let blank = UserUpdate {
            mobile_phone: Some(Some("  ".into())),
            ..UserUpdate::default()
        };
        let err = user_edit(&cached, &company(), &blank).unwrap_err();
        assert_eq!(
            err.code(),
            codes::PHONE_NEEDED_FOR_TWO_FACTOR,
            "Bob has 2FA on: removing his phone is refused here, as the cloud would"
        );
        let mut without_2fa = cached.clone();
        without_2fa.two_factor_enabled = false;
        let removed = user_edit(&without_2fa, &company(), &blank)
            .unwrap()
            .unwrap();
        assert_eq!(
            removed.changes.mobile_phone,
            Some(None),
            "a blank phone removes it, as on the cloud"
        );
    }

    #[test]
    fn replaying_a_new_phone_unverifies_it_and_keeps_the_version() {
        let mut row = bob();
        row.phone_verified_at = Some(5);
        let version = row.version;
        apply_user_changes(
            &mut row,
            &UserUpdate {
                mobile_phone: Some(Some("+14805550134".into())),
                display_name: Some("Robert".into()),
                ..UserUpdate::default()
            },
        );
        assert_eq!(row.mobile_phone.as_deref(), Some("+14805550134"));
        assert_eq!(
            row.phone_verified_at, None,
            "a number that never got a code is not verified"
        );
        assert_eq!(row.display_name, "Robert");
        assert_eq!(row.version, version, "the version stays the cloud's");

        let mut same = bob();
        same.phone_verified_at = Some(5);
        let phone = same.mobile_phone.clone();
        apply_user_changes(
            &mut same,
            &UserUpdate {
                mobile_phone: Some(phone),
                ..UserUpdate::default()
            },
        );
        assert_eq!(
            same.phone_verified_at,
            Some(5),
            "the same number stays verified"
        );
    }

    #[test]
    fn company_edits_keep_only_changes() {
        let cached = company();
        assert_eq!(
            company_edit(
                &cached,
                &CompanyUpdate {
                    name: Some(cached.name.clone()),
                    ..CompanyUpdate::default()
                }
            )
            .unwrap(),
            None
        );
        let edit = company_edit(
            &cached,
            &CompanyUpdate {
                two_factor_required: Some(!cached.two_factor_required),
                ..CompanyUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            edit.base.two_factor_required,
            Some(cached.two_factor_required)
        );
        let mut row = cached.clone();
        apply_company_changes(&mut row, &edit.changes);
        assert_eq!(row.two_factor_required, !cached.two_factor_required);
    }

    #[test]
    fn company_policy_edits_carry_their_base_and_are_checked() {
        let cached = company();
        let shorter = SessionPolicy {
            idle_lock_minutes: 10,
            max_session_hours: 4,
            trusted_computer_days: 7,
        };
        let edit = company_edit(
            &cached,
            &CompanyUpdate {
                offline_policy: Some(OfflinePolicy {
                    allowed: false,
                    max_hours: 72,
                }),
                session_policy: Some(shorter),
                ..CompanyUpdate::default()
            },
        )
        .unwrap()
        .expect("both policies changed");
        assert_eq!(
            edit.base.offline_policy,
            Some(cached.offline_policy.clone())
        );
        assert_eq!(edit.base.session_policy, Some(cached.session_policy));
        assert_eq!(edit.changes.session_policy, Some(shorter));
        let unchanged = CompanyUpdate {
            session_policy: Some(cached.session_policy),
            ..CompanyUpdate::default()
        };
        assert_eq!(company_edit(&cached, &unchanged).unwrap(), None);
        let too_long = CompanyUpdate {
            session_policy: Some(SessionPolicy {
                idle_lock_minutes: 30,
                max_session_hours: 25,
                trusted_computer_days: 0,
            }),
            ..CompanyUpdate::default()
        };
        assert!(
            company_edit(&cached, &too_long).is_err(),
            "judged as the cloud will"
        );
    }
}
