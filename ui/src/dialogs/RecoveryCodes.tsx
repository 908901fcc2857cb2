// Recovery codes: the ten single-use codes that sign a person in when their
// phone or authenticator app is lost. They are shown once, in this dialog;
// they live only in its props (and the caller's state until Done), never in
// the cache, the web view's storage or a log.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, describedBy } from "../components/common";
import { formatRecoveryCode } from "../format";
import type { RecoveryCodes } from "../types";

export const RECOVERY_EXPLANATION =
  "Each code works once. Keep them somewhere safe, away from this computer — they let you sign in if you lose your phone or authenticator app. They will not be shown again.";
export const RECOVERY_ACK = "I have saved these codes";
export const REGENERATE_WARNING = "New codes replace your current ones: the old codes stop working as soon as the new ones are made.";
export const RECOVERY_NEEDS_CONNECTION = "Generating new recovery codes needs a connection to SecureClose.";

/** The portal's notice after a sign-in with a recovery code. */
export function recoveryLeftText(left: number): string {
  if (left <= 0) return "You have no recovery codes left. Generate new ones in your profile.";
  const used = `You signed in with a recovery code. ${left} left.`;
  // Few left: a lost phone later could lock the person out.
  return left <= 2 ? `${used} Generate new ones in your profile before they run out.` : used;
}

interface DialogProps {
  codes: string[];
  /** After the person ticked "I have saved these codes" (the caller drops the codes). */
  onDone: () => void;
  /** Why they are shown now, e.g. the old ones stopped working. */
  lead?: string | undefined;
  /** Where focus goes after Done when the opener is gone (a sign-in). */
  returnFocus?: (() => void) | undefined;
}

export function RecoveryCodesDialog({ codes, onDone, lead, returnFocus }: DialogProps) {
  const api = useApi();
  const [acknowledged, setAcknowledged] = useState(false);
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  const [saved, setSaved] = useState<{ ok: boolean; text: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const shown = codes.map(formatRecoveryCode);

  async function copy() {
    try {
      await navigator.clipboard.writeText(shown.join("\n"));
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  }

  async function save() {
    if (saving) return;
    setSaving(true);
    setSaved(null);
    try {
      const path = await api.saveRecoveryCodes(shown);
      setSaved({ ok: true, text: `Saved to ${path}` });
    } catch (reason) {
      setSaved({ ok: false, text: `Could not save the file: ${toApiError(reason).message}` });
    }
    setSaving(false);
  }

  return (
    // Esc closes only once saved: closing early would lose the codes for good.
    <Dialog labelledBy="recovery-title" describedBy="recovery-lead" testId="recovery-dialog" onCancel={() => acknowledged && onDone()} returnFocus={returnFocus}>
      <div className="recovery-print">
        <h2 id="recovery-title" className="dialog-title">
          Your recovery codes
        </h2>
        <p id="recovery-lead" className="dialog-lead">
          {lead ? `${lead} ` : ""}
          {RECOVERY_EXPLANATION}
        </p>
        <ol className="recovery-codes" aria-label="Recovery codes">
          {shown.map((code) => (
            <li key={code} className="recovery-code" data-testid="recovery-code">
              {code}
            </li>
          ))}
        </ol>
      </div>
      <div className="button-row">
        <button type="button" className="btn btn-secondary" data-testid="recovery-copy" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" className="btn btn-secondary" data-testid="recovery-save" onClick={() => void save()} disabled={saving}>
          {saving ? "Saving…" : "Save as text file"}
        </button>
        <button type="button" className="btn btn-secondary" data-testid="recovery-print" onClick={() => window.print()}>
          Print
        </button>
      </div>
      <p role="status" className={copied === "failed" ? "field-error" : "success-note"} data-testid="recovery-copied">
        {copied === "yes" ? "Copied." : copied === "failed" ? "Could not copy. Select the codes and copy them by hand." : ""}
      </p>
      <p role="status" className={saved && !saved.ok ? "field-error" : "success-note"} data-testid="recovery-saved">
        {saved?.text ?? ""}
      </p>
      <div className="checkbox-row">
        <input
          id="recovery-ack"
          data-testid="recovery-ack"
          type="checkbox"
          checked={acknowledged}
          onChange={(e) => setAcknowledged(e.target.checked)}
        />
        <label htmlFor="recovery-ack">{RECOVERY_ACK}</label>
      </div>
      <div className="button-row">
        <button type="button" className="btn btn-primary" data-testid="recovery-done" disabled={!acknowledged} onClick={onDone}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

interface RegenerateProps {
  online: boolean;
  onCancel: () => void;
  /** The new set: the caller shows it in `RecoveryCodesDialog`. */
  onGenerated: (codes: RecoveryCodes) => void;
  onSessionLost: (message: string) => void;
}

/** "Generate new codes": asks for the current password first (it voids the old set). */
export function RegenerateCodesDialog({ online, onCancel, onGenerated, onSessionLost }: RegenerateProps) {
  const api = useApi();
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  // Focus the field again once it is enabled (a disabled input cannot take focus).
  const [refocus, setRefocus] = useState(false);
  useEffect(() => {
    if (refocus && !busy) {
      passwordRef.current?.focus();
      setRefocus(false);
    }
  }, [refocus, busy]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy || !online) return;
    setError(null);
    if (!password) {
      setFieldError("Enter your current password.");
      passwordRef.current?.focus();
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const codes = await api.regenerateRecoveryCodes(password);
      setPassword("");
      onGenerated(codes);
    } catch (reason) {
      const failure = toApiError(reason);
      if (isSessionLost(failure)) return onSessionLost(failure.message);
      // A refused password is never kept: type it again.
      setPassword("");
      if (failure.code === "invalid_credentials") {
        setFieldError(failure.message);
        setRefocus(true);
      } else {
        setError(failure.message);
      }
      setBusy(false);
    }
  }

  return (
    <Dialog labelledBy="regenerate-title" describedBy="regenerate-lead" testId="recovery-regenerate-dialog" onCancel={onCancel} initialFocus={passwordRef}>
      <h2 id="regenerate-title" className="dialog-title">
        Generate new recovery codes
      </h2>
      <p id="regenerate-lead" className="dialog-lead">
        {REGENERATE_WARNING}
      </p>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="field">
          <label htmlFor="recovery-password">Current password</label>
          <input
            id="recovery-password"
            ref={passwordRef}
            data-testid="recovery-password"
            type="password"
            autoComplete="current-password"
            value={password}
            aria-invalid={fieldError ? true : undefined}
            aria-describedby={describedBy(fieldError && "recovery-password-error")}
            onChange={(e) => setPassword(e.target.value)}
            disabled={busy || !online}
          />
          <FieldError id="recovery-password-error" testId="recovery-password-error" message={fieldError} />
        </div>
        {online ? null : (
          <p className="note" data-testid="recovery-regenerate-offline">
            {RECOVERY_NEEDS_CONNECTION}
          </p>
        )}
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="recovery-regenerate-error">
            {error}
          </div>
        ) : null}
        <div className="button-row">
          <button type="button" className="btn btn-secondary" data-testid="recovery-regenerate-cancel" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="recovery-regenerate-submit" disabled={busy || !online}>
            {busy ? "Generating…" : "Generate new codes"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** In the portal after a sign-in with a recovery code: how many are left. */
export function RecoveryUsedNotice({ left, onDismiss }: { left: number; onDismiss: () => void }) {
  return (
    <div className={`notice recovery-used-notice${left <= 2 ? " notice-warning" : ""}`} role="status" data-testid="recovery-used-notice">
      <span>{recoveryLeftText(left)}</span>
      <button type="button" className="btn btn-secondary btn-small" data-testid="recovery-used-dismiss" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
