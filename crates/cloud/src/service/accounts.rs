//! Accounts coming to exist and getting their passwords: the operator
//! onboards a company with its first admin, admins add users, reset
//! passwords and end sessions. Every new account (and every reset) gets a
//! one-time setup code that the person redeems at `/account/activate`.
//! Admins act only inside their own company: another company's user ids
//! answer 403 like ids that do not exist (see `users::get_user`).

use std::time::Duration;

use secureclose_protocol::rules::{self, Refusal};
use secureclose_protocol::{
    codes, Company, NewUserRequest, OfflinePolicy, Role, SetupCodeGrant, SetupCodeTexted, User,
    UserStatus, UserUpdate,
};
use sqlx::AnyConnection;

use super::sessions::AdminUser;
use super::sms_guard;
use crate::clock::{ms, Clock, SystemClock};
use crate::db::audit::{self, kinds, Event};
use crate::db::companies::{next_change_seq, NewCompany};
use crate::db::security::{self, Scope};
use crate::db::{self, users::NewUser, Db};
use crate::error::CloudError;
use crate::passwords::PasswordHasher;
use crate::phone;
use crate::state::AppState;
use crate::tokens::{self, new_setup_code, normalize_code, random_password, token_hash};

/// How long a setup code works.
pub const SETUP_CODE_TTL: Duration = Duration::from_secs(72 * 60 * 60);

/// A fresh setup code with what the database keeps of it.
struct SetupCode {
    code: String,
    hash: String,
    expires_at: i64,
}

fn new_code(now: i64) -> SetupCode {
    let code = new_setup_code();
    SetupCode {
        hash: token_hash(&normalize_code(&code)),
        code,
        expires_at: now.saturating_add(ms(SETUP_CODE_TTL)),
    }
}

/// The hash of a random password nobody is told: the account has a password
/// hash like any other (so `/login` answers as for a wrong password) until
/// its setup code is redeemed.
async fn unusable_password_hash(hasher: &PasswordHasher) -> Result<String, CloudError> {
    hasher.hash(random_password(32)).await
}

/// The fields of a new user, checked and normalised as the rules store them.
struct CheckedUser {
    display_name: String,
    email: String,
    mobile_phone: Option<String>,
    two_factor_enabled: bool,
}

fn check_new_user(request: &NewUserRequest, company: &Company) -> Result<CheckedUser, Refusal> {
    let display_name = rules::check_name(&request.display_name)?;
    let email = rules::check_email(&request.email)?;
    let mobile_phone = rules::check_phone(request.mobile_phone.as_deref())?;
    let two_factor_enabled = request.two_factor_enabled.unwrap_or(false);
    // The same 2FA rules as an edit that sets phone and toggle on a blank user.
    let before = User {
        id: String::new(),
        company_id: company.id.clone(),
        email: email.clone(),
        display_name: display_name.clone(),
        role: request.role,
        status: UserStatus::Active,
        mobile_phone: None,
        phone_verified_at: None,
        two_factor_enabled: false,
        security_withheld: false,
        version: 0,
        updated_at: 0,
    };
    let after = User {
        mobile_phone: mobile_phone.clone(),
        two_factor_enabled,
        ..before.clone()
    };
    let update = UserUpdate {
        mobile_phone: Some(mobile_phone.clone()),
        two_factor_enabled: Some(two_factor_enabled),
        ..UserUpdate::default()
    };
    rules::check_user_two_factor(&before, &update, &after, company)?;
    Ok(CheckedUser {
        display_name,
        email,
        mobile_phone,
        two_factor_enabled,
    })
}

/// Inserts a checked user with a fresh setup code inside `tx` (change seq
/// taken first, see `next_change_seq`), audits it and returns the grant.
async fn insert_user(
    tx: &mut AnyConnection,
    company_id: &str,
    user: &CheckedUser,
    role: Role,
    password_hash: &str,
    actor: Option<&str>,
    now: i64,
) -> Result<SetupCodeGrant, CloudError> {
    let seq = next_change_seq(tx, company_id).await?;
    if db::users::email_taken(tx, company_id, &user.email, "").await? {
        return Err(CloudError::Conflict(db::users::EMAIL_TAKEN.into()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let code = new_code(now);
    let row = NewUser {
        id: &id,
        company_id,
        email: &user.email,
        display_name: &user.display_name,
        role,
        mobile_phone: user.mobile_phone.as_deref(),
        two_factor_enabled: user.two_factor_enabled,
        password_hash,
        setup_code_hash: &code.hash,
        setup_code_expires_at: code.expires_at,
    };
    db::users::insert(tx, &row, now, seq).await?;
    let mut detail = format!("role {}", role.as_str());
    if let Some(phone) = &user.mobile_phone {
        detail.push_str(&format!(", phone {}", phone::hint(phone)));
    }
    if actor.is_none() {
        detail.push_str(", by the operator (secureclose-cloud company create)");
    }
    let event = Event {
        kind: kinds::USER_CREATED,
        actor_user_id: actor,
        subject_user_id: Some(&id),
        company_id: Some(company_id),
        detail,
    };
    audit::record_in(tx, now, event).await?;
    let user = db::users::user_in(tx, &id)
        .await?
        .ok_or_else(|| CloudError::Internal("a user just inserted is missing".into()))?;
    Ok(SetupCodeGrant {
        user,
        setup_code: code.code,
        setup_code_expires_at: code.expires_at,
    })
}

/// An admin adds a user to their company: the shared rules for name, email,
/// phone and 2FA apply; the answer carries the one-time setup code.
pub async fn create_user(
    state: &AppState,
    admin: &AdminUser,
    request: &NewUserRequest,
) -> Result<SetupCodeGrant, CloudError> {
    let actor = &admin.authed().user;
    let company = db::companies::company_of(&state.db, actor).await?;
    let checked = check_new_user(request, &company)?;
    // Hash before the transaction: argon2 is slow and SQLite has one writer.
    let hash = unusable_password_hash(&state.hasher).await?;
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    if let Some(phone) = &checked.mobile_phone {
        sms_guard::check_phone_country(&mut tx, &company.id, phone).await?;
    }
    let grant = insert_user(
        &mut tx,
        &company.id,
        &checked,
        request.role,
        &hash,
        Some(&actor.id),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %grant.user.id, actor = %actor.id, "user created");
    Ok(grant)
}

/// The target of an admin action: a user of the admin's company, or 403.
pub(super) async fn own_user(
    tx: &mut AnyConnection,
    admin: &AdminUser,
    id: &str,
) -> Result<User, CloudError> {
    match db::users::user_in(tx, id).await? {
        Some(user) if user.company_id == admin.authed().user.company_id => Ok(user),
        _ => Err(CloudError::Forbidden),
    }
}

/// An admin resets another user's password (their own they change in their
/// profile, with the current one): a new setup code replaces any earlier
/// one, the old password stops working, a lock or delay is lifted (the
/// admin vouches for the person), and every session, device grant and
/// sign-in attempt of the user ends.
pub async fn reset_password(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
) -> Result<SetupCodeGrant, CloudError> {
    let actor = &admin.authed().user;
    if id == actor.id {
        return Err(CloudError::OwnPasswordReset);
    }
    let hash = unusable_password_hash(&state.hasher).await?;
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let target = own_user(&mut tx, admin, id).await?;
    let code = new_code(now);
    db::users::set_setup_code(&mut tx, &target.id, &hash, &code.hash, code.expires_at).await?;
    db::counters::clear_counters(&mut tx, &target.id).await?;
    security::end_sessions(&mut tx, Scope::User(&target.id), now, None).await?;
    let event = Event::about(kinds::PASSWORD_RESET, actor, &target, String::new());
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, "password reset");
    Ok(SetupCodeGrant {
        user: target,
        setup_code: code.code,
        setup_code_expires_at: code.expires_at,
    })
}

/// How often one setup code may be texted: the first text and two retries
/// (a slow carrier, a deleted message). Each text is one more copy of a
/// secret that sets the password; a number that still gets nothing needs
/// fixing in Edit, and a reset gives a fresh code.
pub const SETUP_CODE_TEXTS: u32 = 3;

/// The text message: the code in its shown form and what to do with it.
fn setup_code_sms(code: &str) -> String {
    format!(
        "SecureClose setup code: {code}. At the sign-in screen choose \"First time here? \
         Set up your account\" and enter it with your email. It works once. Don't share it."
    )
}

/// An admin texts a user's current setup code (the one the admin was just
/// shown) to the mobile phone on the user's profile. The code must be the
/// user's outstanding, unexpired one; one code is texted at most
/// [`SETUP_CODE_TEXTS`] times, and every text passes the SMS guardrails of
/// sign-in codes (`sms_guard`: country, the phone's and user's budget, the
/// company's daily cap). Audited, never the code.
pub async fn text_setup_code(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    typed: &str,
) -> Result<SetupCodeTexted, CloudError> {
    let actor = &admin.authed().user;
    let code = normalize_code(typed);
    if code.is_empty() || code.len() > 64 {
        return Err(CloudError::SetupCodeNotCurrent);
    }
    let code_hash = token_hash(&code);
    let db = &state.db;
    let now = state.now();
    let mut conn = db.pool.acquire().await?;
    let target = own_user(&mut conn, admin, id).await?;
    let stored = db::users::setup_code_of(&mut conn, &target.id)
        .await?
        .ok_or(CloudError::Forbidden)?;
    if !tokens::setup_code_fits(stored.hash.as_deref(), stored.expires_at, &code_hash, now) {
        return Err(CloudError::SetupCodeNotCurrent);
    }
    let Some(phone) = target.mobile_phone.clone() else {
        return Err(CloudError::NoMobilePhone);
    };
    let limit = i64::from(SETUP_CODE_TEXTS);
    if !db::users::claim_setup_code_text(&mut conn, &target.id, &code_hash, now, limit).await? {
        // Lost to a racing text, or the code changed since it was read.
        let again = db::users::setup_code_of(&mut conn, &target.id).await?;
        return Err(match again {
            Some(again) if again.hash == stored.hash && again.texts >= limit => {
                CloudError::SetupCodeTextLimit {
                    limit: SETUP_CODE_TEXTS,
                }
            }
            _ => CloudError::SetupCodeNotCurrent,
        });
    }
    // The other calls take their own connections from the pool.
    drop(conn);
    let texts = u32::try_from(stored.texts.saturating_add(1)).unwrap_or(SETUP_CODE_TEXTS);
    let release = || async {
        let mut conn = db.pool.acquire().await?;
        db::users::release_setup_code_text(&mut conn, &target.id, &code_hash).await
    };
    let permit = match sms_guard::reserve(state, actor, &target, &phone, "setup code").await {
        Ok(permit) => permit,
        Err(error) => {
            release().await?;
            return Err(error);
        }
    };
    let hint = phone::hint(&phone);
    let body = setup_code_sms(&tokens::display_setup_code(&code));
    if let Err(error) = permit.send(state, &body).await {
        // Never delivered: it does not count against this code.
        release().await?;
        let detail = format!("to {hint}: {error}");
        let event = Event::about(kinds::SETUP_CODE_TEXT_FAILED, actor, &target, detail);
        audit::record(db, now, event).await?;
        return Err(error.into());
    }
    let detail = format!("to {hint}, text {texts} of {SETUP_CODE_TEXTS}");
    let event = Event::about(kinds::SETUP_CODE_TEXTED, actor, &target, detail);
    audit::record(db, now, event).await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, gateway = state.sms.name(), "setup code texted");
    Ok(SetupCodeTexted {
        phone_hint: hint,
        texts_left: SETUP_CODE_TEXTS.saturating_sub(texts),
    })
}

/// An admin signs a user out everywhere: every session, device grant and
/// open sign-in attempt ends (an admin doing it to themselves keeps the
/// session they do it from).
pub async fn revoke_sessions(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
) -> Result<(), CloudError> {
    let authed = admin.authed();
    let actor = &authed.user;
    let now = state.now();
    let mut tx = state.db.pool.begin().await?;
    let target = own_user(&mut tx, admin, id).await?;
    let keep = (target.id == actor.id).then_some(authed.session_token_hash.as_str());
    security::end_sessions(&mut tx, Scope::User(&target.id), now, keep).await?;
    let event = Event::about(kinds::SESSIONS_REVOKED, actor, &target, String::new());
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %target.id, actor = %actor.id, "sessions revoked");
    Ok(())
}

/// What the operator types to onboard a dealership.
#[derive(Debug, Clone)]
pub struct Onboarding {
    pub name: String,
    pub dms_kind: String,
    pub dms_supports_two_factor: bool,
    pub admin_email: String,
    pub admin_name: String,
    pub admin_phone: Option<String>,
}

/// A company just onboarded, with its first admin's setup code.
#[derive(Debug)]
pub struct Onboarded {
    pub company: Company,
    pub admin: SetupCodeGrant,
}

/// Offline sign-in of a new company: off until an admin turns it on (the
/// window it then starts from: three days).
const NEW_COMPANY_OFFLINE: OfflinePolicy = OfflinePolicy {
    allowed: false,
    max_hours: 72,
};

fn operator_refusal(refusal: Refusal, field: &str) -> CloudError {
    CloudError::Validation(format!("{field}: {}", refusal.message))
}

/// The operator onboards a company and its first admin in one transaction
/// (`secureclose-cloud company create`): nothing is created when any input
/// is refused. Audited, with no actor (the operator is not a user).
pub async fn create_company(db: &Db, request: &Onboarding) -> Result<Onboarded, CloudError> {
    let name = rules::check_name(&request.name).map_err(|r| operator_refusal(r, "--name"))?;
    let dms_kind =
        rules::check_name(&request.dms_kind).map_err(|r| operator_refusal(r, "--dms-kind"))?;
    let id = uuid::Uuid::new_v4().to_string();
    let company = Company {
        id: id.clone(),
        name: name.clone(),
        two_factor_required: false,
        dms: secureclose_protocol::DmsIntegration {
            kind: dms_kind.clone(),
            supports_two_factor: request.dms_supports_two_factor,
        },
        offline_policy: NEW_COMPANY_OFFLINE,
        session_policy: Default::default(),
        version: 1,
    };
    let admin_request = NewUserRequest {
        display_name: request.admin_name.clone(),
        email: request.admin_email.clone(),
        role: Role::Admin,
        mobile_phone: request.admin_phone.clone(),
        two_factor_enabled: None,
    };
    let admin = check_new_user(&admin_request, &company).map_err(|refusal| {
        let field = if refusal.code == codes::INVALID_PHONE {
            "--admin-phone"
        } else if refusal.message.contains("email") {
            "--admin-email"
        } else {
            "--admin-name"
        };
        operator_refusal(refusal, field)
    })?;
    let hash = tokio::task::spawn_blocking(|| {
        crate::passwords::hash_password_blocking(&random_password(32))
    })
    .await
    .map_err(|e| CloudError::Internal(format!("hash task: {e}")))??;
    let now = SystemClock.now_ms();
    let mut tx = db.pool.begin().await?;
    let new = NewCompany {
        id: &id,
        name: &name,
        dms_kind: &dms_kind,
        dms_supports_two_factor: request.dms_supports_two_factor,
        offline_policy: &NEW_COMPANY_OFFLINE,
    };
    db::companies::insert(&mut tx, &new, now).await?;
    let event = Event {
        kind: kinds::COMPANY_CREATED,
        actor_user_id: None,
        subject_user_id: None,
        company_id: Some(&id),
        detail: format!(
            "by the operator: DMS {dms_kind}, 2FA {}",
            if request.dms_supports_two_factor {
                "supported"
            } else {
                "not supported"
            }
        ),
    };
    audit::record_in(&mut tx, now, event).await?;
    let grant = match insert_user(&mut tx, &id, &admin, Role::Admin, &hash, None, now).await {
        Err(CloudError::Conflict(_)) => {
            return Err(CloudError::Validation(format!(
                "--admin-email: an account with the email {} already exists",
                admin.email
            )))
        }
        other => other?,
    };
    let company = db::companies::company_in(&mut tx, &id)
        .await?
        .ok_or_else(|| CloudError::Internal("a company just inserted is missing".into()))?;
    tx.commit().await?;
    tracing::info!(company_id = %id, "company onboarded by the operator");
    Ok(Onboarded {
        company,
        admin: grant,
    })
}

/// Every company with its number of users and SMS guardrails
/// (`secureclose-cloud company list`).
pub async fn list_companies(db: &Db) -> Result<Vec<db::companies::CompanyListing>, CloudError> {
    db::companies::all_with_user_counts(db).await
}

/// The operator sets a company's DMS integration and whether it supports
/// 2FA (`secureclose-cloud company set-dms`): desktops pull the change, and
/// open sign-in attempts close (they were opened under the old rule).
pub async fn set_dms(
    db: &Db,
    company_id: &str,
    kind: &str,
    supports_two_factor: bool,
) -> Result<Company, CloudError> {
    let kind = rules::check_name(kind).map_err(|r| operator_refusal(r, "--dms-kind"))?;
    let now = SystemClock.now_ms();
    let mut tx = db.pool.begin().await?;
    let Ok(seq) = next_change_seq(&mut tx, company_id).await else {
        return Err(CloudError::Validation(format!(
            "no company has the id {company_id}"
        )));
    };
    if !db::companies::write_dms(&mut tx, company_id, &kind, supports_two_factor, now, seq).await? {
        return Err(CloudError::Validation(format!(
            "no company has the id {company_id}"
        )));
    }
    security::close_sign_in_attempts(&mut tx, Scope::Company(company_id), now).await?;
    let event = Event {
        kind: kinds::COMPANY_UPDATED,
        actor_user_id: None,
        subject_user_id: None,
        company_id: Some(company_id),
        detail: format!(
            "dms by the operator: {kind}, 2FA {}",
            if supports_two_factor {
                "supported"
            } else {
                "not supported"
            }
        ),
    };
    audit::record_in(&mut tx, now, event).await?;
    let company = db::companies::company_in(&mut tx, company_id)
        .await?
        .ok_or_else(|| CloudError::Internal("company vanished".into()))?;
    tx.commit().await?;
    Ok(company)
}

/// `--countries US,CA`: each a country code the phone metadata knows, upper
/// cased, without repeats, in the order given.
fn parse_countries(list: &str) -> Result<Vec<String>, CloudError> {
    let mut countries: Vec<String> = Vec::new();
    for item in list.split(',') {
        let Some(country) = phone::known_country(item) else {
            return Err(CloudError::Validation(format!(
                "--countries: {:?} is not a country code (two letters, e.g. US, CA, MX)",
                item.trim()
            )));
        };
        if !countries.contains(&country) {
            countries.push(country);
        }
    }
    Ok(countries)
}

/// The operator sets where a company's texts may go and how many it may
/// send per UTC day (`secureclose-cloud company set-sms`): fraud controls
/// are the operator's call, like the DMS. Either may be left as it is;
/// refused input changes nothing. Audited.
pub async fn set_sms(
    db: &Db,
    company_id: &str,
    countries: Option<&str>,
    daily_cap: Option<i64>,
) -> Result<db::companies::SmsPolicy, CloudError> {
    if countries.is_none() && daily_cap.is_none() {
        return Err(CloudError::Validation(
            "give --countries, --daily-cap or both".into(),
        ));
    }
    let countries = countries.map(parse_countries).transpose()?;
    if let Some(cap) = daily_cap {
        if !(1..=sms_guard::MAX_DAILY_CAP).contains(&cap) {
            return Err(CloudError::Validation(format!(
                "--daily-cap: between 1 and {} texts a day",
                sms_guard::MAX_DAILY_CAP
            )));
        }
    }
    let unknown = || CloudError::Validation(format!("no company has the id {company_id}"));
    let mut policy = db::companies::sms_policy(db, company_id)
        .await?
        .ok_or_else(unknown)?;
    if let Some(countries) = countries {
        policy.countries = countries;
    }
    if let Some(cap) = daily_cap {
        policy.daily_cap = cap;
    }
    let now = SystemClock.now_ms();
    let mut tx = db.pool.begin().await?;
    if !db::companies::write_sms_policy(&mut tx, company_id, &policy, now).await? {
        return Err(unknown());
    }
    let event = Event {
        kind: kinds::COMPANY_UPDATED,
        actor_user_id: None,
        subject_user_id: None,
        company_id: Some(company_id),
        detail: format!(
            "sms by the operator: countries {}, daily cap {}",
            policy.countries_text(),
            policy.daily_cap
        ),
    };
    audit::record_in(&mut tx, now, event).await?;
    tx.commit().await?;
    tracing::info!(company_id = %company_id, "SMS guardrails set by the operator");
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_known_codes_upper_cased_once() {
        assert_eq!(
            parse_countries("us, ca,US").unwrap(),
            vec!["US".to_string(), "CA".to_string()]
        );
        for bad in ["", "US,", "USA", "U S", "ZZ"] {
            assert!(parse_countries(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
