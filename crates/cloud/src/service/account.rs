//! What any signed-in user may read: themselves, their company, its users.

use secureclose_protocol::{rules, Company, MeResponse, User};

use super::sessions::AuthedUser;
use crate::db;
use crate::error::CloudError;
use crate::state::AppState;

pub async fn me(state: &AppState, authed: AuthedUser) -> Result<MeResponse, CloudError> {
    let company = db::companies::company_of(&state.db, &authed.user).await?;
    Ok(MeResponse {
        user: authed.user,
        company,
    })
}

pub async fn company(state: &AppState, authed: &AuthedUser) -> Result<Company, CloudError> {
    db::companies::company_of(&state.db, &authed.user).await
}

/// The users of the caller's company (never another company's) as the
/// caller may see them: a non-admin gets active colleagues' name, email and
/// role only (`rules::as_seen_by`).
pub async fn users(state: &AppState, authed: &AuthedUser) -> Result<Vec<User>, CloudError> {
    let users = db::users::users_of_company(&state.db, &authed.user.company_id).await?;
    Ok(users
        .into_iter()
        .filter_map(|user| rules::as_seen_by(&authed.user, user))
        .collect())
}
