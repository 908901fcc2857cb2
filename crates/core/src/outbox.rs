//! The rules of a local edit, without I/O: which fields an edit really
//! changes (and their base values, for the cloud's three-way merge), and how
//! a pending edit is replayed onto a cached row (optimistic apply and rebase
//! over rows the cloud sent). The cache calls these inside its transactions.

use secureclose_protocol::phone::{self, INVALID_PHONE_MESSAGE};
use secureclose_protocol::{codes, Company, CompanyUpdate, User, UserUpdate};

use crate::error::CoreError;

/// The changed fields of an edit and, for exactly those fields, the values
/// the person saw before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<T> {
    pub changes: T,
    pub base: T,
}

/// Compares an admin's update with the cached user. Fields equal to the
/// cached value are dropped: a form that resends an untouched field must not
/// conflict with someone else's change to it. `None` = nothing changes.
/// The phone is normalised as the cloud will store it; an invalid one is an
/// `invalid_phone` error (nothing is queued).
pub fn user_edit(
    cached: &User,
    update: &UserUpdate,
) -> Result<Option<Edit<UserUpdate>>, CoreError> {
    let mut changes = UserUpdate::default();
    let mut base = UserUpdate::default();
    if let Some(name) = &update.display_name {
        let name = name.trim();
        if name != cached.display_name {
            changes.display_name = Some(name.to_owned());
            base.display_name = Some(cached.display_name.clone());
        }
    }
    if let Some(email) = &update.email {
        // The cloud's normalisation (trimmed, lower case).
        let email = email.trim().to_lowercase();
        if email != cached.email {
            changes.email = Some(email);
            base.email = Some(cached.email.clone());
        }
    }
    if let Some(phone) = &update.mobile_phone {
        let phone = match phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(phone::normalize(text).map_err(|_| CoreError::Refused {
                code: codes::INVALID_PHONE,
                message: INVALID_PHONE_MESSAGE.to_owned(),
                retry_at: None,
            })?),
        };
        if phone != cached.mobile_phone {
            changes.mobile_phone = Some(phone);
            base.mobile_phone = Some(cached.mobile_phone.clone());
        }
    }
    if let Some(role) = update.role.filter(|r| *r != cached.role) {
        changes.role = Some(role);
        base.role = Some(cached.role);
    }
    if let Some(status) = update.status.filter(|s| *s != cached.status) {
        changes.status = Some(status);
        base.status = Some(cached.status);
    }
    if let Some(on) = update
        .two_factor_enabled
        .filter(|on| *on != cached.two_factor_enabled)
    {
        changes.two_factor_enabled = Some(on);
        base.two_factor_enabled = Some(cached.two_factor_enabled);
    }
    Ok((changes != UserUpdate::default()).then_some(Edit { changes, base }))
}

/// As [`user_edit`], for the company profile.
pub fn company_edit(cached: &Company, update: &CompanyUpdate) -> Option<Edit<CompanyUpdate>> {
    let mut changes = CompanyUpdate::default();
    let mut base = CompanyUpdate::default();
    if let Some(name) = &update.name {
        let name = name.trim();
        if name != cached.name {
            changes.name = Some(name.to_owned());
            base.name = Some(cached.name.clone());
        }
    }
    if let Some(on) = update
        .two_factor_required
        .filter(|on| *on != cached.two_factor_required)
    {
        changes.two_factor_required = Some(on);
        base.two_factor_required = Some(cached.two_factor_required);
    }
    (changes != CompanyUpdate::default()).then_some(Edit { changes, base })
}

/// Replays an edit onto a cached user, as the cloud would store it. The
/// version is left alone: it stays the cloud's, so the row still says which
/// cloud state the pending edit sits on.
pub fn apply_user_changes(user: &mut User, changes: &UserUpdate) {
    if let Some(name) = &changes.display_name {
        user.display_name.clone_from(name);
    }
    if let Some(email) = &changes.email {
        user.email.clone_from(email);
    }
    if let Some(phone) = &changes.mobile_phone {
        // Same rule as the cloud: a different number is unverified again.
        if *phone != user.mobile_phone {
            user.phone_verified_at = None;
        }
        user.mobile_phone.clone_from(phone);
    }
    if let Some(role) = changes.role {
        user.role = role;
    }
    if let Some(status) = changes.status {
        user.status = status;
    }
    if let Some(on) = changes.two_factor_enabled {
        user.two_factor_enabled = on;
    }
}

pub fn apply_company_changes(company: &mut Company, changes: &CompanyUpdate) {
    if let Some(name) = &changes.name {
        company.name.clone_from(name);
    }
    if let Some(on) = changes.two_factor_required {
        company.two_factor_required = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{company, user};
    use secureclose_protocol::Role;

    fn bob() -> User {
        user("u2", "Bob Builder", "bob@desertmotors.example")
    }

    #[test]
    fn only_changed_fields_are_sent_with_their_base_values() {
        let cached = bob();
        let edit = user_edit(
            &cached,
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
            user_edit(&cached, &UserUpdate::default()).unwrap(),
            None,
            "an empty edit queues nothing"
        );
    }

    #[test]
    fn phones_are_normalised_and_invalid_ones_refused() {
        let cached = bob();
        let edit = user_edit(
            &cached,
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
            &UserUpdate {
                mobile_phone: Some(Some("555-CALL-NOW".into())),
                ..UserUpdate::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), codes::INVALID_PHONE, "{err:?}");
        let removed = user_edit(
            &cached,
            &UserUpdate {
                mobile_phone: Some(Some("  ".into())),
                ..UserUpdate::default()
            },
        )
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
            ),
            None
        );
        let edit = company_edit(
            &cached,
            &CompanyUpdate {
                two_factor_required: Some(!cached.two_factor_required),
                ..CompanyUpdate::default()
            },
        )
        .unwrap();
        assert_eq!(
            edit.base.two_factor_required,
            Some(cached.two_factor_required)
        );
        let mut row = cached.clone();
        apply_company_changes(&mut row, &edit.changes);
        assert_eq!(row.two_factor_required, !cached.two_factor_required);
    }
}
