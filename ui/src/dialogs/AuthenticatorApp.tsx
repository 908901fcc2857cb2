// Adding an authenticator app, from the profile or at the sign-in enrolment step:
// shows its secret once, as a QR code AND as grouped text with a Copy button
// (for apps or computers that cannot scan), and is finished by the app's
// first code. The secret lives only in this dialog's state: never in the
// cache, a log or the web view's storage; closing the dialog drops it.
import qrcode from "qrcode-generator";
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError, type ApiCallError } from "../api";
import { Dialog } from "../components/Dialog";
import type { TotpEnrollment } from "../types";
import { isReauthCancelled, useReauth } from "./Reauth";
import { CODE_LENGTH, attemptsText, codeDigits } from "./SecondFactor";

export const APP_ADDED =
  "Your authenticator app is set up. You can use its codes to sign in; anywhere else you were signed in has been signed out.";
export const APP_REMOVED = "Your authenticator app was removed. Its codes no longer sign you in.";

/** "JBSW Y3DP EHPK 3PXP": groups of four are easier to type without a slip. */
export function groupSecret(secret: string): string {
  return secret.replace(/\s+/g, "").match(/.{1,4}/g)?.join(" ") ?? "";
}

/** The QR code of `text` (medium error correction, the smallest version that fits). */
export function qrMatrix(text: string): { size: number; isDark: (row: number, col: number) => boolean } {
  const code = qrcode(0, "M");
  code.addData(text);
  code.make();
  return { size: code.getModuleCount(), isDark: (row, col) => code.isDark(row, col) };
}

/** The otpauth URI as an SVG QR code (drawn here: no image URL for the CSP to allow). */
export function QrCode({ text, label }: { text: string; label: string }) {
  const path = useMemo(() => {
    const code = qrMatrix(text);
    const cells: string[] = [];
    for (let row = 0; row < code.size; row += 1) {
      for (let col = 0; col < code.size; col += 1) {
        if (code.isDark(row, col)) cells.push(`M${col + 4} ${row + 4}h1v1h-1z`);
      }
    }
    return { d: cells.join(""), size: code.size + 8 };
  }, [text]);
  return (
    <svg
      className="qr-code"
      data-testid="totp-qr"
      role="img"
      aria-label={label}
      viewBox={`0 0 ${path.size} ${path.size}`}
      width={path.size * 5}
      height={path.size * 5}
      shapeRendering="crispEdges"
    >
      <rect width={path.size} height={path.size} fill="#fff" />
      <path d={path.d} fill="#000" />
    </svg>
  );
}

interface SetupProps {
  onCancel: () => void;
  /** The app is on; `recoveryCodes`: ten to show once if it was the first factor (else empty). */
  onAdded: (recoveryCodes: string[]) => void;
  onSessionLost: (message: string) => void;
}

/** From the profile: the app becomes a second factor of the signed-in person. */
export function TotpSetupDialog({ onCancel, onAdded, onSessionLost }: SetupProps) {
  const api = useApi();
  const { guard, dialog: reauthDialog } = useReauth();
  const begin = useCallback(() => guard(() => api.beginTotp(), "to set up an authenticator app"), [api, guard]);
  const confirm = useCallback(
    async (enrollment: TotpEnrollment, code: string) => {
      const status = await api.confirmTotp(enrollment.enrollment_id, code);
      // `?? []`: a core from before recovery codes leaves the field out.
      onAdded(status.recovery_codes ?? []);
    },
    [api, onAdded],
  );
  const takeOver = useCallback(
    (failure: ApiCallError) => {
      // Not confirmed: no setup without the proof, back to the profile.
      if (isReauthCancelled(failure)) {
        onCancel();
        return true;
      }
      if (!isSessionLost(failure)) return false;
      onSessionLost(failure.message);
      return true;
    },
    [onSessionLost, onCancel],
  );
  return (
    <Dialog labelledBy="totp-title" describedBy="totp-lead" testId="totp-setup-dialog" onCancel={onCancel}>
      <h2 id="totp-title" className="dialog-title">
        Set up an authenticator app
      </h2>
      <TotpSetupForm begin={begin} confirm={confirm} takeOver={takeOver} onCancel={onCancel} confirmLabel="Turn on" />
      {reauthDialog}
    </Dialog>
  );
}

interface FormProps {
  /** Starts a setup: a new secret each time (also for "Start again"). */
  begin: () => Promise<TotpEnrollment>;
  /** Sends the app's first code; resolves once it was accepted. */
  confirm: (enrollment: TotpEnrollment, code: string) => Promise<void>;
  /** A failure the caller handles itself (session lost, sign-in ended): true. */
  takeOver: (failure: ApiCallError) => boolean;
  onCancel: () => void;
  confirmLabel: string;
}

/**
 * The secret as a QR code and as grouped text with Copy, then the first code.
 * Shared by the profile and the sign-in enrolment step.
 */
export function TotpSetupForm({ begin, confirm, takeOver, onCancel, confirmLabel }: FormProps) {
  const [enrollment, setEnrollment] = useState<TotpEnrollment | null>(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [attemptsLeft, setAttemptsLeft] = useState<number | null>(null);
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  const [restart, setRestart] = useState(0);
  // Expired, or out of tries: only a new setup (a new secret) can go on.
  const [ended, setEnded] = useState(false);
  const codeRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let live = true;
    setEnrollment(null);
    setError(null);
    setEnded(false);
    setAttemptsLeft(null);
    setCode("");
    begin().then(
      (started) => {
        if (live) setEnrollment(started);
      },
      (reason: unknown) => {
        if (!live) return;
        const failure = toApiError(reason);
        if (takeOver(failure)) return;
        setError(failure.message);
      },
    );
    return () => {
      live = false;
    };
    // Only a new begin or "Start again" starts a new setup (never a re-render).
  }, [begin, restart]);

  async function copy() {
    if (!enrollment) return;
    try {
      await navigator.clipboard.writeText(enrollment.secret);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy || !enrollment) return;
    if (code.length !== CODE_LENGTH) {
      setError(`Enter the ${CODE_LENGTH}-digit code your authenticator app shows.`);
      codeRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await confirm(enrollment, code);
    } catch (reason) {
      const failure = toApiError(reason);
      if (takeOver(failure)) return;
      setBusy(false);
      setCode("");
      if (failure.code === "invalid_code" && failure.attempts_left !== undefined) setAttemptsLeft(failure.attempts_left);
      if (failure.code === "validation") setEnded(true);
      setError(failure.message);
      codeRef.current?.focus();
    }
  }

  return (
    <>
      <p id="totp-lead" className="dialog-lead">
        Scan this QR code with your authenticator app (for example Microsoft Authenticator, Google Authenticator or 1Password), or type the key into
        it. Then enter the 6-digit code it shows.
      </p>
      {enrollment ? (
        <>
          <QrCode text={enrollment.otpauth_uri} label="QR code for your authenticator app" />
          <p className="field-help">Can’t scan? Enter this key in the app (time-based):</p>
          <p className="setup-code totp-secret" data-testid="totp-secret" aria-label="Setup key">
            {groupSecret(enrollment.secret)}
          </p>
          <div className="button-row">
            <button type="button" className="btn btn-secondary" data-testid="totp-copy" onClick={() => void copy()}>
              Copy key
            </button>
          </div>
          <p role="status" className={copied === "failed" ? "field-error" : "success-note"} data-testid="totp-copied">
            {copied === "yes" ? "Copied." : copied === "failed" ? "Could not copy. Select the key and copy it by hand." : ""}
          </p>
          <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
            <div className="field">
              <label htmlFor="totp-code">Code from the app</label>
              <input
                id="totp-code"
                ref={codeRef}
                data-testid="totp-code"
                className="code-input"
                type="text"
                inputMode="numeric"
                autoComplete="one-time-code"
                maxLength={CODE_LENGTH}
                spellCheck={false}
                value={code}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? "totp-error" : undefined}
                onChange={(e) => setCode(codeDigits(e.target.value))}
                disabled={busy}
              />
              {attemptsLeft !== null ? (
                <p className="field-help" data-testid="totp-attempts">
                  {attemptsText(attemptsLeft)}
                </p>
              ) : null}
            </div>
            {error ? (
              <div id="totp-error" className="alert alert-error" role="alert" data-testid="totp-error">
                {error}
              </div>
            ) : null}
            <div className="button-row">
              <button type="button" className="btn btn-secondary" data-testid="totp-cancel" onClick={onCancel}>
                Cancel
              </button>
              {ended ? (
                <button type="button" className="btn btn-secondary" data-testid="totp-restart" onClick={() => setRestart((n) => n + 1)}>
                  Start again
                </button>
              ) : null}
              <button type="submit" className="btn btn-primary" data-testid="totp-confirm" disabled={busy || ended}>
                {busy ? "Checking…" : confirmLabel}
              </button>
            </div>
          </form>
        </>
      ) : (
        <>
          {error ? (
            <div className="alert alert-error" role="alert" data-testid="totp-error">
              {error}
            </div>
          ) : (
            <p role="status" data-testid="totp-loading">
              Preparing…
            </p>
          )}
          <div className="button-row">
            <button type="button" className="btn btn-secondary" data-testid="totp-cancel" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </>
      )}
    </>
  );
}
