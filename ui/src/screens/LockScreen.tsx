import { useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { BrandMark } from "../components/common";
import type { SessionView } from "../types";

interface Props {
  /** Who is signed in: the only thing the lock screen shows of the session. */
  displayName: string;
  email: string;
  /** The password was right: the session as it was. */
  onUnlocked: (session: SessionView) => void;
  /** "Not you? Sign out", or the core ended the session (`notice` says why). */
  onSignedOut: (notice?: string) => void;
}

/**
 * The idle lock. Covers the portal (which stays mounted, hidden and inert,
 * so unsaved input survives) and shows nothing of its data.
 */
export function LockScreen({ displayName, email, onUnlocked, onSignedOut }: Props) {
  const api = useApi();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function unlock(event: FormEvent) {
    event.preventDefault();
    if (!password) {
      setError("Enter your password.");
      passwordRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await api.unlockSession(password);
      setPassword("");
      onUnlocked(session);
    } catch (reason) {
      const failure = toApiError(reason);
      setPassword("");
      if (isSessionLost(failure) || failure.code === "not_signed_in") {
        onSignedOut(`You have been signed out: ${failure.message}`);
        return;
      }
      setError(failure.message);
      setBusy(false);
      passwordRef.current?.focus();
    }
  }

  async function signOut() {
    setBusy(true);
    setError(null);
    try {
      await api.logout();
      onSignedOut();
    } catch (reason) {
      setError(toApiError(reason).message);
      setBusy(false);
    }
  }

  return (
    <main className="center-page auth-page" data-testid="lock-screen">
      <section className="card auth-card" aria-labelledby="lock-title">
        <div className="auth-brand">
          <BrandMark size={36} />
          <span className="auth-product">SecureClose</span>
        </div>
        <h1 id="lock-title" className="auth-title">
          SecureClose is locked
        </h1>
        <p className="auth-subtitle" data-testid="lock-user">
          Signed in as <strong>{displayName || email}</strong>
          {displayName && email ? ` (${email})` : null}. Enter your password to continue.
        </p>
        <form className="form" onSubmit={(e) => void unlock(e)} noValidate aria-busy={busy}>
          <div className="field">
            <label htmlFor="lock-password">Password</label>
            <input
              id="lock-password"
              ref={passwordRef}
              data-testid="lock-password"
              type="password"
              autoComplete="current-password"
              autoFocus
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              disabled={busy}
            />
          </div>
          {error ? (
            <div className="alert alert-error" role="alert" data-testid="lock-error">
              {error}
            </div>
          ) : null}
          <button type="submit" className="btn btn-primary btn-block" data-testid="lock-unlock" disabled={busy}>
            {busy ? "Unlocking…" : "Unlock"}
          </button>
        </form>
        <div className="auth-links">
          <button type="button" className="link-button" data-testid="lock-sign-out" disabled={busy} onClick={() => void signOut()}>
            Not you? Sign out
          </button>
        </div>
      </section>
    </main>
  );
}
