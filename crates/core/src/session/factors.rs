//! The signed-in person's own second factors: adding and removing an
//! authenticator app (online only). The secret the cloud returns passes
//! through to the UI once (for the QR code and the typed form) and is never
//! cached, logged or kept here.

use std::sync::Arc;

use secureclose_protocol::{TotpEnrollment, TotpStatus};

use super::{lock, tokens};
use crate::context::Context;
use crate::error::{desktop_codes, CoreError};
use crate::sensitive::Sensitive;

fn needs_connection() -> CoreError {
    CoreError::Refused {
        code: desktop_codes::OFFLINE,
        message: "Setting up or removing an authenticator app needs a connection to \
                  SecureClose. Try again once SecureClose is back online."
            .into(),
        retry_at: None,
    }
}

/// The cloud session token of the signed-in, unlocked person; offline
/// sign-ins have none.
async fn cloud_token(ctx: &Arc<Context>) -> Result<(Sensitive<String>, String), CoreError> {
    let session = lock::guard(ctx).await?;
    if ctx.signed_in_offline() {
        return Err(needs_connection());
    }
    match tokens::session_token(ctx, &session) {
        Ok(token) => Ok((token, session.user_id)),
        Err(CoreError::NotSignedIn) => Err(needs_connection()),
        Err(err) => Err(err),
    }
}

pub(crate) async fn totp_status(ctx: &Arc<Context>) -> Result<TotpStatus, CoreError> {
    let (token, _) = cloud_token(ctx).await?;
    let answer = ctx.client().totp_status(&token).await;
    super::signed_in_call(ctx, answer).await
}

pub(crate) async fn begin_totp(ctx: &Arc<Context>) -> Result<TotpEnrollment, CoreError> {
    let (token, _) = cloud_token(ctx).await?;
    let answer = ctx.client().begin_totp(&token).await;
    super::signed_in_call(ctx, answer).await
}

/// The app's first code. A factor change ends the person's other sessions
/// and this computer's offline grant on the cloud; the grant is forgotten
/// here too (the next online sign-in brings a new one).
pub(crate) async fn confirm_totp(
    ctx: &Arc<Context>,
    enrollment_id: &str,
    code: &str,
) -> Result<TotpStatus, CoreError> {
    let (token, user_id) = cloud_token(ctx).await?;
    let answer = ctx
        .client()
        .confirm_totp(&token, enrollment_id, code.trim())
        .await;
    let status = super::signed_in_call(ctx, answer).await?;
    tokens::forget_device_token(ctx, &user_id);
    tracing::info!(user_id = %user_id, "authenticator app added");
    Ok(status)
}

pub(crate) async fn remove_totp(ctx: &Arc<Context>) -> Result<(), CoreError> {
    let (token, user_id) = cloud_token(ctx).await?;
    let answer = ctx.client().remove_totp(&token).await;
    super::signed_in_call(ctx, answer).await?;
    tokens::forget_device_token(ctx, &user_id);
    tracing::info!(user_id = %user_id, "authenticator app removed");
    Ok(())
}
