//! The keychain accounts of a session and the tokens in them: the session
//! token (the cloud's bearer) and the device token (for `/login/resume`),
//! each per cloud (see `context::cloud_ns`) and user, so a token never
//! serves another cloud or another person.

use secureclose_protocol::TrustedComputerGrant;

use crate::context::Context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::session::state::SignedInSession;

/// Keychain account of a user's session token with the cloud named `cloud`.
pub fn token_account(cloud: &str, user_id: &str) -> String {
    format!("session:{cloud}:{user_id}")
}

/// Keychain account of a user's trusted-device token with the cloud named `cloud`.
pub fn device_account(cloud: &str, user_id: &str) -> String {
    format!("device:{cloud}:{user_id}")
}

/// Keychain account of this computer's trusted-computer grant for the
/// person signing in as `email` with the cloud named `cloud` (read before
/// the cloud says who they are, hence by email).
pub fn trusted_account(cloud: &str, email: &str) -> String {
    format!("trusted:{cloud}:{}", email.trim().to_lowercase())
}

/// The one decoding of a token kept in the keychain.
fn read(ctx: &Context, account: &str) -> Result<Option<Sensitive<String>>, CoreError> {
    Ok(ctx
        .keys
        .get(account)?
        .map(|bytes| Sensitive::new(String::from_utf8_lossy(&bytes).into_owned())))
}

/// The session's token; `NotSignedIn` when the keychain has none (signed in
/// offline, or removed).
pub(crate) fn session_token(
    ctx: &Context,
    session: &SignedInSession,
) -> Result<Sensitive<String>, CoreError> {
    read(ctx, &token_account(&ctx.scope().ns, &session.user_id))?.ok_or(CoreError::NotSignedIn)
}

/// The device token of `user_id` with the current cloud, if this computer has one.
pub(crate) fn device_token(
    ctx: &Context,
    user_id: &str,
) -> Result<Option<Sensitive<String>>, CoreError> {
    read(ctx, &device_account(&ctx.scope().ns, user_id))
}

pub(crate) fn store_session_token(
    ctx: &Context,
    user_id: &str,
    token: &str,
) -> Result<(), CoreError> {
    ctx.keys
        .set(&token_account(&ctx.scope().ns, user_id), token.as_bytes())
}

pub(crate) fn store_device_token(
    ctx: &Context,
    user_id: &str,
    token: &str,
) -> Result<(), CoreError> {
    ctx.keys
        .set(&device_account(&ctx.scope().ns, user_id), token.as_bytes())
}

/// Deletes `user_id`'s session token; best effort, logged.
pub(crate) fn forget_token(ctx: &Context, user_id: &str) {
    if let Err(err) = ctx.keys.delete(&token_account(&ctx.scope().ns, user_id)) {
        tracing::warn!(error = %err, "could not delete a session token");
    }
}

/// Deletes `user_id`'s device token; best effort, logged.
pub(crate) fn forget_device_token(ctx: &Context, user_id: &str) {
    if let Err(err) = ctx.keys.delete(&device_account(&ctx.scope().ns, user_id)) {
        tracing::warn!(error = %err, "could not delete a device token");
    }
}

/// This computer's trusted-computer grant for `email`, if it has one (an
/// unreadable entry is none: the code is asked for).
pub(crate) fn trusted_computer(ctx: &Context, email: &str) -> Option<TrustedComputerGrant> {
    let stored = read(ctx, &trusted_account(&ctx.scope().ns, email))
        .ok()
        .flatten()?;
    serde_json::from_str(stored.expose()).ok()
}

pub(crate) fn store_trusted_computer(
    ctx: &Context,
    email: &str,
    grant: &TrustedComputerGrant,
) -> Result<(), CoreError> {
    let stored = Sensitive::new(
        serde_json::to_string(grant).map_err(|e| CoreError::keychain(e.to_string()))?,
    );
    ctx.keys.set(
        &trusted_account(&ctx.scope().ns, email),
        stored.expose().as_bytes(),
    )
}

/// Deletes this computer's trusted-computer grant for `email`; best effort.
pub(crate) fn forget_trusted_computer(ctx: &Context, email: &str) {
    if let Err(err) = ctx.keys.delete(&trusted_account(&ctx.scope().ns, email)) {
        tracing::warn!(error = %err, "could not delete a trusted-computer token");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_accounts_are_per_user_and_per_cloud() {
        assert_eq!(token_account("c0ffee", "u1"), "session:c0ffee:u1");
        assert_ne!(token_account("c0ffee", "u1"), token_account("c0ffee", "u2"));
        // The same user id on another cloud is another keychain entry: a
        // session stays bound to the cloud that issued it.
        assert_ne!(token_account("c0ffee", "u1"), token_account("beef", "u1"));
    }

    #[test]
    fn a_trusted_computer_is_kept_per_cloud_and_email_whatever_its_case() {
        assert_eq!(
            trusted_account("c0ffee", " Dana@Example.com "),
            trusted_account("c0ffee", "dana@example.com")
        );
        assert_ne!(
            trusted_account("c0ffee", "a@x"),
            trusted_account("beef", "a@x")
        );
    }
}
