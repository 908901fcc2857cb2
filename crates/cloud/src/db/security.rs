//! What ends a session (see DESIGN.md "What ends a session"). Every user has a
//! security stamp; sessions, sign-in attempts and device grants record the
//! stamp they were issued under and are honoured only while it is still the
//! user's. A security change bumps the stamp (ending all of them at once, also
//! those a sign-in in flight during the change is about to issue) and marks the
//! rows revoked or closed, so the tables say what happened.

use sqlx::AnyConnection;

use crate::error::CloudError;

/// Whose sessions a change ends.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    User(&'a str),
    /// Every user of a company (the company-wide 2FA toggle).
    Company(&'a str),
}

impl Scope<'_> {
    /// `column IN (...)`/`= ...` over user ids, with the id as `$n`.
    fn users_sql(self, column: &str, n: u32) -> String {
        match self {
            Scope::User(_) => format!("{column} = ${n}"),
            Scope::Company(_) => {
                format!("{column} IN (SELECT id FROM users WHERE company_id = ${n})")
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::User(_) => "user",
            Scope::Company(_) => "company",
        }
    }

    fn bind_value(self) -> String {
        match self {
            Scope::User(id) | Scope::Company(id) => id.to_string(),
        }
    }
}

/// Closes every open sign-in attempt (code or enrolment) in `scope`: a code
/// sent before the change can no longer complete a sign-in.
pub async fn close_sign_in_attempts(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    now: i64,
) -> Result<(), CloudError> {
    let sql = format!(
        "UPDATE login_challenges SET closed_at = $1, closed_reason = 'security_change' \
         WHERE closed_at IS NULL AND {}",
        scope.users_sql("user_id", 2)
    );
    sqlx::query(&sql)
        .bind(now)
        .bind(scope.bind_value())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends every session, device grant and open sign-in attempt in `scope`.
/// `keep`: the token hash of the session that made the change, when it must
/// survive (someone changing their own security settings stays signed in on
/// the computer they did it from); it moves to the new stamp.
pub async fn end_sessions(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    now: i64,
    keep: Option<&str>,
) -> Result<(), CloudError> {
    let bump = format!(
        "UPDATE users SET security_stamp = security_stamp + 1 WHERE {}",
        match scope {
            Scope::User(_) => "id = $1",
            Scope::Company(_) => "company_id = $1",
        }
    );
    sqlx::query(&bump)
        .bind(scope.bind_value())
        .execute(&mut *conn)
        .await?;
    revoke_sessions(conn, scope, now, keep).await?;
    close_sign_in_attempts(conn, scope, now).await?;
    tracing::info!(scope = scope.name(), "sessions ended by a security change");
    Ok(())
}

/// Marks every session and device grant in `scope` revoked (but `keep`, which
/// moves to the user's current stamp), without touching the stamp. Alone only
/// for a lock: the lock itself already refuses every sign-in attempt, with
/// its own answer, until an unlock ends everything.
pub async fn revoke_sessions(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    now: i64,
    keep: Option<&str>,
) -> Result<(), CloudError> {
    let keep = keep.unwrap_or("");
    let sessions = format!(
        "UPDATE sessions SET revoked_at = $1 WHERE revoked_at IS NULL AND token_hash <> $2 \
         AND {}",
        scope.users_sql("user_id", 3)
    );
    sqlx::query(&sessions)
        .bind(now)
        .bind(keep)
        .bind(scope.bind_value())
        .execute(&mut *conn)
        .await?;
    if !keep.is_empty() {
        sqlx::query(
            "UPDATE sessions SET security_stamp = \
             (SELECT security_stamp FROM users WHERE users.id = sessions.user_id) \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    }
    // Device grants, and trusted computers (a change must ask for the code
    // again everywhere; the stamp already ends them, this says so).
    for table in ["device_grants", "trusted_computers"] {
        let revoke = format!(
            "UPDATE {table} SET revoked_at = $1 WHERE revoked_at IS NULL AND {}",
            scope.users_sql("user_id", 2)
        );
        sqlx::query(&revoke)
            .bind(now)
            .bind(scope.bind_value())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
