import { useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { toApiError } from "../api";
import { BrandMark } from "../components/common";
import { assertNever } from "../format";
import type { AppInfo, Challenge, CompanyChoice, LoginOutcome } from "../types";
import { CodeDialog, EnrollDialog, type SignedInHandler } from "../dialogs/SecondFactor";
import { NewPasswordFields, newPasswordProblem, usePasswordCheck } from "../components/NewPasswordFields";

interface Props {
  info: AppInfo;
  notice?: string | undefined;
  /** The login finished, with or without a second factor. */
  onSignedIn: SignedInHandler;
  onInfoChange: (info: AppInfo) => void;
}

export function LoginScreen({ info, notice, onSignedIn, onInfoChange }: Props) {
  const [view, setView] = useState<"login" | "settings">("login");
  const [savedNotice, setSavedNotice] = useState<string | null>(null);

  return (
    <main className="center-page auth-page">
      <section className="card auth-card" aria-labelledby="auth-title">
        <div className="auth-brand">
          <BrandMark size={36} />
          <span className="auth-product">SecureClose</span>
        </div>
        {view === "login" ? (
          <LoginForm
            info={info}
            notice={savedNotice ?? notice}
            onSignedIn={onSignedIn}
            onOpenSettings={() => {
              setSavedNotice(null);
              setView("settings");
            }}
          />
        ) : (
          <SettingsForm
            info={info}
            onCancel={() => setView("login")}
            onSaved={(next) => {
              onInfoChange(next);
              setSavedNotice(`Server address saved: ${next.cloud_url}`);
              setView("login");
            }}
          />
        )}
      </section>
      <footer className="auth-footer">
        <span className="auth-server" title="SecureClose cloud address">
          Server: {info.cloud_url}
          {info.cloud_url_locked ? " (set by your organisation)" : null}
        </span>
        <span className="app-version">Version {info.version}</span>
      </footer>
    </main>
  );
}

type SecondStep = { kind: "code" | "enroll"; challenge: Challenge };

/**
 * Shown on the sign-in screen when the address is not the one this computer
 * expects (its organisation's policy, else SecureClose's default): whoever
 * changed it may run that server and would receive the password typed here.
 */
export function UnexpectedCloudWarning({ info }: { info: AppInfo }) {
  if (info.cloud_url_locked || info.cloud_url === info.default_cloud_url) return null;
  return (
    <div className="alert alert-warning cloud-url-warning" data-testid="cloud-url-warning">
      <p className="alert-title">This computer signs in to a different server</p>
      <p className="alert-message">
        The server address is {info.cloud_url}, not the usual {info.default_cloud_url}. Sign in only if your
        administrator gave you this address: that server receives your password and codes. Change it under Server
        settings.
      </p>
    </div>
  );
}

function LoginForm({
  info,
  notice,
  onSignedIn,
  onOpenSettings,
}: {
  info: AppInfo;
  notice?: string | undefined;
  onSignedIn: SignedInHandler;
  onOpenSettings: () => void;
}) {
  const api = useApi();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [second, setSecond] = useState<SecondStep | null>(null);
  // The password fitted accounts at several companies: the core holds it
  // (never the UI) until the person picks one.
  const [choice, setChoice] = useState<CompanyChoice[] | null>(null);
  const [forgotOpen, setForgotOpen] = useState(false);
  // "First time here?": the setup code and a new password instead of a password.
  const [mode, setMode] = useState<"password" | "setup">("password");
  const passwordRef = useRef<HTMLInputElement>(null);
  const emailRef = useRef<HTMLInputElement>(null);

  /** Where a login (or a company choice) leads next. */
  function follow(outcome: LoginOutcome) {
    // Exhaustive on purpose: a new login state from Rust is a compile
    // error here until the UI handles it.
    switch (outcome.state) {
      case "signed_in":
        onSignedIn(outcome.session, outcome.recovery);
        return;
      case "needs_second_factor":
        setChoice(null);
        setSecond({ kind: "code", challenge: outcome.challenge });
        break;
      case "needs_phone_enrollment":
        setChoice(null);
        setSecond({ kind: "enroll", challenge: outcome.challenge });
        break;
      case "needs_company_choice":
        setChoice(outcome.companies);
        break;
      default:
        assertNever(outcome);
    }
    setBusy(false);
  }

  async function choose(companyId: string) {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      follow(await api.chooseCompany(companyId));
    } catch (reason) {
      // The core dropped the attempt: the password must be typed again.
      setChoice(null);
      setError(toApiError(reason).message);
      setBusy(false);
      passwordRef.current?.focus();
    }
  }

  function cancelChoice() {
    api.cancelLogin().catch(() => undefined);
    setChoice(null);
    setBusy(false);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    if (!email.trim() || !password) {
      setError("Enter your email and password.");
      (email.trim() ? passwordRef : emailRef).current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const outcome = await api.login(email.trim(), password);
      // The password has done its job either way: never keep it around.
      setPassword("");
      follow(outcome);
    } catch (reason) {
      // Keep the email, never keep a rejected password around.
      setPassword("");
      setError(toApiError(reason).message);
      setBusy(false);
      passwordRef.current?.focus();
    }
  }

  const secondStep = second ? (
      <SecondStepDialog
        step={second}
        onSignedIn={onSignedIn}
        onCancel={() => {
          // The core forgets the challenge; a failure here changes nothing
          // the user can act on (the attempt expires on its own).
          api.cancelLogin().catch(() => undefined);
          setSecond(null);
        }}
        onClosed={(reason) => {
          api.cancelLogin().catch(() => undefined);
          setSecond(null);
          // After an activation too: the chosen password is the account's now.
          setMode("password");
          setError(`${reason} Enter your password to sign in again.`);
        }}
        returnFocus={() => passwordRef.current?.focus()}
      />
    ) : null;

  if (choice) {
    return (
      <>
        <h1 id="auth-title" className="auth-title">
          Choose a dealership
        </h1>
        <p className="auth-subtitle" id="company-choice-help">
          This email has accounts at several dealerships — choose one.
        </p>
        <div className="form" role="group" aria-labelledby="auth-title" aria-describedby="company-choice-help" aria-busy={busy}>
          {choice.map((company, index) => (
            <button
              key={company.id}
              type="button"
              className="btn btn-secondary btn-block"
              data-testid="company-choice"
              autoFocus={index === 0}
              disabled={busy}
              onClick={() => void choose(company.id)}
            >
              {company.name}
            </button>
          ))}
          <button type="button" className="link-button" data-testid="company-choice-cancel" disabled={busy} onClick={cancelChoice}>
            Cancel
          </button>
        </div>
      </>
    );
  }

  if (mode === "setup") {
    return (
      <>
        <SetupAccountForm
          info={info}
          initialEmail={email}
          onOutcome={follow}
          onBack={(typedEmail) => {
            if (typedEmail) setEmail(typedEmail);
            setError(null);
            setMode("password");
          }}
        />
        {secondStep}
      </>
    );
  }

  return (
    <>
      <h1 id="auth-title" className="auth-title">
        Sign in
      </h1>
      <p className="auth-subtitle">Use your dealership account to open the admin portal.</p>
      <UnexpectedCloudWarning info={info} />
      {notice ? (
        <p className="notice" role="status" data-testid="login-notice">
          {notice}
        </p>
      ) : null}
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="field">
          <label htmlFor="login-email">Email</label>
          <input
            id="login-email"
            ref={emailRef}
            data-testid="login-email"
            type="text"
            inputMode="email"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            disabled={busy}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input
            id="login-password"
            ref={passwordRef}
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            disabled={busy}
          />
        </div>
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="login-error">
            {error}
          </div>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" data-testid="login-submit" disabled={busy}>
          {busy ? (
            <>
              <span className="spinner spinner-on-brand" aria-hidden="true" /> Signing in…
            </>
          ) : (
            "Sign in"
          )}
        </button>
      </form>
      <div className="auth-links">
        <button
          type="button"
          className="link-button"
          data-testid="open-setup"
          onClick={() => {
            setPassword("");
            setError(null);
            setMode("setup");
          }}
        >
          First time here? Set up your account
        </button>
        <button
          type="button"
          className="link-button"
          data-testid="forgot-password"
          aria-expanded={forgotOpen}
          aria-controls="forgot-password-help"
          onClick={() => setForgotOpen((open) => !open)}
        >
          Forgot your password?
        </button>
        {info.cloud_url_locked ? null : (
          <button type="button" className="link-button" data-testid="open-settings" onClick={onOpenSettings}>
            Server settings
          </button>
        )}
      </div>
      <ForgotPasswordHelp open={forgotOpen} />
      {secondStep}
    </>
  );
}

/**
 * First sign-in: the email, the setup code an admin handed over, and a new
 * password typed twice, judged by the core as it is typed. The activation
 * answers like a login, so `onOutcome` goes on exactly as after a password.
 */
function SetupAccountForm({
  info,
  initialEmail,
  onOutcome,
  onBack,
}: {
  info: AppInfo;
  initialEmail: string;
  onOutcome: (outcome: LoginOutcome) => void;
  onBack: (email: string) => void;
}) {
  const api = useApi();
  const [email, setEmail] = useState(initialEmail);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const emailRef = useRef<HTMLInputElement>(null);
  const codeRef = useRef<HTMLInputElement>(null);
  const check = usePasswordCheck(password, email.trim());

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setSubmitted(true);
    if (!email.trim() || !code.trim()) {
      setError("Enter your email and the setup code your administrator gave you.");
      (email.trim() ? codeRef : emailRef).current?.focus();
      return;
    }
    const problem = newPasswordProblem(check, password, confirm);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const outcome = await api.activate(email.trim(), code.trim(), password);
      setPassword("");
      setConfirm("");
      setCode("");
      setBusy(false);
      onOutcome(outcome);
    } catch (reason) {
      // The cloud's words (a wrong or expired code, a refused password).
      setError(toApiError(reason).message);
      setBusy(false);
    }
  }

  return (
    <>
      <h1 id="auth-title" className="auth-title">
        Set up your account
      </h1>
      <p className="auth-subtitle">Enter the setup code your administrator gave you and choose your password.</p>
      <UnexpectedCloudWarning info={info} />
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy} data-testid="setup-form">
        <div className="field">
          <label htmlFor="setup-email">Email</label>
          <input
            id="setup-email"
            ref={emailRef}
            data-testid="setup-email"
            type="text"
            inputMode="email"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            disabled={busy}
          />
        </div>
        <div className="field">
          <label htmlFor="setup-code">Setup code</label>
          <input
            id="setup-code"
            ref={codeRef}
            data-testid="setup-code"
            type="text"
            autoComplete="one-time-code"
            autoCapitalize="characters"
            spellCheck={false}
            aria-describedby="setup-code-help"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            disabled={busy}
          />
          <p id="setup-code-help" className="field-help">
            Looks like ABCD-EFGH-JKMN. It works once, for 72 hours.
          </p>
        </div>
        <NewPasswordFields
          idPrefix="setup-password"
          label="New password"
          password={password}
          confirm={confirm}
          check={check}
          showMismatch={submitted}
          disabled={busy}
          onPasswordChange={setPassword}
          onConfirmChange={setConfirm}
        />
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="setup-error">
            {error}
          </div>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" data-testid="setup-submit" disabled={busy}>
          {busy ? "Setting up…" : "Set up and sign in"}
        </button>
      </form>
      <div className="auth-links">
        <button type="button" className="link-button" data-testid="setup-back" disabled={busy} onClick={() => onBack(email.trim())}>
          Back to sign in
        </button>
      </div>
    </>
  );
}

/**
 * What to do about a forgotten password. Always in the page (hidden while
 * closed) so the button's aria-controls names an element that exists. There
 * is deliberately no "text me a reset link": NIST SP 800-63B-4 counts a text
 * message as a restricted authenticator, so it alone must not hand over an
 * account; a reset goes through an admin of the company instead.
 */
function ForgotPasswordHelp({ open }: { open: boolean }) {
  return (
    <section
      id="forgot-password-help"
      className="auth-help"
      data-testid="forgot-password-help"
      aria-labelledby="forgot-password-title"
      hidden={!open}
    >
      <h2 id="forgot-password-title" className="auth-help-title">
        Forgot your password?
      </h2>
      <p>
        Ask an admin of your company to reset it: in SecureClose they open Users, choose Edit on your row and
        click Reset password.
      </p>
      <p>
        SecureClose offers no self-service reset by text message: NIST SP 800-63B-4 classes text messages as a
        restricted authenticator.
      </p>
    </section>
  );
}

function SecondStepDialog({
  step,
  ...rest
}: {
  step: SecondStep;
  onSignedIn: SignedInHandler;
  onCancel: () => void;
  onClosed: (reason: string) => void;
  returnFocus: () => void;
}) {
  return step.kind === "code" ? <CodeDialog challenge={step.challenge} {...rest} /> : <EnrollDialog challenge={step.challenge} {...rest} />;
}

function SettingsForm({
  info,
  onCancel,
  onSaved,
}: {
  info: AppInfo;
  onCancel: () => void;
  onSaved: (info: AppInfo) => void;
}) {
  const api = useApi();
  const [url, setUrl] = useState(info.cloud_url);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      onSaved(await api.setCloudUrl(url.trim()));
    } catch (reason) {
      setError(toApiError(reason).message);
      setBusy(false);
    }
  }

  return (
    <>
      <h1 id="auth-title" className="auth-title">
        Server settings
      </h1>
      <p className="auth-subtitle">The SecureClose cloud this computer signs in to.</p>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="field">
          <label htmlFor="settings-cloud-url">Cloud address</label>
          <input
            id="settings-cloud-url"
            data-testid="settings-cloud-url"
            type="url"
            inputMode="url"
            autoComplete="url"
            spellCheck={false}
            autoFocus
            aria-describedby="settings-cloud-url-help"
            aria-invalid={error ? true : undefined}
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            disabled={busy}
          />
          <p id="settings-cloud-url-help" className="field-help">
            Must start with https://. Plain http:// is accepted only for a server on this computer.
          </p>
        </div>
        {error ? (
          <div className="alert alert-error" role="alert" data-testid="settings-error">
            {error}
          </div>
        ) : null}
        <div className="button-row">
          <button type="button" className="btn btn-secondary" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="settings-save" disabled={busy}>
            {busy ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </>
  );
}
