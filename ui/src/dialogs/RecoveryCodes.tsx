// Recovery codes: the ten single-use codes that sign a person in when their
// phone or authenticator app is lost. They are shown once, in this dialog;
// they live only in its props (and the caller's state until Done), never in
// the cache, the web view's storage or a log.
import { useState } from "react";
import { useApi } from "../ApiContext";
import { toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { formatRecoveryCode } from "../format";

export const RECOVERY_EXPLANATION =
  "Each code works once. Keep them somewhere safe, away from this computer — they let you sign in if you lose your phone or authenticator app. They will not be shown again.";
export const RECOVERY_ACK = "I have saved these codes";
export const REGENERATE_WARNING = "New codes replace your current ones: the old codes stop working.";
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
