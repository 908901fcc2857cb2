import { useEffect, useState } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Badge, ErrorAlert, Spinner } from "../components/common";
import { dmsLabel } from "../format";
import type { Company } from "../types";

type Load = { status: "loading" } | { status: "ready"; company: Company } | { status: "error"; message: string };

export function CompanyPage({
  initial,
  onSessionLost,
}: {
  initial?: Company;
  /** Called instead of showing the error when the session is gone. */
  onSessionLost?: (message: string) => void;
}) {
  const api = useApi();
  const [load, setLoad] = useState<Load>({ status: "loading" });
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let current = true;
    setLoad({ status: "loading" });
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
  }, [api, reload, onSessionLost]);

  // While the fresh copy loads, show what the session already knows rather
  // than an empty page; an error still wins so it is never hidden.
  const company = load.status === "ready" ? load.company : load.status === "loading" ? initial : undefined;

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
      {company ? <CompanyDetails company={company} /> : null}
    </section>
  );
}

function CompanyDetails({ company }: { company: Company }) {
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

      <article className="card detail-card" aria-labelledby="company-2fa-title">
        <h2 id="company-2fa-title">Two-Factor Authentication</h2>
        <div data-testid="company-two-factor">
          <div className="setting-row">
            <span className="setting-label">Require for all users</span>
            {company.two_factor_required ? <Badge tone="success">On</Badge> : <Badge tone="neutral">Off</Badge>}
          </div>
          <p className="muted small">
            {company.two_factor_required
              ? "Every user enters a code sent to their mobile phone after their password."
              : "Off for the company: it can still be turned on for individual users."}
            {twoFactorAvailable ? "" : " Not available with your current DMS integration."}
          </p>
        </div>
        <p className="muted small">Read-only in this version.</p>
      </article>

      <article className="card detail-card" aria-labelledby="company-offline-title">
        <h2 id="company-offline-title">Offline sign-in</h2>
        <div data-testid="company-offline">
          <div className="setting-row">
            <span className="setting-label">Sign in without a connection</span>
            {company.offline_policy.allowed ? <Badge tone="success">Allowed</Badge> : <Badge tone="neutral">Not allowed</Badge>}
          </div>
          <p className="muted small">
            {company.offline_policy.allowed
              ? `Up to ${company.offline_policy.max_hours} hours after the last online sign-in on this computer.`
              : "Signing in always needs a connection to the SecureClose cloud."}
          </p>
        </div>
      </article>
    </div>
  );
}
