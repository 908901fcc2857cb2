// Shows a one-time setup code (a new user's, or after a password reset) once,
// large, with a Copy button. The code lives only in this dialog's props and
// state: never in the cache, a log or the web view's storage; closing the dialog drops it.
import { useRef, useState } from "react";
import { Dialog } from "../components/Dialog";
import type { SetupCodeGrant } from "../types";

export const SETUP_CODE_VALIDITY = "Works once, for 72 hours";

/** "Dec 7, 2026, 7:41 PM": when the code stops working, in local time. */
export function formatExpiry(epochMs: number, locale?: string): string {
  return new Date(epochMs).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

interface Props {
  grant: SetupCodeGrant;
  /** "added" after Add user, "reset" after Reset password: the lead sentence. */
  reason: "added" | "reset";
  onClose: () => void;
}

export function SetupCodeDialog({ grant, reason, onClose }: Props) {
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const who = `${grant.user.display_name} (${grant.user.email})`;

  async function copy() {
    try {
      await navigator.clipboard.writeText(grant.setup_code);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  }

  return (
    <Dialog labelledBy="setup-code-title" describedBy="setup-code-lead" testId="setup-code-dialog" onCancel={onClose} initialFocus={closeRef}>
      <h2 id="setup-code-title" className="dialog-title">
        {reason === "added" ? "User added" : "Password reset"}
      </h2>
      <p id="setup-code-lead" className="dialog-lead">
        {reason === "added"
          ? `Give ${who} this setup code. They enter it with their email at the sign-in screen and choose their password.`
          : `${who} is signed out everywhere and their old password no longer works. Give them this setup code to choose a new one.`}
      </p>
      <p className="setup-code" data-testid="setup-code" aria-label="Setup code">
        {grant.setup_code}
      </p>
      <p className="muted" data-testid="setup-code-validity">
        {SETUP_CODE_VALIDITY}: until {formatExpiry(grant.setup_code_expires_at)}. It is shown only now.
      </p>
      <p role="status" className={copied === "failed" ? "field-error" : "success-note"} data-testid="setup-code-copied">
        {copied === "yes" ? "Copied." : copied === "failed" ? "Could not copy. Select the code and copy it by hand." : ""}
      </p>
      <div className="button-row">
        <button type="button" className="btn btn-secondary" data-testid="setup-code-copy" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" ref={closeRef} className="btn btn-primary" data-testid="setup-code-close" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
