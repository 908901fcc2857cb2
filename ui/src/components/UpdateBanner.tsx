import { useCallback, useEffect, useRef, useState } from "react";
import { useApi } from "../ApiContext";
import { toApiError } from "../api";
import type { UpdateInfo } from "../types";

/** Checked at start and then this often while the app runs. */
export const UPDATE_CHECK_INTERVAL_MS = 4 * 60 * 60 * 1000;

export type UpdateState =
  | { kind: "checking" }
  | { kind: "current" }
  | { kind: "check_failed"; message: string }
  | { kind: "available"; update: UpdateInfo }
  | { kind: "later"; update: UpdateInfo }
  | { kind: "downloading"; update: UpdateInfo; downloaded: number; total: number | null }
  | { kind: "installing"; update: UpdateInfo }
  | { kind: "install_failed"; update: UpdateInfo; message: string };

function percent(downloaded: number, total: number | null): number | null {
  return total && total > 0 ? Math.min(100, Math.round((downloaded / total) * 100)) : null;
}

/**
 * Non-blocking update notice in a corner of every screen. A failed check is
 * shown as one muted line (the app keeps working; details are in the log);
 * an available update offers "Install and restart" with its release notes and
 * then shows download progress. `data-state` lets tests see a finished check.
 */
export function UpdateBanner() {
  const api = useApi();
  const [state, setState] = useState<UpdateState>({ kind: "checking" });
  // Periodic checks must not interrupt a download or bring back a banner the
  // person just put off for the same version.
  const busy = useRef(false);

  const check = useCallback(async () => {
    if (!api.checkUpdate || busy.current) return;
    try {
      const update = await api.checkUpdate();
      if (busy.current) return;
      setState((s) => {
        if (!update) return { kind: "current" };
        if (s.kind === "later" && s.update.version === update.version) return s;
        return { kind: "available", update };
      });
    } catch (reason) {
      if (!busy.current) setState({ kind: "check_failed", message: toApiError(reason).message });
    }
  }, [api]);

  useEffect(() => {
    void check();
    const timer = setInterval(() => void check(), UPDATE_CHECK_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [check]);

  const install = async (update: UpdateInfo) => {
    if (!api.installUpdate) return;
    busy.current = true;
    setState({ kind: "downloading", update, downloaded: 0, total: null });
    try {
      await api.installUpdate((progress) => {
        setState(
          progress.event === "installing"
            ? { kind: "installing", update }
            : { kind: "downloading", update, downloaded: progress.downloaded, total: progress.total },
        );
      });
    } catch (reason) {
      setState({ kind: "install_failed", update, message: toApiError(reason).message });
    } finally {
      busy.current = false;
    }
  };

  if (!api.checkUpdate) return null;

  switch (state.kind) {
    case "checking":
    case "current":
    case "later":
      return <span className="visually-hidden" data-testid="update-status" data-state={state.kind} />;
    case "check_failed":
      return (
        <p className="update-quiet" data-testid="update-status" data-state={state.kind} title={state.message}>
          Couldn't check for updates.
        </p>
      );
    case "available":
    case "install_failed": {
      const { update } = state;
      return (
        <section
          className="update-banner"
          data-testid="update-status"
          data-state={state.kind}
          aria-label="Update available"
          role="status"
        >
          <p className="update-title" data-testid="update-title">
            SecureClose {update.version} is available
          </p>
          <p className="update-sub">You have {update.current_version}.</p>
          {update.notes ? (
            <details className="update-notes">
              <summary>Release notes</summary>
              <p data-testid="update-notes">{update.notes}</p>
            </details>
          ) : null}
          {state.kind === "install_failed" ? (
            <p className="update-error" data-testid="update-error">
              {state.message}
            </p>
          ) : null}
          <div className="update-actions">
            <button type="button" className="btn btn-primary" data-testid="update-install" onClick={() => void install(update)}>
              {state.kind === "install_failed" ? "Try again" : "Install and restart"}
            </button>
            <button type="button" className="btn btn-secondary" data-testid="update-later" onClick={() => setState({ kind: "later", update })}>
              Later
            </button>
          </div>
        </section>
      );
    }
    case "downloading":
    case "installing": {
      const pct = state.kind === "downloading" ? percent(state.downloaded, state.total) : 100;
      return (
        <section
          className="update-banner"
          data-testid="update-status"
          data-state={state.kind}
          aria-label="Updating SecureClose"
          role="status"
        >
          <p className="update-title">
            {state.kind === "installing"
              ? `Installing SecureClose ${state.update.version}… the app restarts when done.`
              : `Downloading SecureClose ${state.update.version}${pct === null ? "…" : ` — ${pct}%`}`}
          </p>
          <progress
            className="update-progress"
            data-testid="update-progress"
            max={100}
            value={pct ?? undefined}
            aria-label="Update progress"
          />
        </section>
      );
    }
  }
}
