//! The signed-in person's own second factors: adding and removing an
//! authenticator app, their recovery codes (online only). The secret and the
//! codes the cloud returns pass through to the UI once and are never cached,
//! logged or kept here, except in the text file the person asks for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secureclose_protocol::{
    RecoveryCodes, RecoveryStatus, TotpEnrollment, TotpStatus, TrustedComputer,
    TrustedComputerGrant,
};

use super::{lock, tokens};
use crate::context::Context;
use crate::error::{desktop_codes, CoreError};
use crate::sensitive::Sensitive;

fn needs_connection() -> CoreError {
    CoreError::Refused {
        code: desktop_codes::OFFLINE,
        message: "Changing your authenticator app or recovery codes needs a connection to \
                  SecureClose. Try again once SecureClose is back online."
            .into(),
        retry_at: None,
    }
}

/// The cloud session token of the signed-in, unlocked person; offline
/// sign-ins have none.
pub(super) async fn cloud_token(
    ctx: &Arc<Context>,
) -> Result<(Sensitive<String>, String), CoreError> {
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

pub(crate) async fn recovery_status(ctx: &Arc<Context>) -> Result<RecoveryStatus, CoreError> {
    let (token, _) = cloud_token(ctx).await?;
    let answer = ctx.client().recovery_status(&token).await;
    super::signed_in_call(ctx, answer).await
}

/// A new set of recovery codes (the old set stops working); the cloud asks
/// for a re-authentication first (`reauth_required`).
pub(crate) async fn regenerate_recovery_codes(
    ctx: &Arc<Context>,
) -> Result<RecoveryCodes, CoreError> {
    let (token, user_id) = cloud_token(ctx).await?;
    let answer = ctx.client().regenerate_recovery_codes(&token).await;
    let codes = super::signed_in_call(ctx, answer).await?;
    tracing::info!(user_id = %user_id, "recovery codes replaced");
    Ok(codes)
}

/// The person's trusted computers, this computer's marked.
pub(crate) async fn trusted_computers(
    ctx: &Arc<Context>,
) -> Result<Vec<TrustedComputer>, CoreError> {
    let (token, user_id) = cloud_token(ctx).await?;
    let answer = ctx.client().trusted_computers(&token).await;
    let mut computers = super::signed_in_call(ctx, answer).await?;
    if let Some(here) = this_computer(ctx, &user_id).await? {
        for computer in &mut computers {
            computer.this_computer = computer.id == here.id;
        }
    }
    Ok(computers)
}

/// Revokes one; this computer's own also leaves the keychain.
pub(crate) async fn revoke_trusted_computer(ctx: &Arc<Context>, id: &str) -> Result<(), CoreError> {
    let (token, user_id) = cloud_token(ctx).await?;
    let answer = ctx.client().revoke_trusted_computer(&token, id).await;
    super::signed_in_call(ctx, answer).await?;
    if let Some(email) = own_email(ctx, &user_id).await? {
        if tokens::trusted_computer(ctx, &email).is_some_and(|here| here.id == id) {
            tokens::forget_trusted_computer(ctx, &email);
        }
    }
    tracing::info!(user_id = %user_id, "trusted computer revoked");
    Ok(())
}

async fn own_email(ctx: &Arc<Context>, user_id: &str) -> Result<Option<String>, CoreError> {
    Ok(ctx.cache()?.user(user_id).await?.map(|user| user.email))
}

async fn this_computer(
    ctx: &Arc<Context>,
    user_id: &str,
) -> Result<Option<TrustedComputerGrant>, CoreError> {
    Ok(own_email(ctx, user_id)
        .await?
        .and_then(|email| tokens::trusted_computer(ctx, &email)))
}

/// The most codes a file takes (a set is ten): anything longer is not a set.
const MAX_CODES_IN_FILE: usize = 20;

/// Writes `codes` to a new text file in `dir` (the person's Downloads
/// folder), readable by them only; never overwrites a file. The file's path.
pub(crate) async fn save_recovery_codes(
    ctx: &Arc<Context>,
    dir: &Path,
    codes: &[String],
) -> Result<PathBuf, CoreError> {
    let session = lock::guard(ctx).await?;
    let well_formed =
        |c: &String| c.len() <= 16 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
    if codes.is_empty() || codes.len() > MAX_CODES_IN_FILE || !codes.iter().all(well_formed) {
        return Err(not_a_set("these are not recovery codes"));
    }
    let email = own_email(ctx, &session.user_id).await?.unwrap_or_default();
    let text = recovery_file_text(&email, codes);
    let dir = dir.to_owned();
    let path = tokio::task::spawn_blocking(move || write_new_file(&dir, &text))
        .await
        .map_err(|e| CoreError::Io(std::io::Error::other(e)))??;
    tracing::info!("recovery codes saved to a file");
    Ok(path)
}

fn recovery_file_text(email: &str, codes: &[String]) -> String {
    let mut text = format!(
        "SecureClose recovery codes for {email}\n\n\
         Each code signs you in once if you lose your phone or authenticator app.\n\
         Keep this file somewhere safe, away from this computer, then delete it here.\n\n"
    );
    for code in codes {
        text.push_str(code);
        text.push('\n');
    }
    text
}

/// `dir/SecureClose recovery codes.txt`, or `… (2).txt` and on when taken:
/// created new (never replacing a file), owner-only on Unix.
fn write_new_file(dir: &Path, text: &str) -> Result<PathBuf, CoreError> {
    use std::io::Write as _;
    for n in 1..100 {
        let name = if n == 1 {
            "SecureClose recovery codes.txt".to_string()
        } else {
            format!("SecureClose recovery codes ({n}).txt")
        };
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CoreError::Io(e)),
        }
    }
    Err(not_a_set(
        "the folder already holds 99 recovery code files: delete the old ones",
    ))
}

fn not_a_set(message: &str) -> CoreError {
    CoreError::Refused {
        code: secureclose_protocol::codes::VALIDATION,
        message: message.into(),
        retry_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codes_file_never_replaces_one_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let codes = vec!["ABCDE-23456".to_string(), "FGHJK-789AB".to_string()];
        let first = write_new_file(dir.path(), &recovery_file_text("a@b.example", &codes)).unwrap();
        let second = write_new_file(dir.path(), "other").unwrap();
        assert_ne!(first, second, "a second save must not overwrite the first");
        let text = std::fs::read_to_string(&first).unwrap();
        assert!(text.contains("a@b.example") && text.contains("ABCDE-23456\nFGHJK-789AB\n"));
        assert!(second.ends_with("SecureClose recovery codes (2).txt"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&first).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode, 0o600,
                "other accounts on the computer must not read the codes"
            );
        }
    }
}
