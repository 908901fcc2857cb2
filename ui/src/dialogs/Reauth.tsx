// Re-authentication before a security change (ASVS 5.0 V6/V7): adding or
// removing an authenticator app, new recovery codes and an admin's reset of
// someone's two-factor need the person to have proved themselves again in
// the last 5 minutes. The core refuses with `reauth_required`; `useReauth`
// then asks here (password, then a code when they have a second factor) and
// runs the refused action once more.
import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useApi } from "../ApiContext";
import { ApiCallError, isReauthRequired, isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, describedBy } from "../components/common";
import { useNow } from "../hooks";
import type { Challenge, SecondFactorMethod } from "../types";
import { CodeStep, retryText } from "./SecondFactor";

export const REAUTH_TITLE = "Confirm it’s you";
export const REAUTH_PASSWORD_MISSING = "Enter your current password.";
/** What a guarded action rejects with when the person cancels the check: show nothing. */
export const REAUTH_CANCELLED = "reauth_cancelled";

export function reauthLead(action: string): string {
  return `For your security, confirm it’s you ${action}.`;
}

export function isReauthCancelled(reason: unknown): boolean {
  return reason instanceof ApiCallError && reason.code === REAUTH_CANCELLED;
}

interface Props {
  /** What it is for, e.g. "to set up an authenticator app". */
  action: string;
  /** The proof holds now: the caller runs the action again. */
  onDone: () => void;
  onCancel: () => void;
  /** The session ended meanwhile: the caller handles it as any other call. */
  onSessionLost: (failure: ApiCallError) => void;
  returnFocus?: (() => void) | undefined;
}

export function ReauthDialog({ action, onDone, onCancel, onSessionLost, returnFocus }: Props) {
  const api = useApi();
  const now = useNow(1000);
  const [challenge, setChallenge] = useState<Challenge | null>(null);
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<{ message: string; retryAt?: number | undefined } | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  // Focus the field again once it is enabled (a disabled input cannot take focus).
  const [refocus, setRefocus] = useState(false);
  useEffect(() => {
    if (refocus && !busy && !challenge) {
      passwordRef.current?.focus();
      setRefocus(false);
    }
  }, [refocus, busy, challenge]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setError(null);
    if (!password) {
      setFieldError(REAUTH_PASSWORD_MISSING);
      passwordRef.current?.focus();
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const step = await api.reauthenticate(password);
      setPassword("");
      if (step.state === "done") return onDone();
      setChallenge(step.challenge);
      setBusy(false);
    } catch (reason) {
      const failure = toApiError(reason);
      if (isSessionLost(failure)) return onSessionLost(failure);
      // A refused password is never kept: type it again.
      setPassword("");
      if (failure.code === "invalid_credentials") setFieldError(failure.message);
      else setError({ message: failure.message, retryAt: failure.retry_at });
      setRefocus(true);
      setBusy(false);
    }
  }

  const verify = useCallback(
    async (code: string, method: SecondFactorMethod) => {
      try {
        await api.verifyReauth(code, method);
      } catch (reason) {
        const failure = toApiError(reason);
        if (!isSessionLost(failure)) throw failure;
        onSessionLost(failure);
        return true;
      }
      onDone();
      return true;
    },
    [api, onDone, onSessionLost],
  );
  const resend = useCallback(() => api.resendReauthCode(), [api]);
  // Too many wrong codes, or the step timed out: start again from the password.
  const closed = useCallback((reason: string) => {
    setChallenge(null);
    setError({ message: reason });
    setRefocus(true);
  }, []);

  const errorText = error ? [error.message, retryText(error.retryAt, now)].filter(Boolean).join(" ") : null;

  return (
    <Dialog
      labelledBy="reauth-title"
      describedBy="reauth-lead"
      testId="reauth-dialog"
      onCancel={onCancel}
      initialFocus={passwordRef}
      returnFocus={returnFocus}
    >
      <h2 id="reauth-title" className="dialog-title">
        {REAUTH_TITLE}
      </h2>
      <p id="reauth-lead" className="dialog-lead" data-testid="reauth-lead">
        {reauthLead(action)}
      </p>
      {challenge ? (
        <CodeStep
          challenge={challenge}
          onChallenge={setChallenge}
          verify={verify}
          resend={resend}
          onClosed={closed}
          onCancel={onCancel}
          cancelTestId="reauth-cancel"
        />
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
          <div className="field">
            <label htmlFor="reauth-password">Current password</label>
            <input
              id="reauth-password"
              ref={passwordRef}
              data-testid="reauth-password"
              type="password"
              autoComplete="current-password"
              value={password}
              aria-invalid={fieldError ? true : undefined}
              aria-describedby={describedBy(fieldError && "reauth-password-error", errorText && "reauth-error")}
              onChange={(e) => {
                setPassword(e.target.value);
                setFieldError(null);
              }}
              disabled={busy}
            />
            <FieldError id="reauth-password-error" testId="reauth-password-error" message={fieldError} />
          </div>
          {errorText ? (
            <div id="reauth-error" className="alert alert-error" role="alert" data-testid="reauth-error">
              {errorText}
            </div>
          ) : null}
          <div className="button-row">
            <button type="button" className="btn btn-secondary" data-testid="reauth-cancel" onClick={onCancel}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" data-testid="reauth-submit" disabled={busy}>
              {busy ? "Checking…" : "Continue"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

/**
 * Wraps security changes: `guard(run, action)` runs the action; refused with
 * `reauth_required`, it shows `dialog` (render it inside the caller's own
 * dialog, outside any form: React bubbles a submit to the forms around) asking "to <action>", and once the person proved themselves runs
 * it again once and resolves with that result. Cancelled, it rejects
 * `REAUTH_CANCELLED` (`isReauthCancelled`: show nothing). Every other error
 * passes unchanged.
 */
export function useReauth(): {
  guard: <T>(run: () => Promise<T>, action: string) => Promise<T>;
  /** Asks first, for a change the cloud checks later (a queued edit). */
  confirm: (action: string) => Promise<void>;
  dialog: ReactNode;
} {
  const [action, setAction] = useState<string | null>(null);
  // One check for every action waiting on it (a second refusal joins it).
  const waiting = useRef<{ promise: Promise<void>; resolve: () => void; reject: (reason: unknown) => void } | null>(null);
  const opener = useRef<HTMLElement | null>(null);

  const settle = useCallback((failure?: unknown) => {
    const wait = waiting.current;
    waiting.current = null;
    setAction(null);
    if (!wait) return;
    if (failure === undefined) wait.resolve();
    else wait.reject(failure);
  }, []);

  // Gone (the caller's dialog closed): nothing waits for ever.
  useEffect(
    () => () => {
      const wait = waiting.current;
      waiting.current = null;
      wait?.reject(new ApiCallError(REAUTH_CANCELLED, "Cancelled."));
    },
    [],
  );

  const confirm = useCallback((what: string): Promise<void> => {
    if (!waiting.current) {
      let resolve: () => void = () => undefined;
      let reject: (reason: unknown) => void = () => undefined;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      waiting.current = { promise, resolve, reject };
      opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      setAction(what);
    }
    return waiting.current.promise;
  }, []);

  const guard = useCallback(
    async <T,>(run: () => Promise<T>, what: string): Promise<T> => {
      try {
        return await run();
      } catch (reason) {
        if (!isReauthRequired(toApiError(reason))) throw reason;
      }
      await confirm(what);
      // Once: a second refusal is the caller's to show.
      return run();
    },
    [confirm],
  );

  // The opener is usually disabled while its action waits: hold focus in the
  // dialog around it, and give it back once the caller enabled it again
  // (after a cancel), unless the person has moved on meanwhile.
  const returnFocus = useCallback(() => {
    const el = opener.current;
    if (!el || !el.isConnected) return;
    const usable = () => el.isConnected && !el.matches(":disabled");
    if (usable()) return el.focus();
    const holder = el.closest<HTMLElement>('[role="dialog"]');
    holder?.focus();
    let tries = 0;
    const retry = () => {
      if (document.activeElement !== holder || !el.isConnected) return;
      if (usable()) el.focus();
      else if ((tries += 1) < 10) window.setTimeout(retry, 50);
    };
    window.setTimeout(retry, 0);
  }, []);

  const dialog =
    action !== null ? (
      <ReauthDialog
        action={action}
        onDone={() => settle()}
        onCancel={() => settle(new ApiCallError(REAUTH_CANCELLED, "Cancelled."))}
        onSessionLost={(failure) => settle(failure)}
        returnFocus={returnFocus}
      />
    ) : null;
  return { guard, confirm, dialog };
}
