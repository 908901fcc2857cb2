import { BrandMark, ErrorAlert, Spinner } from "../components/common";

export function StartingScreen() {
  return (
    <main className="center-page" aria-busy="true">
      <div className="starting">
        <BrandMark size={40} />
        <Spinner label="Starting SecureClose…" />
      </div>
    </main>
  );
}

/** The machine policy IT installed cannot be used: only fixing it (and restarting) helps. */
const POLICY_INVALID = "cloud_policy_invalid";

export function StartupErrorScreen({
  code,
  message,
  onRetry,
}: {
  code: string;
  message: string;
  onRetry: () => void;
}) {
  const policy = code === POLICY_INVALID;
  return (
    <main className="center-page">
      <section className="card auth-card" aria-labelledby="startup-error-title">
        <div className="auth-brand">
          <BrandMark size={36} />
          <span className="auth-product">SecureClose</span>
        </div>
        <h1 id="startup-error-title" className="auth-title">
          {policy ? "SecureClose is blocked on this computer" : "SecureClose could not start"}
        </h1>
        {policy ? (
          <ErrorAlert title="Your organisation's settings need fixing" message={message} />
        ) : (
          <ErrorAlert title="Start-up failed" message={message} onRetry={onRetry} />
        )}
        {policy ? (
          <p className="muted">Once your IT administrator has fixed them, restart SecureClose.</p>
        ) : null}
      </section>
    </main>
  );
}
