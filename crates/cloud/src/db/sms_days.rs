//! `company_sms_days`: how many texts each company sent per UTC day, for the
//! company's daily cap. One conditional upsert takes a text off the day's
//! budget, so instances racing on one database never exceed it together.

use super::Db;
use crate::error::CloudError;

/// A UTC day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The UTC day `now` falls in (days since the epoch).
pub fn day_of(now: i64) -> i64 {
    now.div_euclid(DAY_MS)
}

/// When that day's count starts again: the next midnight UTC.
pub fn next_day_starts(now: i64) -> i64 {
    (day_of(now) + 1).saturating_mul(DAY_MS)
}

/// Counts one text on the company's day if fewer than `cap` were counted;
/// whether it was. The check and the count are one statement: the row is
/// created by the first text of the day, and on conflict updated only while
/// under the cap (no row comes back when the cap is reached).
pub async fn take(db: &Db, company_id: &str, day: i64, cap: i64) -> Result<bool, CloudError> {
    if cap <= 0 {
        return Ok(false);
    }
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO company_sms_days (company_id, day, texts) VALUES ($1, $2, 1) \
         ON CONFLICT (company_id, day) DO UPDATE SET texts = company_sms_days.texts + 1 \
         WHERE company_sms_days.texts < $3 RETURNING texts",
    )
    .bind(company_id)
    .bind(day)
    .bind(cap)
    .fetch_optional(&db.pool)
    .await?;
    Ok(counted.is_some())
}

/// Gives back a text [`take`] counted but that was never handed to the
/// carrier (another instance won the send).
pub async fn give_back(db: &Db, company_id: &str, day: i64) -> Result<(), CloudError> {
    sqlx::query(
        "UPDATE company_sms_days SET texts = texts - 1 \
         WHERE company_id = $1 AND day = $2 AND texts > 0",
    )
    .bind(company_id)
    .bind(day)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Texts the company sent on `day` (for the operator and tests).
pub async fn count(db: &Db, company_id: &str, day: i64) -> Result<i64, CloudError> {
    let texts: Option<i64> =
        sqlx::query_scalar("SELECT texts FROM company_sms_days WHERE company_id = $1 AND day = $2")
            .bind(company_id)
            .bind(day)
            .fetch_optional(&db.pool)
            .await?;
    Ok(texts.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_the_next_starts_at_midnight() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(next_day_starts(DAY_MS + 5), 2 * DAY_MS);
        assert_eq!(day_of(-1), -1, "before the epoch still floors");
    }
}
