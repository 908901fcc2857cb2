import { useEffect, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Badge, ErrorAlert, Spinner, Switch, describedBy } from "../components/common";
import { dmsLabel } from "../format";
import type { Company } from "../types";
import { TWO_FACTOR_UNAVAILABLE_MESSAGE } from "../dialogs/UserEditDialog";

export const TAKES_EFFECT_MESSAGE = "Takes effect at each user's next sign-in.";

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
  const twoFactorAvailable = company.dms.supports_two_factor;
  return (
    <div className="card-grid">
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

      <TwoFactorCard company={company} canEdit={canEdit} onSaved={onSaved} onSessionLost={onSessionLost} />

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
      </article>
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
  const [draft, setDraft] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const available = company.dms.supports_two_factor;
  const value = draft ?? company.two_factor_required;
  const changed = value !== company.two_factor_required;
  const toggleDisabled = busy || !canEdit || (!available && !company.two_factor_required);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (busy || !changed || !canEdit) return;
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const next = await api.updateCompany({ two_factor_required: value });
      setDraft(null);
      setSaved(
        `Saved. Two-factor authentication is ${next.two_factor_required ? "on" : "off"} for the company. ${TAKES_EFFECT_MESSAGE}`,
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
      <form className="form" onSubmit={(e) => void save(e)} noValidate aria-busy={busy}>
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
          onChange={(on) => {
            setSaved(null);
            setError(null);
            setDraft(on);
          }}
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
          <button type="submit" className="btn btn-primary" data-testid="company-save" disabled={busy || !canEdit || !changed}>
            {busy ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </article>
  );
}
