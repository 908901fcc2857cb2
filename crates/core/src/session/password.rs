//! One's own password: judged as it is typed (the protocol's rules, the
//! same the cloud enforces, so the screen never guesses differently), and
//! changed with the cloud while signed in. A change keeps this session and
//! this computer's offline access: the cloud's replacement device grant is
//! kept and the offline verifier takes the new password at once.

use std::sync::Arc;

use secureclose_protocol::passwords::{check_password, password_score, PasswordContext};

use super::{lock, offline, tokens};
use crate::context::Context;
use crate::error::{desktop_codes, CoreError};
use crate::sensitive::Sensitive;
use crate::views::PasswordCheck;

/// Whose password it would be. Before activation only the email is known;
/// signed in, the session's own user and company count (what the cloud
/// judges against), whatever email the caller passed.
struct Owner {
    email: String,
    display_name: String,
    company_name: String,
}

async fn owner(ctx: &Context, email: &str) -> Owner {
    let fallback = || Owner {
        email: email.trim().to_owned(),
        display_name: String::new(),
        company_name: String::new(),
    };
    let Some(session) = ctx.state.lock().await.session().cloned() else {
        return fallback();
    };
    let Some(cache) = ctx.cache_opt() else {
        return fallback();
    };
    match (
        cache.user(&session.user_id).await,
        cache.company(&session.company_id).await,
    ) {
        (Ok(Some(user)), Ok(Some(company))) => Owner {
            email: user.email,
            display_name: user.display_name,
            company_name: company.name,
        },
        _ => fallback(),
    }
}

/// The strength and the first broken rule of `password` for its owner.
pub(crate) async fn check_new_password(
    ctx: &Context,
    password: Sensitive<String>,
    email: &str,
) -> Result<PasswordCheck, CoreError> {
    let owner = owner(ctx, email).await;
    // zxcvbn on a long password takes a while: off the async workers.
    tokio::task::spawn_blocking(move || {
        let context = PasswordContext {
            email: &owner.email,
            display_name: &owner.display_name,
            company_name: &owner.company_name,
        };
        PasswordCheck {
            score: password_score(password.expose(), context),
            refusal: check_password(password.expose(), context)
                .err()
                .map(|refusal| refusal.message),
        }
    })
    .await
    .map_err(|err| CoreError::Io(std::io::Error::other(err)))
}

fn needs_connection() -> CoreError {
    CoreError::Refused {
        code: desktop_codes::OFFLINE,
        message: "Changing your password needs a connection to SecureClose. You are signed in \
                  with the password checked on this computer; try again once SecureClose is \
                  back online."
            .into(),
        retry_at: None,
    }
}

/// Changes the signed-in person's password on the cloud. The cloud ends
/// every other session and device grant of the user; this session stays,
/// this computer's grant is replaced by the one in the answer, and the
/// offline verifier is the new password from now on (the lock screen and
/// offline sign-in refuse the old one). Refused while signed in offline (no
/// cloud session to ask with) or locked.
pub(crate) async fn change_password(
    ctx: &Arc<Context>,
    current: Sensitive<String>,
    new: Sensitive<String>,
) -> Result<(), CoreError> {
    let session = lock::guard(ctx).await?;
    if ctx.signed_in_offline() {
        return Err(needs_connection());
    }
    let cache = ctx.cache()?;
    let token = match tokens::session_token(ctx, &session) {
        Ok(token) => token,
        Err(CoreError::NotSignedIn) => return Err(needs_connection()),
        Err(err) => return Err(err),
    };
    let device = tokens::device_token(ctx, &session.user_id)?;
    let changed = ctx
        .client()
        .change_password(&token, &current, &new, device.as_ref())
        .await;
    let answer = super::signed_in_call(ctx, changed).await?;
    match &answer.device_token {
        Some(replacement) => {
            if let Err(err) = tokens::store_device_token(ctx, &session.user_id, replacement) {
                tracing::warn!(error = %err, "could not keep the new device token; offline resume will not work");
            }
        }
        // The old grant ended with the others: a token the cloud refuses
        // is no use to keep.
        None => tokens::forget_device_token(ctx, &session.user_id),
    }
    match cache.user(&session.user_id).await {
        Ok(Some(user)) => offline::save_verifier(&cache, &user, new, false).await,
        Ok(None) => tracing::warn!("the signed-in user is not cached; no offline verifier kept"),
        Err(err) => tracing::warn!(error = %err, "could not read the signed-in user"),
    }
    tracing::info!(user_id = %session.user_id, "password changed");
    Ok(())
}
