// The computers where a person skips the sign-in code ("Don't ask for a code
// on this computer"), with Revoke for each. The same list serves the
// person's own profile and an admin's Edit dialog; both need the cloud.
import { useEffect, useRef, useState } from "react";
import { isSessionLost, toApiError } from "../api";
import { formatDate, formatSyncTime } from "../format";
import type { TrustedComputer } from "../types";
import { Badge, Spinner } from "./common";

export const TRUSTED_NONE = "No trusted computers.";

type Load = { status: "loading" } | { status: "ready"; computers: TrustedComputer[] } | { status: "error"; message: string };

export function TrustedComputers({
  prefix,
  lead,
  load,
  revoke,
  connected,
  offlineText,
  active = true,
  onSessionLost,
}: {
  /** Test ids and element ids: `${prefix}-computer`, `${prefix}-revoke`, `${prefix}-none`. */
  prefix: string;
  lead: string;
  /** Keep it stable (useCallback): a new function loads the list again. */
  load: () => Promise<TrustedComputer[]>;
  revoke: (id: string) => Promise<void>;
  /** Without the cloud there is nothing to show: the list lives there. */
  connected: boolean;
  offlineText: string;
  /** Loaded the first time it is shown (e.g. its tab), not before. */
  active?: boolean;
  onSessionLost?: ((message: string) => void) | undefined;
}) {
  const [state, setState] = useState<Load>({ status: "loading" });
  const [shown, setShown] = useState(active);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [revokeError, setRevokeError] = useState<string | null>(null);
  const [revoked, setRevoked] = useState<string | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (active) setShown(true);
  }, [active]);

  useEffect(() => {
    if (!shown || !connected) return;
    let live = true;
    setState({ status: "loading" });
    load().then(
      (computers) => {
        if (live) setState({ status: "ready", computers });
      },
      (reason: unknown) => {
        if (!live) return;
        const failure = toApiError(reason);
        if (onSessionLost && isSessionLost(failure)) return onSessionLost(failure.message);
        setState({ status: "error", message: failure.message });
      },
    );
    return () => {
      live = false;
    };
  }, [shown, connected, load, onSessionLost]);

  async function revokeOne(computer: TrustedComputer) {
    if (revoking) return;
    setRevoking(computer.id);
    setRevokeError(null);
    setRevoked(null);
    try {
      await revoke(computer.id);
      setState((s) => (s.status === "ready" ? { ...s, computers: s.computers.filter((c) => c.id !== computer.id) } : s));
      setRevoked(`${computer.label} asks for a code again at the next sign-in.`);
      // Its button is gone: keep focus in the list rather than lose it to the page.
      headingRef.current?.focus();
    } catch (reason) {
      const failure = toApiError(reason);
      if (onSessionLost && isSessionLost(failure)) return onSessionLost(failure.message);
      setRevokeError(failure.message);
    } finally {
      setRevoking(null);
    }
  }

  const headingId = `${prefix}-title`;
  return (
    <section className="trusted-computers" aria-labelledby={headingId} data-testid={`${prefix}-computers`}>
      <h3 id={headingId} ref={headingRef} tabIndex={-1} className="section-title">
        Trusted computers
      </h3>
      <p className="field-help">{lead}</p>
      {!connected ? (
        <p className="note" data-testid={`${prefix}-offline`}>
          {offlineText}
        </p>
      ) : state.status === "loading" ? (
        <Spinner label="Loading trusted computers…" />
      ) : state.status === "error" ? (
        <div className="alert alert-error" role="alert" data-testid={`${prefix}-error`}>
          {state.message}
        </div>
      ) : state.computers.length === 0 ? (
        <p className="muted small" data-testid={`${prefix}-none`}>
          {TRUSTED_NONE}
        </p>
      ) : (
        <ul className="trusted-list">
          {state.computers.map((c) => (
            <li key={c.id} className="trusted-row" data-testid={`${prefix}-computer`}>
              <div className="trusted-info">
                <span className="trusted-label" id={`${prefix}-label-${c.id}`}>
                  {c.label}
                </span>{" "}
                {c.this_computer ? <Badge tone="brand">This computer</Badge> : null}
                <span className="muted small trusted-dates">
                  Added {formatDate(c.created_at)} · {c.last_used_at === null ? "Not used yet" : `Last used ${formatSyncTime(c.last_used_at)}`} · until{" "}
                  {formatDate(c.expires_at)}
                </span>
              </div>
              <button
                type="button"
                className="btn btn-secondary btn-small"
                data-testid={`${prefix}-revoke`}
                aria-describedby={`${prefix}-label-${c.id}`}
                disabled={revoking !== null}
                onClick={() => void revokeOne(c)}
              >
                {revoking === c.id ? "Revoking…" : "Revoke"}
              </button>
            </li>
          ))}
        </ul>
      )}
      {revokeError ? (
        <div className="alert alert-error" role="alert" data-testid={`${prefix}-revoke-error`}>
          {revokeError}
        </div>
      ) : null}
      {revoked ? (
        <p className="success-note" role="status" data-testid={`${prefix}-revoked`}>
          {revoked}
        </p>
      ) : null}
    </section>
  );
}
