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

export function StartupErrorScreen({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <main className="center-page">
      <section className="card auth-card" aria-labelledby="startup-error-title">
        <div className="auth-brand">
          <BrandMark size={36} />
          <span className="auth-product">SecureClose</span>
        </div>
        <h1 id="startup-error-title" className="auth-title">
          SecureClose could not start
        </h1>
        <ErrorAlert title="Start-up failed" message={message} onRetry={onRetry} />
      </section>
    </main>
  );
}
