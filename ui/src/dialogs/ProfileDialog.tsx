// The signed-in person's own profile (their name in the top bar opens it)
// and, from it, Change password: current password, the new one twice with
// the core's strength meter and reasons. Needs the cloud; the other
// computers signed in as this person are signed out by the change.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { NewPasswordFields, newPasswordProblem, usePasswordCheck } from "../components/NewPasswordFields";
import { TrustedComputers } from "../components/TrustedComputers";
import type { Company, RecoveryStatus, User } from "../types";
import { APP_ADDED, APP_REMOVED, TotpSetupDialog } from "./AuthenticatorApp";
import { isReauthCancelled, useReauth } from "./Reauth";
import { RECOVERY_NEEDS_CONNECTION, REGENERATE_WARNING, RecoveryCodesDialog } from "./RecoveryCodes";

export const CHANGE_NEEDS_CONNECTION =
  "Changing your password needs a connection to SecureClose. Try again once you are back online.";
export const APP_NEEDS_CONNECTION = "Setting up or removing an authenticator app needs a connection to SecureClose.";
export const TRUSTED_NEEDS_CONNECTION = "Seeing or revoking trusted computers needs a connection to SecureClose.";
export const TRUSTED_LEAD = "Computers where you skip the sign-in code. Revoke any you no longer use or don't recognise.";
export const CODES_REPLACED = "Your new recovery codes are ready. The old ones no longer work.";
export const PASSWORD_CHANGED =
  "Your password has been changed. Anywhere else you were signed in has been signed out; this computer stays signed in.";

interface Props {
  user: User;
  company: Company;
  /** Connected to the cloud with a cloud session (not an offline sign-in). */
  online: boolean;
  onClose: () => void;
  onSessionLost: (message: string) => void;
}

export function ProfileDialog({ user, company, online, onClose, onSessionLost }: Props) {
  const [view, setView] = useState<"profile" | "password" | "totp" | "codes">("profile");
  const [done, setDone] = useState<string | null>(null);
  const changeButton = useRef<HTMLButtonElement>(null);
  // Whether this person has an authenticator app: asked of the cloud (null
  // while unknown, or offline).
  const api = useApi();
  const [hasApp, setHasApp] = useState<boolean | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [appBusy, setAppBusy] = useState(false);
  const [appError, setAppError] = useState<string | null>(null);
  const [recovery, setRecovery] = useState<RecoveryStatus | null>(null);
  const [recoveryError, setRecoveryError] = useState<string | null>(null);
  const [confirmRegenerate, setConfirmRegenerate] = useState(false);
  const [regenerating, setRegenerating] = useState(false);
  const [regenerateError, setRegenerateError] = useState<string | null>(null);
  const reauth = useReauth();
  // Fresh recovery codes, only while their dialog shows them.
  const [freshCodes, setFreshCodes] = useState<{ codes: string[]; lead: string; done: string } | null>(null);
  const listTrusted = useCallback(() => api.trustedComputers(), [api]);
  const revokeTrusted = useCallback((id: string) => api.revokeTrustedComputer(id), [api]);
  useEffect(() => {
    if (!online || view !== "profile") return;
    let live = true;
    api.recoveryStatus().then(
      (status) => {
        if (live) setRecovery(status);
      },
      (reason: unknown) => {
        if (!live) return;
        const failure = toApiError(reason);
        if (isSessionLost(failure)) return onSessionLost(failure.message);
        setRecoveryError(failure.message);
      },
    );
    api.totpStatus().then(
      (status) => {
        if (live) setHasApp(status.enabled);
      },
      (reason: unknown) => {
        if (!live) return;
        const failure = toApiError(reason);
        if (isSessionLost(failure)) return onSessionLost(failure.message);
        setAppError(failure.message);
      },
    );
    return () => {
      live = false;
    };
  }, [api, online, view, onSessionLost]);

  async function removeApp() {
    if (appBusy) return;
    setAppBusy(true);
    setAppError(null);
    try {
      await reauth.guard(() => api.removeTotp(), "to remove your authenticator app");
      setHasApp(false);
      setConfirmRemove(false);
      setDone(APP_REMOVED);
    } catch (reason) {
      const failure = toApiError(reason);
      if (isSessionLost(failure)) return onSessionLost(failure.message);
      if (!isReauthCancelled(failure)) setAppError(failure.message);
    }
    setAppBusy(false);
  }

  async function regenerate() {
    if (regenerating || !online) return;
    setRegenerating(true);
    setRegenerateError(null);
    try {
      const fresh = await reauth.guard(() => api.regenerateRecoveryCodes(), "to make new recovery codes");
      setConfirmRegenerate(false);
      setRegenerating(false);
      setFreshCodes({ codes: fresh.codes, lead: "Your old recovery codes no longer work.", done: CODES_REPLACED });
      setView("codes");
    } catch (reason) {
      const failure = toApiError(reason);
      if (isSessionLost(failure)) return onSessionLost(failure.message);
      if (!isReauthCancelled(failure)) setRegenerateError(failure.message);
      setRegenerating(false);
    }
  }

  if (view === "codes" && freshCodes) {
    return (
      <RecoveryCodesDialog
        codes={freshCodes.codes}
        lead={freshCodes.lead}
        onDone={() => {
          setDone(freshCodes.done);
          setFreshCodes(null);
          setView("profile");
        }}
      />
    );
  }

  if (view === "totp") {
    return (
      <TotpSetupDialog
        onCancel={() => setView("profile")}
        onAdded={(codes) => {
          setHasApp(true);
          setDone(APP_ADDED);
          if (codes.length > 0) {
            // The first factor: its recovery codes, shown once before the profile again.
            setFreshCodes({ codes, lead: "Your authenticator app is on. Save these recovery codes now.", done: APP_ADDED });
            setView("codes");
          } else {
            setView("profile");
          }
        }}
        onSessionLost={onSessionLost}
      />
    );
  }

  if (view === "password") {
    return (
      <ChangePasswordDialog
        user={user}
        online={online}
        onCancel={() => setView("profile")}
        onChanged={() => {
          setDone(PASSWORD_CHANGED);
          setView("profile");
        }}
        onSessionLost={onSessionLost}
      />
    );
  }

  return (
    <Dialog labelledBy="profile-title" testId="profile-dialog" onCancel={onClose} initialFocus={done ? changeButton : undefined}>
      <h2 id="profile-title" className="dialog-title">
        Your profile
      </h2>
      <dl className="profile-details">
        <dt>Name</dt>
        <dd data-testid="profile-name">{user.display_name}</dd>
        <dt>Email</dt>
        <dd data-testid="profile-email">{user.email}</dd>
        <dt>Role</dt>
        <dd>{user.role === "admin" ? "Admin" : "User"}</dd>
        <dt>Company</dt>
        <dd>{company.name}</dd>
        <dt>Authenticator app</dt>
        <dd data-testid="profile-totp">{hasApp === null ? (online ? "Checking…" : "Unknown while offline") : hasApp ? "On" : "Off"}</dd>
        <dt>Recovery codes</dt>
        <dd data-testid="profile-recovery">{recoveryText(recovery, online)}</dd>
      </dl>
      {online ? (
        <div className="button-row" data-testid="profile-totp-actions">
          {hasApp === false ? (
            <button
              type="button"
              className="btn btn-secondary"
              data-testid="open-totp-setup"
              onClick={() => {
                setDone(null);
                setView("totp");
              }}
            >
              Set up authenticator app
            </button>
          ) : null}
          {hasApp && !confirmRemove ? (
            <button type="button" className="btn btn-secondary" data-testid="totp-remove" onClick={() => setConfirmRemove(true)}>
              Remove authenticator app
            </button>
          ) : null}
          {hasApp && confirmRemove ? (
            <>
              <span className="note" id="totp-remove-question">
                Remove it? Its codes will no longer sign you in.
              </span>
              <button
                type="button"
                className="btn btn-primary"
                data-testid="totp-remove-confirm"
                aria-describedby="totp-remove-question"
                disabled={appBusy}
                onClick={() => void removeApp()}
              >
                {appBusy ? "Removing…" : "Remove"}
              </button>
              <button type="button" className="btn btn-secondary" data-testid="totp-remove-cancel" onClick={() => setConfirmRemove(false)}>
                Keep it
              </button>
            </>
          ) : null}
        </div>
      ) : (
        <p className="note" data-testid="totp-offline">
          {APP_NEEDS_CONNECTION}
        </p>
      )}
      <div className="button-row" data-testid="profile-recovery-actions">
        {confirmRegenerate ? (
          <>
            <span className="note" id="recovery-regenerate-question" data-testid="recovery-regenerate-question">
              {REGENERATE_WARNING}
            </span>
            <button
              type="button"
              className="btn btn-primary"
              data-testid="recovery-regenerate-submit"
              aria-describedby="recovery-regenerate-question"
              disabled={regenerating || !online}
              onClick={() => void regenerate()}
            >
              {regenerating ? "Generating…" : "Generate"}
            </button>
            <button
              type="button"
              className="btn btn-secondary"
              data-testid="recovery-regenerate-cancel"
              disabled={regenerating}
              onClick={() => setConfirmRegenerate(false)}
            >
              Keep my codes
            </button>
          </>
        ) : (
          <button
            type="button"
            className="btn btn-secondary"
            data-testid="recovery-generate"
            disabled={!online}
            aria-describedby={online ? undefined : "recovery-offline"}
            onClick={() => {
              setDone(null);
              setRegenerateError(null);
              setConfirmRegenerate(true);
            }}
          >
            Generate new codes
          </button>
        )}
      </div>
      {regenerateError ? (
        <div className="alert alert-error" role="alert" data-testid="recovery-regenerate-error">
          {regenerateError}
        </div>
      ) : null}
      {online ? null : (
        <p id="recovery-offline" className="note" data-testid="recovery-offline">
          {RECOVERY_NEEDS_CONNECTION}
        </p>
      )}
      {recoveryError ? (
        <div className="alert alert-error" role="alert" data-testid="recovery-status-error">
          {recoveryError}
        </div>
      ) : null}
      {appError ? (
        <div className="alert alert-error" role="alert" data-testid="totp-status-error">
          {appError}
        </div>
      ) : null}
      <TrustedComputers
        prefix="trusted"
        lead={TRUSTED_LEAD}
        load={listTrusted}
        revoke={revokeTrusted}
        connected={online}
        offlineText={TRUSTED_NEEDS_CONNECTION}
        onSessionLost={onSessionLost}
      />
      {done ? (
        <p className="notice" role="status" data-testid="password-changed">
          {done}
        </p>
      ) : null}
      {online ? null : (
        <p id="change-password-offline" className="note" data-testid="change-password-offline">
          {CHANGE_NEEDS_CONNECTION}
        </p>
      )}
      <div className="button-row">
        <button type="button" className="btn btn-secondary" data-testid="profile-close" onClick={onClose}>
          Close
        </button>
        <button
          type="button"
          ref={changeButton}
          className="btn btn-primary"
          data-testid="open-change-password"
          disabled={!online}
          aria-describedby={online ? undefined : "change-password-offline"}
          onClick={() => {
            setDone(null);
            setView("password");
          }}
        >
          Change password
        </button>
      </div>
      {reauth.dialog}
    </Dialog>
  );
}

/** "7 of 10 unused"; unknown while offline or not yet answered. */
function recoveryText(status: RecoveryStatus | null, online: boolean): string {
  if (!status) return online ? "Checking…" : "Unknown while offline";
  if (status.issued_at === null) return "No recovery codes yet";
  return `${status.remaining} of ${status.total} unused`;
}

function ChangePasswordDialog({
  user,
  online,
  onCancel,
  onChanged,
  onSessionLost,
}: {
  user: User;
  online: boolean;
  onCancel: () => void;
  onChanged: () => void;
  onSessionLost: (message: string) => void;
}) {
  const api = useApi();
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const currentRef = useRef<HTMLInputElement>(null);
  const check = usePasswordCheck(password, user.email);
  // A refused current password is typed again: focus it once the field is
  // enabled again (a disabled input cannot take focus).
  const [refocusCurrent, setRefocusCurrent] = useState(false);
  useEffect(() => {
    if (refocusCurrent && !busy) {
      currentRef.current?.focus();
      setRefocusCurrent(false);
    }
  }, [refocusCurrent, busy]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy || !online) return;
    setSubmitted(true);
    if (!current) {
      setError("Enter your current password.");
      currentRef.current?.focus();
      return;
    }
    const problem = newPasswordProblem(check, password, confirm);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.changePassword(current, password);
      onChanged();
    } catch (reason) {
      const failure = toApiError(reason);
      if (isSessionLost(failure)) {
        onSessionLost(failure.message);
        return;
      }
      // The cloud's words; a wrong current password must be typed again.
      if (failure.code === "invalid_credentials") {
        setCurrent("");
        setRefocusCurrent(true);
      }
      setError(failure.message);
      setBusy(false);
    }
  }

  return (
    <Dialog labelledBy="change-password-title" testId="change-password-dialog" onCancel={onCancel} initialFocus={currentRef}>
      <h2 id="change-password-title" className="dialog-title">
        Change password
      </h2>
      <p className="dialog-lead">
        Other computers and sessions signed in as {user.email} will be signed out; this one stays signed in.
      </p>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="field">
          <label htmlFor="change-password-current">Current password</label>
          <input
            id="change-password-current"
            ref={currentRef}
            data-testid="change-password-current"
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            disabled={busy || !online}
          />
        </div>
        <NewPasswordFields
          idPrefix="change-password"
          label="New password"
          password={password}
          confirm={confirm}
          check={check}
          showMismatch={submitted}
          disabled={busy || !online}
          onPasswordChange={setPassword}
          onConfirmChange={setConfirm}
        />
        {online ? null : (
          <p className="note" data-testid="change-password-offline">
            {CHANGE_NEEDS_CONNECTION}
          </p>
        )}
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="change-password-error">
            {error}
          </div>
        ) : null}
        <div className="button-row">
          <button type="button" className="btn btn-secondary" data-testid="change-password-cancel" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="change-password-submit" disabled={busy || !online}>
            {busy ? "Changing…" : "Change password"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
