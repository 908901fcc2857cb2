//! Admins' account actions that only the cloud can perform: adding a user,
//! resetting a password or a second factor, texting a setup code, ending a
//! user's sessions. Unlike edits they are
//! never queued (a setup code exists only in the cloud's answer), so they
//! need the connection and fail clearly without it.

use secureclose_protocol::{
    codes, NewUserRequest, SetupCodeGrant, SetupCodeTexted, TrustedComputer, User,
};

use crate::context::Context;
use crate::edits::admin_context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::session::{self, tokens};

/// Adds a user to the signed-in admin's company. The new user is stored in
/// the cache as an edit's answer is, so the list shows them at once; the
/// setup code is only in the returned grant (never cached, never logged).
pub(crate) async fn create_user(
    ctx: &Context,
    request: &NewUserRequest,
) -> Result<SetupCodeGrant, CoreError> {
    let (session, cache) = admin_context(ctx, "adding users").await?;
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let grant =
        session::signed_in_call(ctx, ctx.client().create_user(&token, request).await).await?;
    cache.store_user(&grant.user).await?;
    tracing::info!(user_id = %grant.user.id, "user added");
    Ok(grant)
}

/// What the cloud answers an admin resetting their own password.
pub const OWN_PASSWORD_RESET_MESSAGE: &str =
    "Change your own password in your profile: it asks for your current password.";

/// A new setup code for `user_id`; their old password and sessions end.
/// Never the admin's own: that would replace a password without the current
/// one (the cloud refuses it too).
pub(crate) async fn reset_password(
    ctx: &Context,
    user_id: &str,
) -> Result<SetupCodeGrant, CoreError> {
    let (session, cache) = admin_context(ctx, "resetting passwords").await?;
    if session.user_id == user_id {
        return Err(CoreError::Refused {
            code: codes::OWN_PASSWORD_RESET,
            message: OWN_PASSWORD_RESET_MESSAGE.into(),
            retry_at: None,
        });
    }
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let grant =
        session::signed_in_call(ctx, ctx.client().reset_password(&token, user_id).await).await?;
    cache.store_user(&grant.user).await?;
    tracing::info!(%user_id, "password reset");
    Ok(grant)
}

/// Texts `user_id`'s setup code (the one this admin was just shown) to the
/// mobile phone on their profile; the cloud picks the number.
pub(crate) async fn text_setup_code(
    ctx: &Context,
    user_id: &str,
    setup_code: &Sensitive<String>,
) -> Result<SetupCodeTexted, CoreError> {
    let (session, _cache) = admin_context(ctx, "texting setup codes").await?;
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let call = ctx
        .client()
        .text_setup_code(&token, user_id, setup_code)
        .await;
    let texted = session::signed_in_call(ctx, call).await?;
    tracing::info!(%user_id, "setup code texted");
    Ok(texted)
}

/// What the cloud answers an admin resetting their own second factor.
pub const OWN_TWO_FACTOR_RESET_MESSAGE: &str =
    "Another administrator must reset your own two-step verification.";

/// Break-glass for a lost phone or app: removes `user_id`'s authenticator
/// app and mobile phone on the cloud (with the admin's reason, audited) and
/// caches the user as the cloud now has them. Never the admin's own.
pub(crate) async fn reset_two_factor(
    ctx: &Context,
    user_id: &str,
    reason: &str,
) -> Result<User, CoreError> {
    let (session, cache) = admin_context(ctx, "resetting two-step verification").await?;
    if session.user_id == user_id {
        return Err(CoreError::Refused {
            code: codes::OWN_TWO_FACTOR_RESET,
            message: OWN_TWO_FACTOR_RESET_MESSAGE.into(),
            retry_at: None,
        });
    }
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let call = ctx.client().reset_two_factor(&token, user_id, reason).await;
    let user = session::signed_in_call(ctx, call).await?;
    cache.store_user(&user).await?;
    tracing::info!(%user_id, "second factor reset");
    Ok(user)
}

/// Ends every session and offline grant of `user_id` on the cloud.
pub(crate) async fn revoke_sessions(ctx: &Context, user_id: &str) -> Result<(), CoreError> {
    let (session, _cache) = admin_context(ctx, "signing users out").await?;
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    session::signed_in_call(ctx, ctx.client().revoke_sessions(&token, user_id).await).await?;
    tracing::info!(%user_id, "user signed out everywhere");
    Ok(())
}

/// A user's trusted computers, for the admin's Edit dialog.
pub(crate) async fn user_trusted_computers(
    ctx: &Context,
    user_id: &str,
) -> Result<Vec<TrustedComputer>, CoreError> {
    let (session, _cache) = admin_context(ctx, "seeing users' trusted computers").await?;
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let answer = ctx.client().user_trusted_computers(&token, user_id).await;
    session::signed_in_call(ctx, answer).await
}

/// An admin revokes one of a user's trusted computers.
pub(crate) async fn revoke_user_trusted_computer(
    ctx: &Context,
    user_id: &str,
    id: &str,
) -> Result<(), CoreError> {
    let (session, _cache) = admin_context(ctx, "revoking trusted computers").await?;
    require_cloud_session(ctx)?;
    let token = tokens::session_token(ctx, &session)?;
    let answer = ctx
        .client()
        .revoke_user_trusted_computer(&token, user_id, id)
        .await;
    session::signed_in_call(ctx, answer).await?;
    tracing::info!(%user_id, "a user's trusted computer revoked");
    Ok(())
}

/// An offline sign-in has no cloud session (until the sync resumes one):
/// say so rather than send a token the cloud never issued.
fn require_cloud_session(ctx: &Context) -> Result<(), CoreError> {
    if ctx.signed_in_offline() {
        return Err(CoreError::Offline {
            url: ctx.client().base_url().to_owned(),
        });
    }
    Ok(())
}
