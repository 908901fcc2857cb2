import { useEffect, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Badge, ErrorAlert, FieldError, Spinner, Switch, describedBy } from "../components/common";
import { dmsLabel } from "../format";
import type { Company, CompanyUpdate, OfflinePolicy, SessionPolicy } from "../types";
import { TWO_FACTOR_UNAVAILABLE_MESSAGE } from "../dialogs/UserEditDialog";

export const TAKES_EFFECT_MESSAGE = "Takes effect at each user's next sign-in.";

/** The ranges the cloud accepts (protocol rules `check_offline_policy` / `check_session_policy`). */
export const OFFLINE_HOURS = { min: 1, max: 168 } as const;
/** The grace period shown while none in range is stored (offline sign-in
 * off, kept as 0): the window a new company starts from, three days. */
export const OFFLINE_HOURS_DEFAULT = 72;
export const IDLE_LOCK_MINUTES = { min: 5, max: 60 } as const;
export const SESSION_HOURS = { min: 1, max: 24 } as const;
/** 0 turns trusted computers off (the default). */
export const TRUSTED_DAYS = { min: 0, max: 30 } as const;
export const TRUSTED_DAYS_HELP =
  "0 turns it off. After a code, a person may skip the code on that computer for this many days; it ends early when their password, phone or factors change.";

type NumberField = "offline-hours" | "idle-lock" | "session-limit" | "trusted-days";

/** A whole number in `range`, or the sentence saying what is allowed. */
export function checkWholeNumber(text: string, range: { min: number; max: number }, unit: string): number | string {
  const message = `Enter ${range.min} to ${range.max} ${unit}.`;
  if (!/^\d+$/.test(text.trim())) return message;
  const value = Number(text.trim());
  return value >= range.min && value <= range.max ? value : message;
}

type Load =
  | { status: "loading"; previous: Company | null }
  | { status: "ready"; company: Company }
  | { status: "error"; message: string };

export function CompanyPage({
  initial,
  canEdit = false,
  onSaved,
  onSessionLost,
  dataVersion = 0,
}: {
  initial?: Company;
  /** A change re-reads the company from the cache (a sync landed), keeping it shown meanwhile. */
  dataVersion?: number;
  /** Admins may change the company-wide toggle; others see it disabled. */
  canEdit?: boolean;
  onSaved?: (company: Company) => void;
  /** Called instead of showing the error when the session is gone. */
  onSessionLost?: (message: string) => void;
}) {
  const api = useApi();
  const [load, setLoad] = useState<Load>({ status: "loading", previous: null });
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let current = true;
    setLoad((prev) => ({
      status: "loading",
      previous: prev.status === "ready" ? prev.company : prev.status === "loading" ? prev.previous : null,
    }));
    api.company().then(
      (company) => current && setLoad({ status: "ready", company }),
      (reason: unknown) => {
        if (!current) return;
        const error = toApiError(reason);
        if (onSessionLost && isSessionLost(error)) onSessionLost(error.message);
        else setLoad({ status: "error", message: error.message });
      },
    );
    return () => {
      current = false;
    };
  }, [api, reload, dataVersion, onSessionLost]);

  // While the fresh copy loads, show what the session already knows rather
  // than an empty page; an error still wins so it is never hidden.
  const company =
    load.status === "ready" ? load.company : load.status === "loading" ? (load.previous ?? initial) : undefined;

  return (
    <section className="page" aria-labelledby="company-title">
      <div className="page-header">
        <div>
          <h1 id="company-title">Company Profile</h1>
          <p className="page-subtitle">Settings that apply to everyone in your company.</p>
        </div>
        {load.status === "loading" ? <Spinner label="Refreshing…" /> : null}
      </div>
      {load.status === "error" ? (
        <ErrorAlert title="Company profile could not be loaded" message={load.message} onRetry={() => setReload((n) => n + 1)} />
      ) : null}
      {!company && load.status === "loading" ? (
        <div className="card table-state">
          <Spinner label="Loading company profile…" />
        </div>
      ) : null}
      {company ? (
        <CompanyDetails
          company={company}
          canEdit={canEdit}
          onSaved={(next) => {
            setLoad({ status: "ready", company: next });
            onSaved?.(next);
          }}
          onSessionLost={onSessionLost}
        />
      ) : null}
    </section>
  );
}

function CompanyDetails({
  company,
  canEdit,
  onSaved,
  onSessionLost,
}: {
  company: Company;
  canEdit: boolean;
  onSaved: (company: Company) => void;
  onSessionLost?: ((message: string) => void) | undefined;
}) {
  const api = useApi();
  // null = untouched: follow the company as loaded/saved.
  const [twoFactor, setTwoFactor] = useState<boolean | null>(null);
  const [offlineAllowed, setOfflineAllowed] = useState<boolean | null>(null);
  const [offlineHours, setOfflineHours] = useState<string | null>(null);
  const [idleLock, setIdleLock] = useState<string | null>(null);
  const [sessionLimit, setSessionLimit] = useState<string | null>(null);
  const [trustedDays, setTrustedDays] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const twoFactorValue = twoFactor ?? company.two_factor_required;
  const allowed = offlineAllowed ?? company.offline_policy.allowed;
  const storedHours = company.offline_policy.max_hours;
  const shownHours = storedHours >= OFFLINE_HOURS.min && storedHours <= OFFLINE_HOURS.max ? storedHours : OFFLINE_HOURS_DEFAULT;
  const hoursText = offlineHours ?? String(shownHours);
  const idleText = idleLock ?? String(company.session_policy.idle_lock_minutes);
  const limitText = sessionLimit ?? String(company.session_policy.max_session_hours);
  // An older cloud sends no value: off.
  const storedDays = company.session_policy.trusted_computer_days ?? 0;
  const daysText = trustedDays ?? String(storedDays);

  // Checked as typed, so an out-of-range value is pointed out before Save.
  // While offline sign-in is off and the hours untouched, what is stored
  // stays (nothing to send); anything sent is within 1 to 168.
  const hours = offlineHours === null && !allowed ? storedHours : checkWholeNumber(hoursText, OFFLINE_HOURS, "hours");
  const idle = checkWholeNumber(idleText, IDLE_LOCK_MINUTES, "minutes");
  const limit = checkWholeNumber(limitText, SESSION_HOURS, "hours");
  const days = checkWholeNumber(daysText, TRUSTED_DAYS, "days");
  const errors: Partial<Record<NumberField, string>> = {};
  if (typeof hours === "string") errors["offline-hours"] = hours;
  if (typeof idle === "string") errors["idle-lock"] = idle;
  if (typeof limit === "string") errors["session-limit"] = limit;
  if (typeof days === "string") errors["trusted-days"] = days;
  const invalid = Object.keys(errors).length > 0;

  const update: CompanyUpdate = {};
  if (twoFactorValue !== company.two_factor_required) update.two_factor_required = twoFactorValue;
  if (typeof hours === "number") {
    const offline: OfflinePolicy = { allowed, max_hours: hours };
    if (offline.allowed !== company.offline_policy.allowed || offline.max_hours !== company.offline_policy.max_hours) {
      update.offline_policy = offline;
    }
  }
  if (typeof idle === "number" && typeof limit === "number" && typeof days === "number") {
    const sessions: SessionPolicy = { idle_lock_minutes: idle, max_session_hours: limit, trusted_computer_days: days };
    if (
      sessions.idle_lock_minutes !== company.session_policy.idle_lock_minutes ||
      sessions.max_session_hours !== company.session_policy.max_session_hours ||
      sessions.trusted_computer_days !== storedDays
    ) {
      update.session_policy = sessions;
    }
  }
  const changed = Object.keys(update).length > 0;

  function edited() {
    setSaved(null);
    setError(null);
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    if (busy || !changed || invalid || !canEdit) return;
    setBusy(true);
    edited();
    try {
      const next = await api.updateCompany(update);
      setTwoFactor(null);
      setOfflineAllowed(null);
      setOfflineHours(null);
      setIdleLock(null);
      setSessionLimit(null);
      setTrustedDays(null);
      setSaved(
        update.two_factor_required !== undefined
          ? `Saved. Two-factor authentication is ${next.two_factor_required ? "on" : "off"} for the company. ${TAKES_EFFECT_MESSAGE}`
          : "Saved the company profile.",
      );
      onSaved(next);
    } catch (reason) {
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) onSessionLost(e.message);
      else setError(e.message);
    } finally {
      setBusy(false);
    }
  }

  const twoFactorAvailable = company.dms.supports_two_factor;
  const inputsDisabled = busy || !canEdit;
  return (
    <form className="card-grid" onSubmit={(e) => void save(e)} noValidate aria-busy={busy} aria-label="Company Profile settings">
      <article className="card detail-card" aria-labelledby="company-general">
        <h2 id="company-general">General</h2>
        <dl className="details">
          <dt>Company name</dt>
          <dd data-testid="company-name">{company.name}</dd>
        </dl>
      </article>

      <article className="card detail-card" aria-labelledby="company-dms-title">
        <h2 id="company-dms-title">DMS integration</h2>
        <div data-testid="company-dms">
          <dl className="details">
            <dt>Dealer management system</dt>
            <dd>{dmsLabel(company.dms)}</dd>
            <dt>Two-factor authentication</dt>
            <dd>
              {twoFactorAvailable ? (
                <Badge tone="success">Supported</Badge>
              ) : (
                <Badge tone="warning">Not supported</Badge>
              )}
            </dd>
          </dl>
        </div>
      </article>

      <TwoFactorCard
        company={company}
        canEdit={canEdit}
        busy={busy}
        value={twoFactorValue}
        onChange={(on) => {
          edited();
          setTwoFactor(on);
        }}
      />

      <article className="card detail-card" aria-labelledby="company-offline-title">
        <h2 id="company-offline-title">Offline sign-in</h2>
        <div data-testid="company-offline">
          <div className="setting-row">
            <span className="setting-label">Sign in without a connection</span>
            {company.offline_policy.allowed ? <Badge tone="success">Allowed</Badge> : <Badge tone="neutral">Not allowed</Badge>}
          </div>
          <p className="muted small">
            {company.offline_policy.allowed
              ? `For users who signed in online on this computer before. With two-factor authentication: up to ${company.offline_policy.max_hours} hours after their last code on this computer.`
              : "Signing in always needs a connection to the SecureClose cloud."}
          </p>
        </div>
        <Switch
          id="company-offline-allowed"
          testId="company-offline-allowed"
          label="Allow offline sign-in"
          checked={allowed}
          disabled={inputsDisabled}
          onChange={(on) => {
            edited();
            setOfflineAllowed(on);
            // A disabled field keeps no error: an invalid entry goes back to the shown value.
            if (!on && typeof checkWholeNumber(hoursText, OFFLINE_HOURS, "hours") === "string") setOfflineHours(null);
          }}
        />
        <NumberInput
          id="company-offline-hours"
          label="Grace period (hours)"
          help={`${OFFLINE_HOURS.min} to ${OFFLINE_HOURS.max} hours after a user's last online code on this computer.`}
          value={hoursText}
          error={errors["offline-hours"]}
          disabled={inputsDisabled || !allowed}
          range={OFFLINE_HOURS}
          onChange={(text) => {
            edited();
            setOfflineHours(text);
          }}
        />
      </article>

      <article className="card detail-card" aria-labelledby="company-sessions-title">
        <h2 id="company-sessions-title">Sessions</h2>
        <NumberInput
          id="company-idle-lock"
          label="Idle lock (minutes)"
          help={`SecureClose locks after ${IDLE_LOCK_MINUTES.min} to ${IDLE_LOCK_MINUTES.max} minutes without input; the password unlocks it.`}
          value={idleText}
          error={errors["idle-lock"]}
          disabled={inputsDisabled}
          range={IDLE_LOCK_MINUTES}
          onChange={(text) => {
            edited();
            setIdleLock(text);
          }}
        />
        <NumberInput
          id="company-session-limit"
          label="Session limit (hours)"
          help={`After ${SESSION_HOURS.min} to ${SESSION_HOURS.max} hours, users sign in again, however active they are.`}
          value={limitText}
          error={errors["session-limit"]}
          disabled={inputsDisabled}
          range={SESSION_HOURS}
          onChange={(text) => {
            edited();
            setSessionLimit(text);
          }}
        />
        <NumberInput
          id="company-trusted-days"
          label="Trusted computers: days without a code"
          help={TRUSTED_DAYS_HELP}
          value={daysText}
          error={errors["trusted-days"]}
          disabled={inputsDisabled}
          range={TRUSTED_DAYS}
          onChange={(text) => {
            edited();
            setTrustedDays(text);
          }}
        />
      </article>

      <div className="card detail-card company-save-bar">
        {!canEdit ? (
          <p id="company-two-factor-admin-only" className="muted small" data-testid="company-admin-only">
            Only administrators can change this setting.
          </p>
        ) : null}
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="company-error">
            {error}
          </div>
        ) : null}
        {saved ? (
          <p className="success-note" role="status" data-testid="company-saved">
            {saved}
          </p>
        ) : null}
        <div className="button-row">
          <button type="submit" className="btn btn-primary" data-testid="company-save" disabled={busy || !canEdit || !changed || invalid}>
            {busy ? "Saving…" : "Save"}
          </button>
        </div>
      </div>
    </form>
  );
}

function NumberInput({
  id,
  label,
  help,
  value,
  error,
  disabled,
  range,
  onChange,
}: {
  id: string;
  label: string;
  help: string;
  value: string;
  error: string | undefined;
  disabled: boolean;
  range: { min: number; max: number };
  onChange: (text: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        data-testid={id}
        type="number"
        inputMode="numeric"
        min={range.min}
        max={range.max}
        step={1}
        value={value}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(`${id}-help`, error && `${id}-error`)}
        onChange={(e) => onChange(e.target.value)}
      />
      <p id={`${id}-help`} className="field-help">
        {help}
      </p>
      <FieldError id={`${id}-error`} testId={`${id}-error`} message={error ?? null} />
    </div>
  );
}

/**
 * The article's "Company Profile" steps: the Two Factor Authentication toggle,
 * then Save. Disabled (with the reason) for non-admins and when the DMS
 * integration has no 2FA support; turning it off stays possible there.
 */
function TwoFactorCard({
  company,
  canEdit,
  busy,
  value,
  onChange,
}: {
  company: Company;
  canEdit: boolean;
  busy: boolean;
  value: boolean;
  onChange: (on: boolean) => void;
}) {
  const available = company.dms.supports_two_factor;
  const toggleDisabled = busy || !canEdit || (!available && !company.two_factor_required);
  return (
    <article className="card detail-card" aria-labelledby="company-2fa-title">
      <h2 id="company-2fa-title">Two-Factor Authentication</h2>
      <div data-testid="company-two-factor">
        <div className="setting-row">
          <span className="setting-label">Require for all users</span>
          {company.two_factor_required ? <Badge tone="success">On</Badge> : <Badge tone="neutral">Off</Badge>}
        </div>
        <p className="muted small">
          {!available
            ? "Cannot be turned on for this company or its users."
            : company.two_factor_required
              ? "Every user enters a code sent to their mobile phone after their password."
              : "Off for the company: it can still be turned on for individual users."}
        </p>
      </div>
      <Switch
        id="company-two-factor-toggle"
        testId="company-two-factor-toggle"
        label="Two-Factor Authentication"
        checked={value}
        disabled={toggleDisabled}
        describedBy={describedBy(
          "company-two-factor-help",
          !available && "company-two-factor-unavailable",
          !canEdit && "company-two-factor-admin-only",
        )}
        onChange={onChange}
      />
      <p id="company-two-factor-help" className="field-help">
        Users with a mobile phone enter a texted code after their password; users without one add a phone at sign-in.{" "}
        {TAKES_EFFECT_MESSAGE}
      </p>
      {!available ? (
        <p id="company-two-factor-unavailable" className="note" data-testid="two-factor-unavailable">
          {TWO_FACTOR_UNAVAILABLE_MESSAGE}
        </p>
      ) : null}
    </article>
  );
}
