//! The one gate every text message passes on its way to the carrier (SMS
//! pumping and toll fraud): the destination's country must be one the
//! company allows, the user and the number must be within their send budget
//! (kept per user and per number, across resends and sign-in attempts), and
//! the company within its daily cap. A [`Permit`] is the only way to reach
//! the [`crate::sms::SmsGateway`]. Every limit is counted in the database,
//! so all instances on one database enforce them together.

use secureclose_protocol::User;
use sqlx::AnyConnection;

use crate::db::audit::{self, kinds, Event};
use crate::db::companies::SmsPolicy;
use crate::db::{self, challenges, sms_days};
use crate::error::CloudError;
use crate::phone;
use crate::sms::SmsError;
use crate::state::AppState;

/// Countries a new company texts: the United States and Canada.
pub const DEFAULT_COUNTRIES: [&str; 2] = ["US", "CA"];
/// Texts a company may send per UTC day unless the operator says otherwise:
/// a dealership of 50 people signing in twice a day with a resend each needs
/// 200; a pumping script is stopped there instead of at the carrier's bill.
pub const DEFAULT_DAILY_CAP: i64 = 200;
/// The most the operator may allow (a very large dealer group).
pub const MAX_DAILY_CAP: i64 = 100_000;

/// One text, cleared by every guard and counted, not sent yet. Send it, or
/// give it back when it will not be sent after all.
#[must_use = "a permit counts a text: send it or give it back"]
#[derive(Debug)]
pub struct Permit {
    to: String,
    send_id: String,
    company_id: String,
    day: i64,
}

/// Clears one text to `to` about `subject` (whose budget and company it
/// counts on), asked for by `actor` (the subject at sign-in, an admin for a
/// setup code). `what` names the text in the audit row of a refusal.
pub async fn reserve(
    state: &AppState,
    actor: &User,
    subject: &User,
    to: &str,
    what: &str,
) -> Result<Permit, CloudError> {
    let db = &state.db;
    let now = state.now();
    let policy = db::companies::sms_policy(db, &subject.company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company of user {} missing", subject.id)))?;
    let refuse = |error: CloudError, why: String| async move {
        let detail = format!("{what} to {}: {why}", phone::hint(to));
        audit::record(
            db,
            now,
            Event::about(kinds::SMS_REFUSED, actor, subject, detail),
        )
        .await?;
        tracing::warn!(user_id = %subject.id, company_id = %subject.company_id, code = error.code(), "text refused by a guardrail");
        Err::<Permit, CloudError>(error)
    };

    if let Some((country, error)) = country_refusal(&policy, to) {
        let why = format!(
            "country {country} not allowed ({})",
            policy.countries_text()
        );
        return refuse(error, why).await;
    }

    let send_id = match challenges::reserve_send(db, &subject.id, to, now).await {
        Ok(send_id) => send_id,
        Err(error @ CloudError::SmsLimit { .. }) => {
            return refuse(
                error,
                "the user's or number's send budget is used up".into(),
            )
            .await
        }
        Err(error) => return Err(error),
    };

    let day = sms_days::day_of(now);
    if !sms_days::take(db, &subject.company_id, day, policy.daily_cap).await? {
        challenges::delete_send(db, &send_id).await?;
        let error = CloudError::SmsDailyCap {
            cap: policy.daily_cap,
            retry_at: sms_days::next_day_starts(now),
        };
        let why = format!("the company's daily cap of {} is reached", policy.daily_cap);
        return refuse(error, why).await;
    }
    Ok(Permit {
        to: to.to_string(),
        send_id,
        company_id: subject.company_id.clone(),
        day,
    })
}

/// The refusal (and the country it names) for a number outside the
/// company's allowed countries.
fn country_refusal(policy: &SmsPolicy, phone: &str) -> Option<(String, CloudError)> {
    let country = phone::country(phone);
    let allowed = country
        .as_deref()
        .is_some_and(|c| policy.countries.iter().any(|a| a == c));
    if allowed {
        return None;
    }
    let country = country.unwrap_or_else(|| "an unknown country".into());
    let error = CloudError::SmsCountryNotAllowed {
        country: country.clone(),
        allowed: policy.countries.join(", "),
    };
    Some((country, error))
}

/// Refuses saving a mobile phone the company could never text: the same
/// country rule as [`reserve`], applied when an admin saves the number, so
/// the mistake shows in the edit dialog instead of at the user's sign-in.
pub async fn check_phone_country(
    conn: &mut AnyConnection,
    company_id: &str,
    phone: &str,
) -> Result<(), CloudError> {
    let policy = db::companies::sms_policy_in(conn, company_id)
        .await?
        .ok_or_else(|| CloudError::Internal(format!("company {company_id} missing")))?;
    match country_refusal(&policy, phone) {
        Some((_, error)) => Err(error),
        None => Ok(()),
    }
}

impl Permit {
    /// Hands the text to the carrier. A failed send stays counted: the
    /// attempt may have cost money, and retrying must not escape the limits.
    pub async fn send(self, state: &AppState, body: &str) -> Result<(), SmsError> {
        state.sms.send(&self.to, body).await
    }

    /// The text will not be sent (another instance won the race to send it):
    /// it counts on no budget.
    pub async fn give_back(self, state: &AppState) -> Result<(), CloudError> {
        challenges::delete_send(&state.db, &self.send_id).await?;
        sms_days::give_back(&state.db, &self.company_id, self.day).await
    }
}
