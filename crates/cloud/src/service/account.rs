//! What any signed-in user may read: themselves, their company, its users.

use secureclose_protocol::{Company, MeResponse, User};

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

/// Every user of the caller's company (never another company's).
pub async fn users(state: &AppState, authed: &AuthedUser) -> Result<Vec<User>, CloudError> {
    db::users::users_of_company(&state.db, &authed.user.company_id).await
}
