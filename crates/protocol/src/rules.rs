//! Edit rules the desktop and the cloud both apply, so an edit made offline
//! is judged on the desktop exactly as the cloud will judge it: refused at
//! once with the code and words the cloud would answer, never shown as saved
//! and refused later.

use crate::phone::{self, INVALID_PHONE_MESSAGE};
use crate::{
    codes, Company, CompanyUpdate, OfflinePolicy, Role, SessionPolicy, User, UserStatus,
    UserUpdate, OFFLINE_MAX_HOURS,
};

/// Longest display name or company name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// An edit the rules refuse: the code the cloud answers with (HTTP 400) and
/// the sentence the person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Emails compare case-insensitively and without surrounding whitespace;
/// the cloud's unique index is on `lower(email)`.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A normalised email that looks deliverable: `local@domain.tld`, no
/// whitespace, at most 254 bytes.
pub fn check_email(email: &str) -> Result<String, Refusal> {
    let email = normalize_email(email);
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(Refusal::new(
            codes::VALIDATION,
            "enter a valid email address",
        ));
    }
    Ok(email)
}

/// Names are shown in lists and audit views: control characters (NUL, line
/// breaks, escapes) and the bidirectional overrides that make text read
/// differently than it is stored are refused, not silently stripped, so
/// what is saved is what the admin typed, less surrounding whitespace.
pub fn check_name(name: &str) -> Result<String, Refusal> {
    let is_hidden =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let name = name.trim();
    if name.chars().any(is_hidden) {
        return Err(Refusal::new(
            codes::VALIDATION,
            "the name cannot contain control characters (such as line breaks or tabs)",
        ));
    }
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Refusal::new(
            codes::VALIDATION,
            format!("the name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A typed mobile phone as stored: E.164, or `None` for a blank field.
pub fn check_phone(typed: Option<&str>) -> Result<Option<String>, Refusal> {
    match typed.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => phone::normalize(text)
            .map(Some)
            .map_err(|_| Refusal::new(codes::INVALID_PHONE, INVALID_PHONE_MESSAGE)),
    }
}

/// An update with every given field checked and normalised as it will be
/// stored (names trimmed, email lower case, phone E.164 or removed).
pub fn check_user_update(update: &UserUpdate) -> Result<UserUpdate, Refusal> {
    Ok(UserUpdate {
        display_name: update.display_name.as_deref().map(check_name).transpose()?,
        email: update.email.as_deref().map(check_email).transpose()?,
        mobile_phone: update
            .mobile_phone
            .as_ref()
            .map(|phone| check_phone(phone.as_deref()))
            .transpose()?,
        ..update.clone()
    })
}

/// As [`check_user_update`], for the company profile.
pub fn check_company_update(update: &CompanyUpdate) -> Result<CompanyUpdate, Refusal> {
    if let Some(policy) = &update.offline_policy {
        check_offline_policy(policy)?;
    }
    if let Some(policy) = &update.session_policy {
        check_session_policy(policy)?;
    }
    Ok(CompanyUpdate {
        name: update.name.as_deref().map(check_name).transpose()?,
        ..update.clone()
    })
}

/// Offline sign-in, when allowed, lasts 1 to 168 hours (a week) after the
/// last online second factor on the device. When not allowed the hours are
/// kept as given (up to 168) so turning it back on restores them.
pub fn check_offline_policy(policy: &OfflinePolicy) -> Result<(), Refusal> {
    let (low, high) = (*OFFLINE_MAX_HOURS.start(), *OFFLINE_MAX_HOURS.end());
    if policy.max_hours > high || (policy.allowed && policy.max_hours < low) {
        return Err(Refusal::new(
            codes::VALIDATION,
            format!("the offline sign-in window must be {low} to {high} hours"),
        ));
    }
    Ok(())
}

/// Idle lock 5 to 60 minutes, absolute session limit 1 to 24 hours (NIST
/// SP 800-63B AAL2: inactivity at most an hour, a session at most a day);
/// trusted computers 0 (off) to 30 days (NIST: "remember this device" for
/// at most 30 days).
pub fn check_session_policy(policy: &SessionPolicy) -> Result<(), Refusal> {
    let idle = SessionPolicy::IDLE_LOCK_MINUTES;
    if !idle.contains(&policy.idle_lock_minutes) {
        return Err(Refusal::new(
            codes::VALIDATION,
            format!(
                "the idle lock must be {} to {} minutes",
                idle.start(),
                idle.end()
            ),
        ));
    }
    let hours = SessionPolicy::MAX_SESSION_HOURS;
    if !hours.contains(&policy.max_session_hours) {
        return Err(Refusal::new(
            codes::VALIDATION,
            format!(
                "the session limit must be {} to {} hours",
                hours.start(),
                hours.end()
            ),
        ));
    }
    let days = SessionPolicy::TRUSTED_COMPUTER_DAYS;
    if !days.contains(&policy.trusted_computer_days) {
        return Err(Refusal::new(
            codes::VALIDATION,
            format!(
                "trusted computers must be {} (off) to {} days",
                days.start(),
                days.end()
            ),
        ));
    }
    Ok(())
}

/// The rules of two-factor authentication for an edit of `before` that
/// leaves `after` (`update`: the fields the edit set, as given):
/// - turning 2FA on needs the company's DMS integration to support it and a
///   mobile phone (the access token goes there);
/// - the phone of someone 2FA applies to (their toggle or the company's)
///   cannot be removed: their password alone would then choose a new one.
pub fn check_user_two_factor(
    before: &User,
    update: &UserUpdate,
    after: &User,
    company: &Company,
) -> Result<(), Refusal> {
    if update.two_factor_enabled == Some(true) {
        if !company.dms.supports_two_factor {
            return Err(two_factor_unavailable());
        }
        if after.mobile_phone.is_none() {
            return Err(Refusal::new(
                codes::PHONE_REQUIRED,
                "Add a mobile phone number on the General Info tab first.",
            ));
        }
    }
    let removing_phone = before.mobile_phone.is_some() && after.mobile_phone.is_none();
    if removing_phone && company.dms.supports_two_factor {
        if company.two_factor_required {
            return Err(Refusal::new(
                codes::PHONE_NEEDED_FOR_TWO_FACTOR,
                "Two Factor Authentication is on for all users in your account (Company \
                 Profile), so this user receives their access token on this Mobile Phone \
                 number. Enter their new number on the General Info tab instead of removing it.",
            ));
        }
        if after.two_factor_enabled {
            return Err(Refusal::new(
                codes::PHONE_NEEDED_FOR_TWO_FACTOR,
                "Two Factor Authentication is on for this user, so they receive their access \
                 token on this Mobile Phone number. Enter their new number on the General Info \
                 tab instead, or first turn off the Two Factor Authentication toggle on the \
                 Login Info tab.",
            ));
        }
    }
    Ok(())
}

/// Company-wide 2FA needs the company's DMS integration to support it.
pub fn check_company_two_factor(company: &Company, update: &CompanyUpdate) -> Result<(), Refusal> {
    if update.two_factor_required == Some(true) && !company.dms.supports_two_factor {
        return Err(two_factor_unavailable());
    }
    Ok(())
}

fn two_factor_unavailable() -> Refusal {
    Refusal::new(
        codes::TWO_FACTOR_UNAVAILABLE,
        "Two-factor authentication is not available with your DMS integration.",
    )
}

/// Applies checked changes to a user as the cloud stores them. A different
/// phone is unverified again: it has never received a code. The version is
/// left alone (it is the cloud's).
pub fn apply_user_changes(user: &mut User, changes: &UserUpdate) {
    if let Some(name) = &changes.display_name {
        user.display_name.clone_from(name);
    }
    if let Some(email) = &changes.email {
        user.email.clone_from(email);
    }
    if let Some(phone) = &changes.mobile_phone {
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

/// Applies checked changes to the company profile.
pub fn apply_company_changes(company: &mut Company, changes: &CompanyUpdate) {
    if let Some(name) = &changes.name {
        company.name.clone_from(name);
    }
    if let Some(on) = changes.two_factor_required {
        company.two_factor_required = on;
    }
    if let Some(policy) = &changes.offline_policy {
        company.offline_policy = policy.clone();
    }
    if let Some(policy) = changes.session_policy {
        company.session_policy = policy;
    }
}

/// A user as `viewer` may see them. Admins and the user themselves see
/// everything; any other colleague sees name, email and role of active
/// users only (their screens show nothing else), so phones and security state
/// never reach a non-admin. `None`: a disabled colleague, which a non-admin
/// is told about as removed.
pub fn as_seen_by(viewer: &User, mut user: User) -> Option<User> {
    if viewer.role == Role::Admin || viewer.id == user.id {
        return Some(user);
    }
    if user.status != UserStatus::Active {
        return None;
    }
    withhold_security(&mut user);
    Some(user)
}

/// Clears what a non-admin must not see of a colleague and says so.
pub fn withhold_security(user: &mut User) {
    user.mobile_phone = None;
    user.phone_verified_at = None;
    user.two_factor_enabled = false;
    user.security_withheld = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DmsIntegration, OfflinePolicy, Role, UserStatus};

    fn user(phone: Option<&str>, two_factor: bool) -> User {
        User {
            id: "u".into(),
            company_id: "c".into(),
            email: "a@b.example".into(),
            display_name: "A".into(),
            role: Role::User,
            status: UserStatus::Active,
            mobile_phone: phone.map(str::to_owned),
            phone_verified_at: phone.map(|_| 5),
            two_factor_enabled: two_factor,
            security_withheld: false,
            version: 1,
            updated_at: 0,
        }
    }

    fn company(required: bool, supports: bool) -> Company {
        Company {
            id: "c".into(),
            name: "C".into(),
            two_factor_required: required,
            dms: DmsIntegration {
                kind: "x".into(),
                supports_two_factor: supports,
            },
            offline_policy: OfflinePolicy {
                allowed: true,
                max_hours: 72,
            },
            session_policy: SessionPolicy::default(),
            version: 1,
        }
    }

    /// The edit applied and judged, as both sides do.
    fn judge(before: &User, update: &UserUpdate, company: &Company) -> Result<User, Refusal> {
        let changes = check_user_update(update)?;
        let mut after = before.clone();
        apply_user_changes(&mut after, &changes);
        check_user_two_factor(before, &changes, &after, company)?;
        Ok(after)
    }

    #[test]
    fn emails_normalise_for_case_insensitive_lookup() {
        assert_eq!(
            normalize_email("  Dana@DesertSun.Example "),
            "dana@desertsun.example"
        );
        assert_eq!(check_email(" Dana@X.Example").unwrap(), "dana@x.example");
        for bad in [
            "",
            "dana",
            "@x.example",
            "dana@localhost",
            "da na@x.example",
        ] {
            assert_eq!(
                check_email(bad).unwrap_err().code,
                codes::VALIDATION,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_refused_when_blank_long_or_hidden() {
        assert_eq!(check_name("  Dana Whitfield \n").unwrap(), "Dana Whitfield");
        for bad in [
            "   ".to_owned(),
            "x".repeat(MAX_NAME_CHARS + 1),
            "\u{0}".repeat(10),
            "Dana\u{202E}dleifti".to_owned(),
            "Da\tna".to_owned(),
        ] {
            assert_eq!(
                check_name(&bad).unwrap_err().code,
                codes::VALIDATION,
                "{bad:?}"
            );
        }
        assert!(
            check_name(&"é".repeat(MAX_NAME_CHARS)).is_ok(),
            "counted in characters"
        );
    }

    #[test]
    fn phones_are_stored_as_e164_and_blank_removes() {
        assert_eq!(
            check_phone(Some("(480) 555-0142")).unwrap().as_deref(),
            Some("+14805550142")
        );
        assert_eq!(check_phone(Some("  ")).unwrap(), None);
        assert_eq!(check_phone(None).unwrap(), None);
        assert_eq!(
            check_phone(Some("call me")).unwrap_err().code,
            codes::INVALID_PHONE
        );
    }

    #[test]
    fn a_new_phone_is_unverified_and_the_same_phone_stays_verified() {
        let before = user(Some("+14805550142"), false);
        let same = UserUpdate {
            mobile_phone: Some(Some("(480) 555-0142".into())),
            ..UserUpdate::default()
        };
        let kept = judge(&before, &same, &company(false, true)).unwrap();
        assert_eq!(
            kept.phone_verified_at,
            Some(5),
            "the same number typed another way"
        );
        let other = UserUpdate {
            mobile_phone: Some(Some("+14805550199".into())),
            ..UserUpdate::default()
        };
        let changed = judge(&before, &other, &company(false, true)).unwrap();
        assert_eq!(
            changed.phone_verified_at, None,
            "a new number has never received a code"
        );
    }

    #[test]
    fn two_factor_needs_dms_support_and_a_phone() {
        let on = UserUpdate {
            two_factor_enabled: Some(true),
            ..UserUpdate::default()
        };
        let no_phone = user(None, false);
        assert_eq!(
            judge(&no_phone, &on, &company(false, true))
                .unwrap_err()
                .code,
            codes::PHONE_REQUIRED
        );
        assert_eq!(
            judge(&no_phone, &on, &company(false, false))
                .unwrap_err()
                .code,
            codes::TWO_FACTOR_UNAVAILABLE
        );
        let with_phone = UserUpdate {
            mobile_phone: Some(Some("+14805550142".into())),
            ..on.clone()
        };
        assert!(
            judge(&no_phone, &with_phone, &company(false, true)).is_ok(),
            "a phone given in the same edit is enough"
        );
    }

    #[test]
    fn the_phone_of_someone_2fa_applies_to_cannot_be_removed() {
        let remove = UserUpdate {
            mobile_phone: Some(None),
            ..UserUpdate::default()
        };
        let own_toggle = user(Some("+14805550142"), true);
        assert_eq!(
            judge(&own_toggle, &remove, &company(false, true))
                .unwrap_err()
                .code,
            codes::PHONE_NEEDED_FOR_TWO_FACTOR
        );
        let company_wide = user(Some("+14805550142"), false);
        let refusal = judge(&company_wide, &remove, &company(true, true)).unwrap_err();
        assert_eq!(refusal.code, codes::PHONE_NEEDED_FOR_TWO_FACTOR);
        assert!(refusal.message.contains("all users"), "{}", refusal.message);
        assert!(
            judge(&company_wide, &remove, &company(false, true)).is_ok(),
            "nobody's 2FA needs it"
        );
        assert!(
            judge(&own_toggle, &remove, &company(true, false)).is_ok(),
            "2FA does not apply where the DMS cannot do it"
        );
        let off_and_remove = UserUpdate {
            two_factor_enabled: Some(false),
            ..remove
        };
        assert!(judge(&own_toggle, &off_and_remove, &company(false, true)).is_ok());
    }

    #[test]
    fn company_wide_two_factor_needs_dms_support() {
        let on = CompanyUpdate {
            two_factor_required: Some(true),
            ..CompanyUpdate::default()
        };
        assert_eq!(
            check_company_two_factor(&company(false, false), &on)
                .unwrap_err()
                .code,
            codes::TWO_FACTOR_UNAVAILABLE
        );
        assert!(check_company_two_factor(&company(false, true), &on).is_ok());
        let blank = CompanyUpdate {
            name: Some(" ".into()),
            ..CompanyUpdate::default()
        };
        assert_eq!(
            check_company_update(&blank).unwrap_err().code,
            codes::VALIDATION
        );
    }

    #[test]
    fn company_policies_stay_within_their_ranges() {
        let offline = |allowed, max_hours| CompanyUpdate {
            offline_policy: Some(OfflinePolicy { allowed, max_hours }),
            ..CompanyUpdate::default()
        };
        assert!(check_company_update(&offline(true, 1)).is_ok());
        assert!(check_company_update(&offline(true, 168)).is_ok());
        assert!(check_company_update(&offline(false, 0)).is_ok());
        for bad in [offline(true, 0), offline(true, 169), offline(false, 169)] {
            let refusal = check_company_update(&bad).unwrap_err();
            assert!(refusal.message.contains("1 to 168 hours"), "{refusal}");
        }
        let session_with =
            |idle_lock_minutes, max_session_hours, trusted_computer_days| CompanyUpdate {
                session_policy: Some(SessionPolicy {
                    idle_lock_minutes,
                    max_session_hours,
                    trusted_computer_days,
                }),
                ..CompanyUpdate::default()
            };
        let session = |idle, hours| session_with(idle, hours, 0);
        assert!(check_company_update(&session_with(30, 12, 30)).is_ok());
        assert!(check_company_update(&session_with(30, 12, 31))
            .unwrap_err()
            .message
            .contains("0 (off) to 30 days"));
        assert!(check_company_update(&session(5, 1)).is_ok());
        assert!(check_company_update(&session(60, 24)).is_ok());
        assert!(check_company_update(&session(4, 12))
            .unwrap_err()
            .message
            .contains("5 to 60 minutes"));
        assert!(check_company_update(&session(61, 12)).is_err());
        assert!(check_company_update(&session(30, 0))
            .unwrap_err()
            .message
            .contains("1 to 24 hours"));
        assert!(check_company_update(&session(30, 25)).is_err());
        let mut company = company(false, true);
        apply_company_changes(
            &mut company,
            &check_company_update(&session(10, 8)).unwrap(),
        );
        assert_eq!(
            company.session_policy,
            SessionPolicy {
                idle_lock_minutes: 10,
                max_session_hours: 8,
                trusted_computer_days: 0,
            }
        );
    }

    #[test]
    fn a_company_from_an_older_cloud_gets_the_default_session_policy() {
        let json = r#"{"id":"c","name":"C","two_factor_required":false,
            "dms":{"kind":"x","supports_two_factor":true},
            "offline_policy":{"allowed":true,"max_hours":72},"version":1}"#;
        let company: Company = serde_json::from_str(json).unwrap();
        assert_eq!(company.session_policy.idle_lock_minutes, 30);
        assert_eq!(company.session_policy.max_session_hours, 12);
    }

    #[test]
    fn a_non_admin_sees_colleagues_without_phone_or_2fa_and_no_disabled_ones() {
        let viewer = user(Some("+14805550100"), true);
        let colleague = User {
            id: "other".into(),
            ..user(Some("+14805550142"), true)
        };
        let seen = as_seen_by(&viewer, colleague.clone()).expect("active colleagues are listed");
        assert_eq!(
            (
                seen.mobile_phone,
                seen.phone_verified_at,
                seen.two_factor_enabled
            ),
            (None, None, false),
            "a non-admin must never receive a colleague's phone or 2FA state"
        );
        assert!(
            seen.security_withheld,
            "the row must say its fields were withheld"
        );
        assert_eq!(
            (seen.display_name, seen.email, seen.role),
            (
                colleague.display_name.clone(),
                colleague.email.clone(),
                colleague.role
            ),
            "name, email and role stay: the Users tab shows them"
        );
        let disabled = User {
            status: UserStatus::Disabled,
            ..colleague.clone()
        };
        assert_eq!(
            as_seen_by(&viewer, disabled),
            None,
            "a disabled colleague is not shown to a non-admin"
        );

        let own = as_seen_by(&viewer, viewer.clone()).expect("one's own row");
        assert_eq!(own, viewer, "a user sees their own row in full");
        let admin = User {
            role: Role::Admin,
            ..viewer.clone()
        };
        assert_eq!(
            as_seen_by(&admin, colleague.clone()),
            Some(colleague),
            "an admin sees colleagues in full"
        );
    }

    #[test]
    fn a_withheld_row_counts_as_needing_a_second_factor() {
        let mut row = user(None, false);
        withhold_security(&mut row);
        assert!(
            crate::needs_second_factor(&row, &company(false, true)),
            "offline sign-in must not skip 2FA on a row whose toggle it never saw"
        );
        assert!(
            !crate::needs_second_factor(&row, &company(false, false)),
            "where the DMS does not support 2FA nothing changes"
        );
    }
}
