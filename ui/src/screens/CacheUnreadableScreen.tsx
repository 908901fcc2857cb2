import { useState } from "react";
import { useApi } from "../ApiContext";
import { toApiError } from "../api";
import { BrandMark } from "../components/common";
import type { AppInfo } from "../types";

export function CacheUnreadableScreen({ info, onReset }: { info: AppInfo; onReset: (info: AppInfo) => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function reset() {
    setBusy(true);
    setError(null);
    try {
      onReset(await api.resetCache());
    } catch (reason) {
      setError(toApiError(reason).message);
      setBusy(false);
    }
  }

  return (
    <main className="center-page">
      <section className="card auth-card cache-card" data-testid="cache-unreadable" aria-labelledby="cache-title">
        <div className="auth-brand">
          <BrandMark size={36} />
          <span className="auth-product">SecureClose</span>
        </div>
        <div className="cache-icon" aria-hidden="true">
          !
        </div>
        <h1 id="cache-title" className="auth-title">
          The local data on this computer can’t be opened
        </h1>
        <p>
          SecureClose keeps an encrypted copy of your company’s data on this computer so you can work offline. Its
          key, kept in this computer’s secure credential store, is missing or no longer matches, so the copy
          can’t be read.
        </p>
        <p>
          You can start a fresh encrypted copy. Nothing is lost on the SecureClose cloud: your data syncs again the
          next time you sign in. The old file is kept aside, not deleted.
        </p>
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="cache-reset-error">
            {error}
          </div>
        ) : null}
        <button
          type="button"
          className="btn btn-primary btn-block"
          data-testid="cache-reset"
          onClick={() => void reset()}
          disabled={busy}
        >
          {busy ? "Starting a fresh cache…" : "Start a fresh cache"}
        </button>
        <p className="muted small">Version {info.version}</p>
      </section>
    </main>
  );
}
