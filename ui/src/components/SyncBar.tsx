// The portal's view of the background sync: the status line in the top bar,
// the notices about edits the cloud refused, and the subscription to the
// core's `sync-status` event that feeds both.
import { useEffect, useRef } from "react";
import type { Api } from "../api";
import { assertNever, editCount, formatSyncTime } from "../format";
import type { SyncNotice, SyncStatus } from "../types";

/** How often the status is asked for when the event cannot be listened to. */
export const SYNC_POLL_MS = 5_000;

export const OFFLINE_SIGN_IN_MESSAGE = "Signed in offline. Changes will sync when the connection returns.";

function waiting(n: number): string {
  return `${editCount(n)} waiting to sync`;
}

/** The status line, word for word as the README and the e2e tests know it. */
export function syncStatusText(status: SyncStatus, now: number = Date.now()): string {
  const n = status.pending_edits;
  const lastSynced = status.last_synced_at === null ? null : `Last synced ${formatSyncTime(status.last_synced_at, now)}`;
  switch (status.state) {
    case "idle":
      return ["Online", n > 0 ? waiting(n) : "All changes synced", lastSynced].filter(Boolean).join(" · ");
    case "syncing":
      return "Syncing…";
    case "offline":
      // Nothing waiting: the useful fact is how fresh the cached data is.
      return `Offline — ${n > 0 ? waiting(n) : (lastSynced ?? "Not synced yet")}`;
    case "waiting_to_retry": {
      const retry = status.next_retry_at === null ? "soon" : `at ${formatSyncTime(status.next_retry_at, now)}`;
      return `Can't reach SecureClose — retrying ${retry}${n > 0 ? ` · ${waiting(n)}` : ""}`;
    }
    case "needs_sign_in":
      return n > 0 ? `Sign in again to sync ${editCount(n)}` : "Sign in again to sync";
    case "stopped":
      return "Sync paused";
    default:
      return assertNever(status.state);
  }
}

/**
 * Calls `onStatus` with the core's sync status: once at mount and then on
 * every `sync-status` event. If the event can't be listened to, it asks
 * every SYNC_POLL_MS instead, so the bar never freezes on a stale state.
 */
export function useSyncStatus(api: Api, onStatus: (status: SyncStatus) => void) {
  // The latest callback without re-subscribing when it changes.
  const latest = useRef(onStatus);
  useEffect(() => {
    latest.current = onStatus;
  }, [onStatus]);

  useEffect(() => {
    let active = true;
    let heard = false;
    let stopListening: (() => void) | null = null;
    let poll: number | undefined;
    const deliver = (status: SyncStatus) => {
      if (active) latest.current(status);
    };
    api
      .onSyncStatus((status) => {
        heard = true;
        deliver(status);
      })
      .then(
        (stop) => {
          // Unmounted while subscribing: stop at once, nothing may leak.
          if (active) stopListening = stop;
          else stop();
        },
        () => {
          if (!active) return;
          poll = window.setInterval(() => {
            api.syncStatus().then(deliver, () => undefined);
          }, SYNC_POLL_MS);
        },
      );
    api.syncStatus().then(
      // An event that already arrived is newer than this answer.
      (status) => {
        if (!heard) deliver(status);
      },
      () => undefined,
    );
    return () => {
      active = false;
      stopListening?.();
      window.clearInterval(poll);
    };
  }, [api]);
}

export function SyncStatusLine({
  status,
  online,
  now,
  busy,
  onSyncNow,
  onSignInAgain,
}: {
  /** null until the core answered: only online/offline is known then. */
  status: SyncStatus | null;
  online: boolean;
  now: number;
  busy: boolean;
  onSyncNow: () => void;
  onSignInAgain: () => void;
}) {
  const isOnline = status?.online ?? online;
  const needsSignIn = status?.state === "needs_sign_in";
  const text = status ? syncStatusText(status, now) : isOnline ? "Online" : "Offline";
  return (
    <div className="sync-bar">
      <div className="sync-status" role="status" data-testid="sync-status" data-state={status?.state}>
        <span className={`status-dot ${isOnline ? "status-online" : "status-offline"}`} aria-hidden="true" />
        {needsSignIn ? (
          <button type="button" className="link-button" data-testid="sync-sign-in" onClick={onSignInAgain} disabled={busy}>
            {text}
          </button>
        ) : (
          <span data-testid="sync-status-text">{text}</span>
        )}
      </div>
      {needsSignIn ? null : (
        <button
          type="button"
          className="link-button sync-now"
          data-testid="sync-now"
          onClick={onSyncNow}
          disabled={busy || status?.state === "syncing"}
        >
          Sync now
        </button>
      )}
    </div>
  );
}

export function syncNoticeText(notice: SyncNotice): string {
  return `Your change to ${notice.subject} was not saved: ${notice.message}`;
}

export function SyncNotices({
  notices,
  onDismiss,
}: {
  notices: SyncNotice[];
  onDismiss: (id: number) => void;
}) {
  // Always rendered (even empty) so a screen reader hears a notice appear.
  return (
    <div className="sync-notices" aria-live="polite">
      {notices.length > 0 ? (
        <ul aria-label="Sync notices">
          {notices.map((notice) => (
            <li key={notice.id} className="alert alert-warning" data-testid="sync-notice">
              <p id={`sync-notice-${notice.id}`}>{syncNoticeText(notice)}</p>
              <button
                type="button"
                className="btn btn-secondary btn-small"
                data-testid="sync-notice-dismiss"
                aria-describedby={`sync-notice-${notice.id}`}
                onClick={() => onDismiss(notice.id)}
              >
                Dismiss
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
