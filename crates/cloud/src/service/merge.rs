//! The three-way merge of a pushed offline edit: per field, the client's
//! base against the cloud's current value ([`merge_field`]). The push itself
//! (idempotency key, then this merge, then the edit rules of
//! `service::users`, in one transaction) is `service::sync`.

use secureclose_protocol::{Company, CompanyUpdate, User, UserUpdate};

use secureclose_protocol::rules::normalize_email;

/// How one field of a mutation compares with the cloud's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// Nobody changed it since the client's base: apply the client's value.
    Apply,
    /// The cloud already holds the client's value: nothing to do.
    Converged,
    /// Someone else changed it: the mutation must not apply.
    Conflict,
}

/// cur == base → apply; cur == new → converged; else conflict. A field the
/// client did not give a base for (`None`) is unsafe: it only converges.
fn merge_field<T: PartialEq>(cur: &T, new: &T, base: Option<&T>) -> Merge {
    if base == Some(cur) {
        Merge::Apply
    } else if cur == new {
        Merge::Converged
    } else {
        Merge::Conflict
    }
}

/// Phones compare as E.164; text that does not parse compares as typed
/// (it will not equal a stored number, and validation rejects it later).
fn phone_key(value: &Option<String>) -> Option<String> {
    let text = value.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    Some(secureclose_protocol::phone::normalize(text).unwrap_or_else(|_| text.to_string()))
}

/// Keeps the field in the effective update, drops it, or records a conflict.
fn keep<T: Clone>(
    field: &'static str,
    merge: Merge,
    value: &Option<T>,
    conflicts: &mut Vec<String>,
) -> Option<T> {
    match merge {
        Merge::Apply => value.clone(),
        Merge::Converged => None,
        Merge::Conflict => {
            conflicts.push(field.to_string());
            None
        }
    }
}

/// The part of `changes` still to apply to `cur`, or the conflicting fields.
pub fn merge_user(
    cur: &User,
    changes: &UserUpdate,
    base: &UserUpdate,
) -> Result<UserUpdate, Vec<String>> {
    let mut conflicts = Vec::new();
    let mut out = UserUpdate::default();
    if let Some(new) = &changes.display_name {
        let merge = merge_field(
            &cur.display_name.trim().to_string(),
            &new.trim().to_string(),
            base.display_name
                .as_ref()
                .map(|b| b.trim().to_string())
                .as_ref(),
        );
        out.display_name = keep("display_name", merge, &changes.display_name, &mut conflicts);
    }
    if let Some(new) = &changes.email {
        let merge = merge_field(
            &normalize_email(&cur.email),
            &normalize_email(new),
            base.email.as_deref().map(normalize_email).as_ref(),
        );
        out.email = keep("email", merge, &changes.email, &mut conflicts);
    }
    if let Some(new) = &changes.mobile_phone {
        let merge = merge_field(
            &phone_key(&cur.mobile_phone),
            &phone_key(new),
            base.mobile_phone.as_ref().map(phone_key).as_ref(),
        );
        out.mobile_phone = keep("mobile_phone", merge, &changes.mobile_phone, &mut conflicts);
    }
    if let Some(new) = &changes.role {
        let merge = merge_field(&cur.role, new, base.role.as_ref());
        out.role = keep("role", merge, &changes.role, &mut conflicts);
    }
    if let Some(new) = &changes.status {
        let merge = merge_field(&cur.status, new, base.status.as_ref());
        out.status = keep("status", merge, &changes.status, &mut conflicts);
    }
    if let Some(new) = &changes.two_factor_enabled {
        let merge = merge_field(
            &cur.two_factor_enabled,
            new,
            base.two_factor_enabled.as_ref(),
        );
        out.two_factor_enabled = keep(
            "two_factor_enabled",
            merge,
            &changes.two_factor_enabled,
            &mut conflicts,
        );
    }
    if conflicts.is_empty() {
        Ok(out)
    } else {
        Err(conflicts)
    }
}

/// [`merge_user`] for the company profile.
pub fn merge_company(
    cur: &Company,
    changes: &CompanyUpdate,
    base: &CompanyUpdate,
) -> Result<CompanyUpdate, Vec<String>> {
    let mut conflicts = Vec::new();
    let mut out = CompanyUpdate::default();
    if let Some(new) = &changes.name {
        let merge = merge_field(
            &cur.name.trim().to_string(),
            &new.trim().to_string(),
            base.name.as_ref().map(|b| b.trim().to_string()).as_ref(),
        );
        out.name = keep("name", merge, &changes.name, &mut conflicts);
    }
    if let Some(new) = &changes.two_factor_required {
        let merge = merge_field(
            &cur.two_factor_required,
            new,
            base.two_factor_required.as_ref(),
        );
        out.two_factor_required = keep(
            "two_factor_required",
            merge,
            &changes.two_factor_required,
            &mut conflicts,
        );
    }
    if let Some(new) = &changes.offline_policy {
        let merge = merge_field(&cur.offline_policy, new, base.offline_policy.as_ref());
        out.offline_policy = keep(
            "offline_policy",
            merge,
            &changes.offline_policy,
            &mut conflicts,
        );
    }
    if let Some(new) = &changes.session_policy {
        let merge = merge_field(&cur.session_policy, new, base.session_policy.as_ref());
        out.session_policy = keep(
            "session_policy",
            merge,
            &changes.session_policy,
            &mut conflicts,
        );
    }
    if conflicts.is_empty() {
        Ok(out)
    } else {
        Err(conflicts)
    }
}

pub fn user_update_is_empty(update: &UserUpdate) -> bool {
    *update == UserUpdate::default()
}

pub fn company_update_is_empty(update: &CompanyUpdate) -> bool {
    *update == CompanyUpdate::default()
}

/// The sentence a person sees for a conflict.
pub fn conflict_message(fields: &[String]) -> String {
    let names: Vec<&str> = fields
        .iter()
        .map(|f| match f.as_str() {
            "display_name" => "name",
            "mobile_phone" => "mobile phone",
            "two_factor_enabled" => "two-factor setting",
            "two_factor_required" => "company two-factor setting",
            "name" => "company name",
            "offline_policy" => "offline sign-in setting",
            "session_policy" => "session limits",
            other => other,
        })
        .collect();
    format!(
        "Someone else changed the {} meanwhile, so this change was not applied. Review it and edit again.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_way_merge_per_field() {
        assert_eq!(merge_field(&1, &2, Some(&1)), Merge::Apply);
        assert_eq!(merge_field(&2, &2, Some(&1)), Merge::Converged);
        assert_eq!(merge_field(&3, &2, Some(&1)), Merge::Conflict);
        assert_eq!(
            merge_field(&3, &2, None),
            Merge::Conflict,
            "a change without a base must never overwrite an unknown value"
        );
        assert_eq!(merge_field(&2, &2, None), Merge::Converged);
    }

    #[test]
    fn phones_compare_as_e164() {
        assert_eq!(
            phone_key(&Some("(480) 555-0142".into())),
            phone_key(&Some("+14805550142".into())),
            "the same number typed two ways is the same value"
        );
        assert_eq!(phone_key(&Some("  ".into())), None);
    }
}
