// The Users tab's Edit dialog, laid out as the help-center article describes:
// General Info (name, email, Mobile Phone) and Login Info (role, the Two
// Factor Authentication toggle), then Update. Only changed fields are sent.
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, Switch, describedBy } from "../components/common";
import { formatPhone } from "../format";
import type { Company, Role, User, UserStatus, UserUpdate } from "../types";

export const PHONE_FIRST_MESSAGE = "Add a mobile phone number on the General Info tab first";
export const TWO_FACTOR_UNAVAILABLE_MESSAGE = "Two-factor authentication is not available with your DMS integration";

type Tab = "general" | "login";
type Field = "name" | "email" | "phone" | "two-factor";

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
}

export function UserEditDialog({ user, company, onSaved, onCancel, onSessionLost }: Props) {
  const api = useApi();
  const [tab, setTab] = useState<Tab>("general");
  const [name, setName] = useState(user.display_name);
  const [email, setEmail] = useState(user.email);
  const [phone, setPhone] = useState(formatPhone(user.mobile_phone));
  const [role, setRole] = useState<Role>(user.role);
  const [status, setStatus] = useState<UserStatus>(user.status);
  const [twoFactor, setTwoFactor] = useState(user.two_factor_enabled);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [dialogError, setDialogError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [focusField, setFocusField] = useState<Field | null>(null);
  const refs = {
    name: useRef<HTMLInputElement>(null),
    email: useRef<HTMLInputElement>(null),
    phone: useRef<HTMLInputElement>(null),
  };
  const tabRefs = useRef<Partial<Record<Tab, HTMLButtonElement | null>>>({});

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

  function clearError(field: Field) {
    setErrors((e) => {
      if (!(field in e)) return e;
      const next = { ...e };
      delete next[field];
      return next;
    });
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
    if (!name.trim()) return fieldError("name", "Enter a name.");
    if (!email.trim()) return fieldError("email", "Enter an email address.");
    if (twoFactor && !phone.trim()) {
      setDialogError(PHONE_FIRST_MESSAGE);
      return;
    }
    const update = userChanges(user, { name, email, phone, role, status, twoFactor });
    if (Object.keys(update).length === 0) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      onSaved(await api.updateUser(user.id, update));
    } catch (reason) {
      setBusy(false);
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
      switch (e.code) {
        case "invalid_phone":
          return fieldError("phone", e.message);
        case "conflict":
          return fieldError("email", e.message);
        case "phone_required":
          // Same words as the UI's own check, whatever the cloud's phrasing.
          return setDialogError(PHONE_FIRST_MESSAGE);
        default:
          return setDialogError(e.message);
      }
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
          <div className="field">
            <Switch
              id="user-two-factor"
              testId="user-two-factor"
              label="Two-Factor Authentication"
              checked={twoFactor}
              disabled={twoFactorDisabled}
              invalid={Boolean(errors["two-factor"])}
              describedBy={describedBy(
                "user-two-factor-help",
                !twoFactorAvailable && "user-two-factor-unavailable",
                errors["two-factor"] && "user-two-factor-error",
              )}
              onChange={toggleTwoFactor}
            />
            <p id="user-two-factor-help" className="field-help">
              After the password, this user enters a code texted to their mobile phone. Takes effect at their next sign-in.
            </p>
            {!twoFactorAvailable ? (
              <p id="user-two-factor-unavailable" className="note" data-testid="two-factor-unavailable">
                {TWO_FACTOR_UNAVAILABLE_MESSAGE}
              </p>
            ) : null}
            <FieldError id="user-two-factor-error" testId="user-two-factor-error" message={errors["two-factor"] ?? null} />
          </div>
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
    </Dialog>
  );
}
