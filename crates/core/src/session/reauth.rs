//! Re-authentication before a security change (adding or removing an
//! authenticator app, new recovery codes, an admin's reset of someone's
//! factors): the current password, then a code from a factor the person
//! has; the cloud keeps the proof on the session for five minutes. The
//! attempt's id stays here; the UI gets the challenge without it.

use std::sync::Arc;

use secureclose_protocol::{Challenge, ReauthStep, SecondFactorMethod};

use super::factors::cloud_token;
use crate::context::Context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;

/// The password step; for someone with a second factor, the attempt to
/// answer with [`verify_reauth`].
pub(crate) async fn reauthenticate(
    ctx: &Arc<Context>,
    password: &Sensitive<String>,
) -> Result<ReauthStep, CoreError> {
    let (token, _) = cloud_token(ctx).await?;
    let answer = ctx.client().reauth(&token, password).await;
    match super::signed_in_call(ctx, answer).await? {
        ReauthStep::Done { until } => {
            ctx.hold_reauth_attempt(None);
            Ok(ReauthStep::Done { until })
        }
        ReauthStep::NeedsSecondFactor { mut challenge } => {
            let id = std::mem::take(&mut challenge.challenge_id);
            ctx.hold_reauth_attempt(Some(Sensitive::new(id)));
            Ok(ReauthStep::NeedsSecondFactor { challenge })
        }
    }
}

/// The code for the attempt [`reauthenticate`] opened; until when the proof
/// counts.
pub(crate) async fn verify_reauth(
    ctx: &Arc<Context>,
    method: SecondFactorMethod,
    code: &str,
) -> Result<i64, CoreError> {
    let (token, _) = cloud_token(ctx).await?;
    let attempt = ctx.reauth_attempt().ok_or(CoreError::NoPendingLogin)?;
    let answer = ctx
        .client()
        .verify_reauth(&token, &attempt, method, code.trim())
        .await;
    let done = super::signed_in_call(ctx, answer).await?;
    ctx.hold_reauth_attempt(None);
    tracing::info!("re-authenticated");
    Ok(done.until)
}

/// A new text for the attempt (its cooldown and limits come back as errors).
pub(crate) async fn resend_reauth_code(ctx: &Arc<Context>) -> Result<Challenge, CoreError> {
    let attempt = ctx.reauth_attempt().ok_or(CoreError::NoPendingLogin)?;
    let mut challenge = ctx.track(ctx.client().resend_code(&attempt).await)?;
    challenge.challenge_id = String::new();
    Ok(challenge)
}
