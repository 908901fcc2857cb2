// Shows a one-time setup code (a new user's, or after a password reset) once,
// large, with a Copy button and, when the user has a mobile phone on file, a
// button that has the cloud text it there. The code lives only in this
// dialog's props and state: never in the cache, a log or the web view's
// storage; closing the dialog drops it.
import { useRef, useState } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { phoneHint } from "../format";
import type { SetupCodeGrant } from "../types";

export const SETUP_CODE_VALIDITY = "Works once, for 72 hours";
export const TEXT_NEEDS_CONNECTION = "Texting the code needs a connection";

/** "Dec 7, 2026, 7:41 PM": when the code stops working, in local time. */
export function formatExpiry(epochMs: number, locale?: string): string {
  return new Date(epochMs).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

interface Props {
  grant: SetupCodeGrant;
  /** "added" after Add user, "reset" after Reset password: the lead sentence. */
  reason: "added" | "reset";
  onClose: () => void;
  /** The cloud can be reached: texting the code needs it. */
  connected?: boolean;
  onSessionLost?: ((message: string) => void) | undefined;
}

export function SetupCodeDialog({ grant, reason, onClose, connected = true, onSessionLost }: Props) {
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
      {grant.user.mobile_phone ? <TextCode grant={grant} phone={grant.user.mobile_phone} connected={connected} onSessionLost={onSessionLost} /> : null}
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

type TextState = { status: "idle" } | { status: "sending" } | { status: "sent"; hint: string; left: number } | { status: "error"; message: string };

/** "Text it to ••• ••• 1234": the cloud sends the code to the phone on file. */
function TextCode({
  grant,
  phone,
  connected,
  onSessionLost,
}: {
  grant: SetupCodeGrant;
  phone: string;
  connected: boolean;
  onSessionLost: ((message: string) => void) | undefined;
}) {
  const api = useApi();
  const [state, setState] = useState<TextState>({ status: "idle" });
  const sending = state.status === "sending";
  const usedUp = state.status === "sent" && state.left === 0;

  async function send() {
    if (sending) return;
    setState({ status: "sending" });
    try {
      const texted = await api.textSetupCode(grant.user.id, grant.setup_code);
      setState({ status: "sent", hint: texted.phone_hint, left: texted.texts_left });
    } catch (reason) {
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
      setState({ status: "error", message: e.message });
    }
  }

  return (
    <div className="field" data-testid="setup-code-text">
      <div className="button-row">
        <button
          type="button"
          className="btn btn-secondary"
          data-testid="setup-code-text-button"
          disabled={!connected || sending || usedUp}
          aria-describedby={connected ? undefined : "setup-code-text-offline"}
          onClick={() => void send()}
        >
          {sending ? "Sending…" : `Text it to ${phoneHint(phone)}`}
        </button>
      </div>
      {!connected ? (
        <p id="setup-code-text-offline" className="muted small" data-testid="setup-code-text-offline">
          {TEXT_NEEDS_CONNECTION}.
        </p>
      ) : null}
      {state.status === "sent" ? (
        <p role="status" className="success-note" data-testid="setup-code-text-sent">
          Sent to {state.hint}.{state.left === 0 ? " This code cannot be texted again." : ""}
        </p>
      ) : null}
      {state.status === "error" ? (
        <div className="alert alert-error" role="alert" data-testid="setup-code-text-error">
          {state.message}
        </div>
      ) : null}
    </div>
  );
}
