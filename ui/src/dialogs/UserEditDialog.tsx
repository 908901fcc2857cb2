// The Users tab's Edit dialog, laid out as the help-center article describes:
// General Info (name, email, Mobile Phone) and Login Info (role, the Two
// Factor Authentication toggle), then Update. Only changed fields are sent.
import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, Switch, describedBy } from "../components/common";
import { TrustedComputers } from "../components/TrustedComputers";
import { formatPhone } from "../format";
import { useFieldErrors } from "../hooks";
import type { Company, Role, SetupCodeGrant, User, UserStatus, UserUpdate } from "../types";
import { isReauthCancelled, useReauth } from "./Reauth";

export const PHONE_FIRST_MESSAGE = "Add a mobile phone number on the General Info tab first";
export const TWO_FACTOR_UNAVAILABLE_MESSAGE = "Two-factor authentication is not available with your DMS integration";

type Tab = "general" | "login";
export type UserField = "name" | "email" | "phone" | "two-factor";
type Field = UserField;

/**
 * The checks both user dialogs (Edit, Add user) make before asking the core:
 * a field's error, or a dialog-level one; null when the form may be sent.
 */
export function checkUserForm(
  form: {
    name: string;
    email: string;
    phone: string;
    twoFactor: boolean;
  },
  phoneFirst: string = PHONE_FIRST_MESSAGE,
): { field: UserField; message: string } | { dialog: string } | null {
  if (!form.name.trim()) return { field: "name", message: "Enter a name." };
  if (!form.email.trim()) return { field: "email", message: "Enter an email address." };
  if (form.twoFactor && !form.phone.trim()) return { dialog: phoneFirst };
  return null;
}

/** Where the cloud's refusal of a user's fields is shown: a field, or the dialog. */
export function refusalField(code: string): UserField | null {
  switch (code) {
    case "invalid_phone":
    case "sms_country_not_allowed":
      return "phone";
    case "conflict":
      return "email";
    default:
      return null;
  }
}

/**
 * The dialog-level words for a refusal (the UI's own for phone_required,
 * `phoneFirst` in the words of the dialog showing it).
 */
export function refusalMessage(code: string, message: string, phoneFirst: string = PHONE_FIRST_MESSAGE): string {
  // Same words as the UI's own check, whatever the cloud's phrasing.
  return code === "phone_required" ? phoneFirst : message;
}

/**
 * The Two-Factor Authentication switch with its help, the DMS note and its
 * error, as both user dialogs show it.
 */
export function TwoFactorField({
  idPrefix,
  checked,
  disabled,
  available,
  error,
  onChange,
}: {
  idPrefix: string;
  checked: boolean;
  disabled: boolean;
  available: boolean;
  error: string | undefined;
  onChange: (on: boolean) => void;
}) {
  return (
    <div className="field">
      <Switch
        id={`${idPrefix}-two-factor`}
        testId={`${idPrefix}-two-factor`}
        label="Two-Factor Authentication"
        checked={checked}
        disabled={disabled}
        invalid={Boolean(error)}
        describedBy={describedBy(
          `${idPrefix}-two-factor-help`,
          !available && `${idPrefix}-two-factor-unavailable`,
          error && `${idPrefix}-two-factor-error`,
        )}
        onChange={onChange}
      />
      <p id={`${idPrefix}-two-factor-help`} className="field-help">
        After the password, this user enters a code texted to their mobile phone. Takes effect at their next sign-in.
      </p>
      {!available ? (
        <p id={`${idPrefix}-two-factor-unavailable`} className="note" data-testid="two-factor-unavailable">
          {TWO_FACTOR_UNAVAILABLE_MESSAGE}
        </p>
      ) : null}
      <FieldError id={`${idPrefix}-two-factor-error`} testId={`${idPrefix}-two-factor-error`} message={error ?? null} />
    </div>
  );
}

const TABS: { id: Tab; label: string; testId: string }[] = [
  { id: "general", label: "General Info", testId: "tab-general" },
  { id: "login", label: "Login Info", testId: "tab-login" },
];

/** Exactly the fields that differ from `user`; a cleared phone is `null`. */
export function userChanges(
  user: User,
  form: { name: string; email: string; phone: string; role: Role; status: UserStatus; twoFactor: boolean },
): UserUpdate {
  const update: UserUpdate = {};
  const name = form.name.trim();
  const email = form.email.trim();
  const phone = form.phone.trim();
  if (name !== user.display_name) update.display_name = name;
  if (email !== user.email) update.email = email;
  if (phone !== formatPhone(user.mobile_phone)) update.mobile_phone = phone === "" ? null : phone;
  if (form.role !== user.role) update.role = form.role;
  if (form.status !== user.status) update.status = form.status;
  if (form.twoFactor !== user.two_factor_enabled) update.two_factor_enabled = form.twoFactor;
  return update;
}

interface Props {
  user: User;
  company: Company;
  onSaved: (user: User) => void;
  onCancel: () => void;
  onSessionLost?: ((message: string) => void) | undefined;
  /** The cloud can be reached: Reset password and Sign out everywhere need it. */
  connected?: boolean;
  /** The signed-in admin's own row: they change their own password in their profile. */
  isSelf?: boolean;
  /** After Reset password: the new setup code, for the setup code dialog. */
  onSetupCode?: (grant: SetupCodeGrant) => void;
  /** After Reset two-factor: the user as the cloud now has them (no phone). */
  onFactorReset?: (user: User) => void;
}

export function UserEditDialog({
  user,
  company,
  onSaved,
  onCancel,
  onSessionLost,
  connected = true,
  isSelf = false,
  onSetupCode,
  onFactorReset,
}: Props) {
  const api = useApi();
  // Outside the form below: the check has forms of its own.
  const reauth = useReauth();
  const [tab, setTab] = useState<Tab>("general");
  const [name, setName] = useState(user.display_name);
  const [email, setEmail] = useState(user.email);
  const [phone, setPhone] = useState(formatPhone(user.mobile_phone));
  const [role, setRole] = useState<Role>(user.role);
  const [status, setStatus] = useState<UserStatus>(user.status);
  const [twoFactor, setTwoFactor] = useState(user.two_factor_enabled);
  const [errors, setErrors, clearError] = useFieldErrors<Field>();
  const [dialogError, setDialogError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [focusField, setFocusField] = useState<Field | null>(null);
  const refs = {
    name: useRef<HTMLInputElement>(null),
    email: useRef<HTMLInputElement>(null),
    phone: useRef<HTMLInputElement>(null),
  };
  const tabRefs = useRef<Partial<Record<Tab, HTMLButtonElement | null>>>({});
  const listTrusted = useCallback(() => api.userTrustedComputers(user.id), [api, user.id]);
  const revokeTrusted = useCallback((id: string) => api.revokeUserTrustedComputer(user.id, id), [api, user.id]);

  // Turning 2FA off stays possible when the DMS lost support; turning it on doesn't.
  const twoFactorAvailable = company.dms.supports_two_factor;
  const twoFactorDisabled = busy || (!twoFactorAvailable && !user.two_factor_enabled);

  // Focus a field after its tab has been shown (it is `hidden` until then).
  useEffect(() => {
    if (!focusField) return;
    if (focusField === "two-factor") document.getElementById("user-two-factor")?.focus();
    else refs[focusField].current?.focus();
    setFocusField(null);
    // refs are stable objects: only a new request to focus re-runs this.
  }, [focusField]);

  function fieldError(field: Field, message: string) {
    setErrors((e) => ({ ...e, [field]: message }));
    setTab(field === "two-factor" ? "login" : "general");
    setFocusField(field);
  }

  function toggleTwoFactor(on: boolean) {
    setDialogError(null);
    // The article's order: a phone on General Info before the toggle.
    if (on && !phone.trim()) {
      setErrors((e) => ({ ...e, "two-factor": PHONE_FIRST_MESSAGE }));
      return;
    }
    clearError("two-factor");
    setTwoFactor(on);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setDialogError(null);
    setErrors({});
    const problem = checkUserForm({ name, email, phone, twoFactor });
    if (problem) return "field" in problem ? fieldError(problem.field, problem.message) : setDialogError(problem.dialog);
    const update = userChanges(user, { name, email, phone, role, status, twoFactor });
    if (Object.keys(update).length === 0) {
      onCancel();
      return;
    }
    // One's own phone receives one's codes: the cloud takes the change only
    // after Confirm it's you, which needs the connection.
    if (isSelf && "mobile_phone" in update) {
      if (!connected) return setDialogError(OWN_PHONE_NEEDS_CONNECTION);
      try {
        await reauth.confirm("to change your own mobile phone");
      } catch (reason) {
        if (isReauthCancelled(reason)) return;
        const e = toApiError(reason);
        if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
        return setDialogError(e.message);
      }
    }
    setBusy(true);
    try {
      onSaved(await api.updateUser(user.id, update));
    } catch (reason) {
      setBusy(false);
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
      const field = refusalField(e.code);
      return field ? fieldError(field, e.message) : setDialogError(refusalMessage(e.code, e.message));
    }
  }

  function onTabKeyDown(event: KeyboardEvent<HTMLButtonElement>) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft" && event.key !== "Home" && event.key !== "End") return;
    event.preventDefault();
    const index = TABS.findIndex((t) => t.id === tab);
    const next =
      event.key === "Home"
        ? TABS[0]!
        : event.key === "End"
          ? TABS[TABS.length - 1]!
          : TABS[(index + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length]!;
    setTab(next.id);
    tabRefs.current[next.id]?.focus();
  }

  return (
    <Dialog
      labelledBy="user-dialog-title"
      describedBy="user-dialog-who"
      testId="user-dialog"
      onCancel={onCancel}
      initialFocus={refs.name}
      className="modal-wide"
    >
      <h2 id="user-dialog-title" className="dialog-title">
        Edit user
      </h2>
      <p id="user-dialog-who" className="dialog-lead">
        {user.display_name} · {user.email}
      </p>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="tabs" role="tablist" aria-label="User details">
          {TABS.map((t) => (
            <button
              key={t.id}
              ref={(el) => {
                tabRefs.current[t.id] = el;
              }}
              type="button"
              role="tab"
              id={`user-tab-${t.id}`}
              className="tab"
              data-testid={t.testId}
              aria-selected={tab === t.id}
              aria-controls={`user-panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              onClick={() => setTab(t.id)}
              onKeyDown={onTabKeyDown}
            >
              {t.label}
            </button>
          ))}
        </div>

        <div id="user-panel-general" role="tabpanel" aria-labelledby="user-tab-general" className="tab-panel" hidden={tab !== "general"}>
          <div className="field">
            <label htmlFor="user-name">Name</label>
            <input
              id="user-name"
              ref={refs.name}
              data-testid="user-name"
              type="text"
              autoComplete="off"
              value={name}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={describedBy(errors.name && "user-name-error")}
              onChange={(e) => setName(e.target.value)}
              disabled={busy}
            />
            <FieldError id="user-name-error" message={errors.name ?? null} />
          </div>
          <div className="field">
            <label htmlFor="user-email">Email</label>
            <input
              id="user-email"
              ref={refs.email}
              data-testid="user-email"
              type="email"
              autoComplete="off"
              spellCheck={false}
              value={email}
              aria-invalid={errors.email ? true : undefined}
              aria-describedby={describedBy(errors.email && "user-email-error")}
              onChange={(e) => setEmail(e.target.value)}
              disabled={busy}
            />
            <FieldError id="user-email-error" testId="user-email-error" message={errors.email ?? null} />
          </div>
          <div className="field">
            <label htmlFor="user-phone">Mobile Phone</label>
            <input
              id="user-phone"
              ref={refs.phone}
              data-testid="user-phone"
              type="tel"
              inputMode="tel"
              autoComplete="off"
              value={phone}
              aria-invalid={errors.phone ? true : undefined}
              aria-describedby={describedBy("user-phone-help", errors.phone && "user-phone-error")}
              onChange={(e) => {
                setPhone(e.target.value);
                clearError("phone");
                if (e.target.value.trim()) clearError("two-factor");
              }}
              disabled={busy}
            />
            <p id="user-phone-help" className="field-help">
              Receives the sign-in codes. US numbers like (480) 555-1234; other countries start with +. Changing it means the
              new number is confirmed at the next sign-in.
            </p>
            <FieldError id="user-phone-error" testId="user-phone-error" message={errors.phone ?? null} />
          </div>
        </div>

        <div id="user-panel-login" role="tabpanel" aria-labelledby="user-tab-login" className="tab-panel" hidden={tab !== "login"}>
          <div className="field">
            <label htmlFor="user-role">Role</label>
            <select
              id="user-role"
              data-testid="user-role"
              value={role}
              onChange={(e) => setRole(e.target.value as Role)}
              disabled={busy}
            >
              <option value="user">User</option>
              <option value="admin">Admin</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="user-status">Status</label>
            <select
              id="user-status"
              data-testid="user-status"
              value={status}
              onChange={(e) => setStatus(e.target.value as UserStatus)}
              disabled={busy}
            >
              <option value="active">Active</option>
              <option value="disabled">Disabled</option>
            </select>
          </div>
          <TwoFactorField
            idPrefix="user"
            checked={twoFactor}
            disabled={twoFactorDisabled}
            available={twoFactorAvailable}
            error={errors["two-factor"]}
            onChange={toggleTwoFactor}
          />
          <AccountActions
            user={user}
            connected={connected}
            isSelf={isSelf}
            onSetupCode={onSetupCode}
            onFactorReset={onFactorReset}
            onSessionLost={onSessionLost}
            guard={reauth.guard}
          />
          <TrustedComputers
            prefix="user-trusted"
            lead={`Computers where ${user.display_name} skips the sign-in code. Revoke one and the next sign-in there asks for a code.`}
            load={listTrusted}
            revoke={revokeTrusted}
            connected={connected}
            offlineText={TRUSTED_NEEDS_CONNECTION}
            active={tab === "login"}
            onSessionLost={onSessionLost}
          />
        </div>

        {dialogError ? (
          <div className="alert alert-error" role="alert" data-testid="user-dialog-error">
            {dialogError}
          </div>
        ) : null}
        <div className="button-row">
          <button type="button" className="btn btn-secondary" data-testid="user-dialog-cancel" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="user-update" disabled={busy}>
            {busy ? "Updating…" : "Update"}
          </button>
        </div>
      </form>
      {reauth.dialog}
    </Dialog>
  );
}

export const RESET_NEEDS_CONNECTION = "Resetting a password needs a connection";
export const OWN_PHONE_NEEDS_CONNECTION =
  "Changing your own mobile phone needs a connection: SecureClose first confirms it’s you with your password and a code.";
export const REVOKE_NEEDS_CONNECTION = "Signing out everywhere needs a connection";
export const TRUSTED_NEEDS_CONNECTION = "Seeing or revoking trusted computers needs a connection.";
export const FACTOR_RESET_NEEDS_CONNECTION = "Resetting two-factor needs a connection";
/** The cloud's bounds for the reason of a two-factor reset (it checks them too). */
export const RESET_REASON_CHARS = { min: 5, max: 500 };
export const RESET_REASON_MESSAGE = `Give a reason of ${RESET_REASON_CHARS.min} to ${RESET_REASON_CHARS.max} characters, for example “lost phone, confirmed in person”.`;

type AccountAction = "reset" | "revoke" | "factor";

/** The reason as the cloud will count it, or `null` when it is out of bounds. */
export function checkedResetReason(reason: string): string | null {
  const trimmed = reason.trim();
  const chars = [...trimmed].length;
  return chars >= RESET_REASON_CHARS.min && chars <= RESET_REASON_CHARS.max ? trimmed : null;
}

/**
 * Reset password, Reset two-factor and Sign out everywhere: each asks for
 * confirmation, then goes to the cloud at once (never queued), so all need
 * the connection.
 */
function AccountActions({
  user,
  connected,
  isSelf,
  onSetupCode,
  onFactorReset,
  onSessionLost,
  guard,
}: {
  user: User;
  connected: boolean;
  isSelf: boolean;
  onSetupCode: ((grant: SetupCodeGrant) => void) | undefined;
  onFactorReset: ((user: User) => void) | undefined;
  onSessionLost: ((message: string) => void) | undefined;
  /** Runs a security change, asking "Confirm it’s you" first when the core wants it. */
  guard: ReturnType<typeof useReauth>["guard"];
}) {
  const api = useApi();
  const [confirming, setConfirming] = useState<AccountAction | null>(null);
  const [reason, setReason] = useState("");
  const [reasonError, setReasonError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    if (busy || !confirming) return;
    const why = confirming === "factor" ? checkedResetReason(reason) : null;
    if (confirming === "factor" && why === null) {
      setReasonError(RESET_REASON_MESSAGE);
      document.getElementById("user-reset-reason")?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      if (confirming === "reset") {
        const grant = await api.resetPassword(user.id);
        setConfirming(null);
        onSetupCode?.(grant);
      } else if (confirming === "factor") {
        // Retried after the re-authentication with the same reason.
        const reasonGiven = why ?? "";
        const after = await guard(
          () => api.resetTwoFactor(user.id, reasonGiven),
          `to reset ${user.display_name}’s two-step verification`,
        );
        setConfirming(null);
        setReason("");
        if (onFactorReset) onFactorReset(after);
        else setDone(`${after.display_name}’s two-step verification was reset.`);
      } else {
        await api.revokeSessions(user.id);
        setConfirming(null);
        setDone(`${user.display_name} is signed out on every computer.`);
      }
    } catch (reason) {
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
      if (!isReauthCancelled(e)) setError(e.message);
    } finally {
      setBusy(false);
    }
  }

  const ask = (what: AccountAction) => {
    setDone(null);
    setError(null);
    setReasonError(null);
    setConfirming(what);
  };

  const question: Record<AccountAction, string> = {
    reset: `Reset ${user.display_name}’s password? Their current password stops working, they are signed out everywhere, and you get a setup code to give them.`,
    revoke: `Sign ${user.display_name} out on every computer? They sign in again with their password.`,
    factor: `Reset ${user.display_name}’s two-step verification? Their authenticator app and mobile phone are removed and they are signed out everywhere; at their next sign-in they set up a new one. Their old phone gets a text saying so. Do this only once you are sure who is asking (in person, or by calling a number you already had). If their password may be known to someone else, reset it too.`,
  };
  const confirmLabel: Record<AccountAction, string> = {
    reset: "Reset password",
    revoke: "Sign out everywhere",
    factor: "Reset two-factor",
  };

  // Each needs the connection; offline its button names why (`offlineId`).
  const actionButton = (what: AccountAction, testId: string, offlineId: string, label: string) => (
    <button
      type="button"
      className="btn btn-secondary"
      data-testid={testId}
      disabled={busy || !connected}
      aria-describedby={connected ? undefined : offlineId}
      onClick={() => ask(what)}
    >
      {label}
    </button>
  );

  return (
    <div className="field" data-testid="user-account-actions">
      <span className="setting-label">Password, two-factor and sessions</span>
      <div className="button-row">
        {isSelf ? null : actionButton("reset", "user-reset-password", "user-reset-offline", "Reset password")}
        {isSelf ? null : actionButton("factor", "user-reset-two-factor", "user-factor-offline", "Reset two-factor…")}
        {actionButton("revoke", "user-revoke-sessions", "user-revoke-offline", "Sign out everywhere")}
      </div>
      {!connected ? (
        <p className="muted small" data-testid="user-actions-offline">
          {isSelf ? null : <span id="user-reset-offline">{RESET_NEEDS_CONNECTION}. </span>}
          {isSelf ? null : <span id="user-factor-offline">{FACTOR_RESET_NEEDS_CONNECTION}. </span>}
          <span id="user-revoke-offline">{REVOKE_NEEDS_CONNECTION}.</span>
        </p>
      ) : null}
      {isSelf ? (
        <p className="field-help" data-testid="user-reset-self">
          Change your own password and two-step verification in your profile; another administrator can reset
          them for you.
        </p>
      ) : null}
      {confirming ? (
        <div className="note" role="group" aria-labelledby="user-action-confirm-text" data-testid="user-action-confirm">
          <p id="user-action-confirm-text">{question[confirming]}</p>
          {confirming === "factor" ? (
            <div className="field">
              <label htmlFor="user-reset-reason">Reason (kept in the audit log)</label>
              <textarea
                id="user-reset-reason"
                data-testid="user-reset-reason"
                rows={2}
                maxLength={RESET_REASON_CHARS.max}
                value={reason}
                aria-invalid={reasonError ? true : undefined}
                aria-describedby={describedBy(reasonError && "user-reset-reason-error")}
                onChange={(e) => {
                  setReason(e.target.value);
                  setReasonError(null);
                }}
                disabled={busy}
              />
              <FieldError id="user-reset-reason-error" testId="user-reset-reason-error" message={reasonError} />
            </div>
          ) : null}
          <div className="button-row">
            <button type="button" className="btn btn-secondary" data-testid="user-action-keep" onClick={() => setConfirming(null)} disabled={busy}>
              Cancel
            </button>
            <button type="button" className="btn btn-primary" data-testid="user-action-confirm-button" onClick={() => void run()} disabled={busy}>
              {busy ? "Working…" : confirmLabel[confirming]}
            </button>
          </div>
        </div>
      ) : null}
      {error ? (
        <div className="alert alert-error" role="alert" data-testid="user-action-error">
          {error}
        </div>
      ) : null}
      {done ? (
        <p className="success-note" role="status" data-testid="user-action-done">
          {done}
        </p>
      ) : null}
    </div>
  );
}
