//! Online sign-in: the password, then (when the cloud asks) the code by
//! SMS or a first phone to enrol. A sign-in the cloud cannot be reached for
//! goes to `offline`; one it completes goes to `session::establish`.

use std::sync::Arc;

use secureclose_protocol::{
    codes, Challenge, Company, CompanyChoice, LoginResponse, SecondFactorMethod, SessionGrant,
    TotpEnrollment, User,
};

use super::state::{LoginState, PendingChoice, PendingLogin, SignedInSession};
use super::{offline, offline_app};
use crate::cache::{Cache, RevokedReason};
use crate::client::CloudClient;
use crate::context::Context;
use crate::error::CoreError;
use crate::sensitive::Sensitive;
use crate::session::{self, tokens, Start};
use crate::views::{LoginOutcome, SessionView};

/// Online login: the password to the cloud. A user who needs no second
/// factor is signed in at once (see `complete_sign_in`); otherwise the
/// state machine waits for the code (`verify_code`) or, before that, for
/// a phone to enrol (`enroll_phone`), or for the company to sign in to
/// when the email has accounts at several (`choose_company`).
pub(crate) async fn login(
    ctx: &Arc<Context>,
    email: &str,
    password: &str,
) -> Result<LoginOutcome, CoreError> {
    login_at(ctx, email, password, None).await
}

/// The person picked one of the companies offered: the login is sent again
/// with the password held since, for that company's account only. Any
/// failure drops the attempt (the person starts over), as a closed code
/// attempt does.
pub(crate) async fn choose_company(
    ctx: &Arc<Context>,
    company_id: &str,
) -> Result<LoginOutcome, CoreError> {
    let chosen = ctx
        .state
        .lock()
        .await
        .company_chosen(company_id)
        .map(|choice| choice.email.clone());
    let email = match chosen {
        Ok(email) => email,
        Err(err) => {
            // A company that was not offered: the attempt ends here.
            drop_company_choice(ctx).await;
            return Err(err);
        }
    };
    let Some(password) = ctx.take_pending_password() else {
        drop_company_choice(ctx).await;
        return Err(CoreError::NoPendingLogin);
    };
    let outcome = login_at(ctx, &email, password.expose(), Some(company_id)).await;
    if outcome.is_err() {
        drop_company_choice(ctx).await;
    }
    outcome
}

/// Ends a login waiting for a company choice, and forgets its password.
/// Any other state (a code awaited, a session) is left alone.
async fn drop_company_choice(ctx: &Context) {
    let mut state = ctx.state.lock().await;
    if matches!(*state, LoginState::ChooseCompany(_)) {
        state.cancel();
        ctx.hold_pending_password(None);
    }
}

async fn login_at(
    ctx: &Arc<Context>,
    email: &str,
    password: &str,
    company_id: Option<&str>,
) -> Result<LoginOutcome, CoreError> {
    let cache = ctx.cache()?;
    let client = ctx.client();
    let email = email.trim();
    // A new sign-in ends an offline one waiting for its app code.
    ctx.hold_offline_app(None);
    // A computer trusted after an earlier code may skip this one.
    let trusted = tokens::trusted_computer(ctx, email);
    let trusted_token = trusted.as_ref().map(|grant| grant.token.as_str());
    let answer = client
        .login_with(email, password, company_id, trusted_token)
        .await;
    let response = match ctx.track(answer) {
        Ok(response) => response,
        Err(CoreError::Offline { .. } | CoreError::CloudUnreachable { .. }) => {
            return offline::sign_in(ctx, &cache, email, password, company_id).await;
        }
        Err(err) => {
            revoke_after_refused_login(ctx, &cache, email, password, company_id, &err).await;
            return Err(err);
        }
    };
    let password = Sensitive::new(password.to_owned());
    follow(ctx, &cache, &client, email, password, company_id, response).await
}

/// First sign-in with an admin's setup code: the cloud sets the password
/// the person chose and answers exactly like `/login` with it, so what
/// follows is a login's (the code or a phone to enrol, then
/// `complete_sign_in`, which keeps this NEW password as the offline
/// verifier). Needs the cloud: there is nothing to check offline. A refused
/// code is not a password, so nothing here revokes offline access.
pub(crate) async fn activate(
    ctx: &Arc<Context>,
    email: &str,
    setup_code: Sensitive<String>,
    new_password: Sensitive<String>,
) -> Result<LoginOutcome, CoreError> {
    let cache = ctx.cache()?;
    let client = ctx.client();
    let email = email.trim();
    let code = Sensitive::new(setup_code.expose().trim().to_owned());
    let response = ctx.track(client.activate(email, &code, &new_password).await)?;
    tracing::info!("setup code accepted");
    follow(ctx, &cache, &client, email, new_password, None, response).await
}

/// Where an accepted password (a login's, or an activation's new one)
/// leads: signed in, a code or a phone to enrol awaited, or a company to
/// choose.
async fn follow(
    ctx: &Arc<Context>,
    cache: &Cache,
    client: &CloudClient,
    email: &str,
    password: Sensitive<String>,
    company_id: Option<&str>,
    response: LoginResponse,
) -> Result<LoginOutcome, CoreError> {
    match response {
        LoginResponse::SignedIn {
            session,
            user,
            company,
        } => {
            complete_sign_in(
                ctx,
                cache,
                client,
                session,
                user,
                company,
                None,
                Some(password),
            )
            .await
        }
        LoginResponse::SecondFactorRequired { challenge } => {
            ctx.hold_pending_password(Some(password));
            let pending = PendingLogin::new(email, challenge);
            let view = pending.challenge.clone();
            let replaced = ctx.state.lock().await.needs_second_factor(pending);
            session::end_replaced(ctx, replaced).await;
            tracing::info!("password accepted; a code was sent");
            Ok(LoginOutcome::NeedsSecondFactor { challenge: view })
        }
        LoginResponse::PhoneEnrollmentRequired { challenge } => {
            ctx.hold_pending_password(Some(password));
            let pending = PendingLogin::new(email, challenge);
            let view = pending.challenge.clone();
            let replaced = ctx.state.lock().await.needs_phone_enrollment(pending);
            session::end_replaced(ctx, replaced).await;
            tracing::info!("password accepted; a phone must be enrolled");
            Ok(LoginOutcome::NeedsPhoneEnrollment { challenge: view })
        }
        LoginResponse::CompanyChoiceRequired { companies } => {
            // Asked again for a company just named, or offered none: the
            // cloud is not following the protocol; never loop on it.
            if company_id.is_some() || companies.len() < 2 {
                return Err(CoreError::CloudUnreachable {
                    url: client.base_url().to_owned(),
                    detail: "the cloud asked for a company choice it cannot need".into(),
                });
            }
            Ok(hold_company_choice(ctx, email, password, companies).await)
        }
    }
}

/// Waits for the person to pick a company (online or offline): the password
/// stays in memory only, as it does while a code is awaited.
pub(super) async fn hold_company_choice(
    ctx: &Arc<Context>,
    email: &str,
    password: Sensitive<String>,
    companies: Vec<CompanyChoice>,
) -> LoginOutcome {
    ctx.hold_pending_password(Some(password));
    let choice = PendingChoice {
        email: email.to_owned(),
        companies: companies.clone(),
    };
    let replaced = ctx.state.lock().await.needs_company_choice(choice);
    session::end_replaced(ctx, replaced).await;
    tracing::info!(
        companies = companies.len(),
        "password accepted at several companies; waiting for a choice"
    );
    LoginOutcome::NeedsCompanyChoice { companies }
}

/// Completes the pending login with the code the user typed, from a text
/// message or the authenticator app (`method`, one the attempt offers). On
/// success this is exactly a signed-in login (`complete_sign_in`).
/// `trust_this_computer`: the person ticked "Don't ask for a code on this
/// computer"; the grant the cloud returns is kept in the keychain.
pub(crate) async fn verify_code(
    ctx: &Arc<Context>,
    method: SecondFactorMethod,
    code: &str,
    trust_this_computer: bool,
) -> Result<LoginOutcome, CoreError> {
    // Offline, the app's code is checked here.
    if let Some(outcome) = offline_app::verify(ctx, method, code).await? {
        return Ok(outcome);
    }
    let cache = ctx.cache()?;
    let challenge_id = ctx
        .state
        .lock()
        .await
        .awaiting_code_by(method)?
        .challenge_id()
        .clone();
    let client = ctx.client();
    let label = trust_this_computer.then(computer_label);
    let answer = client
        .verify_code_with(&challenge_id, method, code.trim(), label.as_deref())
        .await;
    let response = session::attempt_call(ctx, answer).await?;
    match response {
        LoginResponse::SignedIn {
            session,
            user,
            company,
        } => {
            let password = ctx.take_pending_password();
            complete_sign_in(
                ctx,
                &cache,
                &client,
                session,
                user,
                company,
                Some(&challenge_id),
                password,
            )
            .await
        }
        LoginResponse::SecondFactorRequired { .. }
        | LoginResponse::PhoneEnrollmentRequired { .. }
        | LoginResponse::CompanyChoiceRequired { .. } => Err(CoreError::CloudUnreachable {
            url: client.base_url().to_owned(),
            detail: "a verified code was answered with another login step".into(),
        }),
    }
}

/// Asks the cloud to send a new code for the pending login (its cooldown
/// and send limits come back as errors with `retry_at`).
pub(crate) async fn resend_code(ctx: &Context) -> Result<Challenge, CoreError> {
    let challenge_id = ctx.state.lock().await.pending()?.challenge_id().clone();
    let challenge =
        session::attempt_call(ctx, ctx.client().resend_code(&challenge_id).await).await?;
    let mut state = ctx.state.lock().await;
    same_attempt(&state, &challenge_id)?;
    Ok(state.code_resent(challenge)?.clone())
}

/// Enrolment: sends the phone the user typed; the cloud texts a code to
/// it. The phone is saved to the profile only once that code verifies.
pub(crate) async fn enroll_phone(
    ctx: &Context,
    mobile_phone: &str,
) -> Result<Challenge, CoreError> {
    let challenge_id = ctx.state.lock().await.enrolling()?.challenge_id().clone();
    let challenge = session::attempt_call(
        ctx,
        ctx.client()
            .enroll_phone(&challenge_id, mobile_phone.trim())
            .await,
    )
    .await?;
    let mut state = ctx.state.lock().await;
    same_attempt(&state, &challenge_id)?;
    Ok(state.phone_submitted(challenge)?.clone())
}

/// Enrolment with an authenticator app instead of a phone: the secret to
/// put in the app. Nothing is saved until its first code verifies.
pub(crate) async fn enroll_totp(ctx: &Context) -> Result<TotpEnrollment, CoreError> {
    let challenge_id = ctx.state.lock().await.enrolling()?.challenge_id().clone();
    let enrollment =
        session::attempt_call(ctx, ctx.client().enroll_totp(&challenge_id).await).await?;
    let mut state = ctx.state.lock().await;
    same_attempt(&state, &challenge_id)?;
    state.app_shown()?;
    Ok(enrollment)
}

/// Abandons a pending login (back to signed out, challenge forgotten).
/// Does nothing to a signed-in session.
pub(crate) async fn cancel_login(ctx: &Context) -> Result<(), CoreError> {
    if ctx.state.lock().await.cancel() {
        tracing::info!("pending login cancelled");
    }
    ctx.hold_pending_password(None);
    ctx.hold_offline_app(None);
    Ok(())
}

/// The one path to `SignedIn`, after a password alone or after a code
/// (`attempt` = the challenge it answered): the offline verifier, then
/// `session::establish` with the cloud's grant; the sync it starts pulls the
/// company's users (once, on a first sign-in here). The verifier is written
/// first because a write after the sync has started waits behind the
/// first pull's pages, and the person would see "Signing in…" that long.
#[allow(clippy::too_many_arguments)]
async fn complete_sign_in(
    ctx: &Arc<Context>,
    cache: &Cache,
    client: &CloudClient,
    grant: SessionGrant,
    user: User,
    company: Company,
    attempt: Option<&Sensitive<String>>,
    password: Option<Sensitive<String>>,
) -> Result<LoginOutcome, CoreError> {
    // Sealed before the lock, like the verifier (both are Argon2).
    let sealed_app = match (password.clone(), grant.offline_app.as_ref()) {
        (Some(password), Some(app)) => offline_app::seal_off_thread(password, &user.id, app).await,
        _ => None,
    };
    let verifier = match password {
        Some(password) => offline::hash_verifier(password).await,
        None => None,
    };
    let mut state = ctx.state.lock().await;
    if let Some(attempt) = attempt {
        // Cancelled (or replaced by a new login) while the code was checked.
        if let Err(err) = same_attempt(&state, attempt) {
            drop(state);
            let token = Sensitive::new(grant.token.clone());
            let _ = client.logout(&token).await;
            return Err(err);
        }
    }
    let signed_in = SignedInSession {
        user_id: user.id.clone(),
        company_id: company.id.clone(),
        expires_at: grant.expires_at,
    };
    let start = Start::Online {
        grant: &grant,
        user: &user,
        company: &company,
        after_code: attempt.is_some(),
    };
    if let Some(verifier) = &verifier {
        offline::store_verifier(cache, &user, verifier, attempt.is_some()).await;
        let app = grant.offline_app.as_ref();
        offline_app::keep(cache, &user, sealed_app.as_deref(), app, attempt.is_some()).await;
    }
    if let Some(trusted) = &grant.trusted_computer {
        // Only the skipped code is lost if the keychain refuses it.
        if let Err(err) = tokens::store_trusted_computer(ctx, &user.email, trusted) {
            tracing::warn!(error = %err, "could not keep the trusted-computer token");
        }
    }
    session::establish(ctx, &mut state, cache, signed_in, start).await?;
    drop(state);
    tracing::info!(user_id = %user.id, company_id = %company.id,
        second_factor = attempt.is_some(), "signed in");
    Ok(LoginOutcome::SignedIn {
        recovery: grant.recovery.clone(),
        session: SessionView {
            idle_lock_minutes: company.session_policy.idle_lock_minutes,
            user,
            company,
            online: true,
            offline_sign_in: false,
            last_synced_at: cache.last_synced_at().await?,
        },
    })
}

/// The cloud refused a sign-in. `account_disabled` (only answered after
/// a correct password) ends this account's offline access here; so does
/// `invalid_credentials` for a password this computer would accept
/// offline (changed on the cloud, or the account deleted). A wrong
/// password that the verifier refuses too changes nothing, so a
/// passer-by cannot wipe someone's offline access by mistyping.
async fn revoke_after_refused_login(
    ctx: &Context,
    cache: &Cache,
    email: &str,
    password: &str,
    company_id: Option<&str>,
    err: &CoreError,
) {
    let reason = if err.is_account_disabled() {
        RevokedReason::Disabled
    } else if err.code() == codes::INVALID_CREDENTIALS {
        let Ok(credentials) = cache.offline_credentials(email, company_id).await else {
            return;
        };
        let mut known = false;
        for credential in credentials {
            let verifier = credential.verifier.clone();
            let typed = Sensitive::new(password.to_owned());
            known |=
                tokio::task::spawn_blocking(move || offline::verify(&verifier, typed.expose()))
                    .await
                    .unwrap_or(false);
        }
        if !known {
            return;
        }
        RevokedReason::Credentials
    } else {
        return;
    };
    session::revoke_offline_access(ctx, cache, None, Some(email), reason).await;
}

/// Refuses a step whose answer belongs to an attempt that is no longer the
/// pending one (cancelled, or replaced by a new login meanwhile).
fn same_attempt(state: &LoginState, challenge_id: &Sensitive<String>) -> Result<(), CoreError> {
    match state.pending() {
        Ok(pending) if pending.challenge_id().expose() == challenge_id.expose() => Ok(()),
        _ => Err(CoreError::NoPendingLogin),
    }
}
/// How this computer is listed among the person's trusted computers: its
/// name and system, e.g. "DESKTOP-4F2A (Windows)".
fn computer_label() -> String {
    format!("{} ({})", whoami::devicename(), whoami::platform())
}
