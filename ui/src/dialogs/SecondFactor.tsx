// The second step of a login: the code dialog ("Enter the code sent to
// ••• ••• 1234") and the phone enrolment dialog that ends in the same code step.
// Every time shown (resend countdown, retry times) comes from the cloud's
// epoch-ms values, so the UI never invents its own limits.
import { useCallback, useEffect, useMemo, useRef, useState, type ClipboardEvent, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { toApiError, type ApiCallError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, describedBy } from "../components/common";
import { TotpSetupForm } from "./AuthenticatorApp";
import { useNow } from "../hooks";
import { formatRecoveryCode, isRecoveryCode } from "../format";
import type { Challenge, RecoveryNotice, SecondFactorMethod, SessionView, TotpEnrollment } from "../types";

/** A finished sign-in, with what it says about recovery codes (codes to show, or how many are left). */
export type SignedInHandler = (session: SessionView, recovery: RecoveryNotice | null) => void;

export const CODE_LENGTH = 6;
export const CODE_EXPIRED_MESSAGE = "That code has expired. Send a new one.";
export const ENROLL_EXPLANATION =
  "Your company requires two-factor authentication. Add your mobile phone number: we’ll text it a code to finish signing in, and save it to your profile for future sign-ins.";
export const ENROLL_CHOICE =
  "Your company requires two-factor authentication. Choose how you’ll confirm it’s you each time you sign in:";
export const ENROLL_APP_DONE_LABEL = "Verify and sign in";

/** Seconds until `epochMs`, rounded up; 0 once reached. */
export function secondsUntil(epochMs: number | null | undefined, now: number): number {
  if (epochMs === null || epochMs === undefined) return 0;
  return Math.max(0, Math.ceil((epochMs - now) / 1000));
}

/** Refusals to send a text: about when, not about the code typed. */
const SEND_LIMIT_CODES = ["resend_too_soon", "sms_limit", "sms_daily_cap"];

/** "Try again in 20 s." / "Try again at 10:42 AM." / "" once the time has come. */
export function retryText(retryAt: number | undefined, now: number): string {
  const seconds = secondsUntil(retryAt, now);
  if (seconds <= 0 || retryAt === undefined) return "";
  if (seconds < 60) return `Try again in ${seconds} s.`;
  const at = new Date(retryAt).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
  return `Try again at ${at}.`;
}

export function attemptsText(n: number): string {
  return `${n} attempt${n === 1 ? "" : "s"} left`;
}

export const APP_CODE_TEXT = "Enter the 6-digit code from your authenticator app";
export const USE_APP = "Use your authenticator app instead";
export const USE_TEXT = "Use a text message instead";
/** For a user with an app, who has not been texted in this attempt. */
export const TEXT_ME = "Text me a code instead";
export const USE_RECOVERY = "Use a recovery code";
export const USE_APP_BACK = "Use your authenticator app";
export const USE_TEXT_BACK = "Use a text message";
export const RECOVERY_CODE_TEXT = "Enter one of your recovery codes. Each code works once.";
export const RECOVERY_FORMAT_MESSAGE = "A recovery code is 10 letters and digits, like ABCDE-23456.";

export const REMEMBER_HELP = "Only on a computer nobody else uses.";

/** "Don't ask for a code on this computer for 7 days" ("1 day" singular). */
export function rememberText(days: number): string {
  return `Don't ask for a code on this computer for ${days} day${days === 1 ? "" : "s"}`;
}

export function sentToText(challenge: Challenge): string {
  const phone = challenge.phone_hint ?? "your mobile phone";
  return challenge.code_sent ? `Enter the code sent to ${phone}` : `No code has been texted yet: send one to ${phone}`;
}

/** Keeps the digits of typed or pasted text: "123 456", "123-456" -> "123456". */
export function codeDigits(text: string): string {
  return text.replace(/\D/g, "").slice(0, CODE_LENGTH);
}

interface ShownError {
  code: string;
  message: string;
  retryAt?: number | undefined;
}

export interface CodeStepProps {
  challenge: Challenge;
  onChallenge: (challenge: Challenge) => void;
  /**
   * Sends the code; resolves true once it finished the step (the form stays
   * busy while the caller moves on), false to let the person go on typing.
   */
  verify: (code: string, method: SecondFactorMethod, remember: boolean) => Promise<boolean>;
  /**
   * Sign-in only: offer "Don't ask for a code on this computer" for the
   * challenge's `trusted_computer_days` (never in re-authentication or
   * enrolment, where there is no computer to trust yet).
   */
  offerRemember?: boolean;
  /** Texts a (new) code: the challenge after it. */
  resend: () => Promise<Challenge>;
  /** The attempt is over (challenge_closed): back to its start with why. */
  onClosed: (reason: string) => void;
  onCancel: () => void;
  /** Extra button next to Cancel, e.g. "Use a different number" in enrolment. */
  secondary?: { label: string; testId: string; onClick: () => void } | undefined;
  cancelTestId?: string;
}

/**
 * The code form of sign-in, enrolment and re-authentication; ids follow
 * CONTRACTS-2FA (code-*).
 */
export function CodeStep({
  challenge,
  onChallenge,
  verify,
  resend: sendCode,
  onClosed,
  onCancel,
  secondary,
  cancelTestId = "code-cancel",
  offerRemember = false,
}: CodeStepProps) {
  const now = useNow(1000);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState<"verify" | "resend" | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [attemptsLeft, setAttemptsLeft] = useState(challenge.attempts_left);
  const [resendAt, setResendAt] = useState<number | null>(challenge.resend_available_at);
  const [submitBlockedUntil, setSubmitBlockedUntil] = useState<number | undefined>(undefined);
  const [locked, setLocked] = useState(false);
  // Unticked by default: trusting a shared computer would skip the code for anyone there.
  const [remember, setRemember] = useState(false);
  const rememberDays = offerRemember ? challenge.trusted_computer_days : 0;
  // A user with an authenticator app starts with it: the cloud texts them
  // only when they ask. Otherwise the texted code it already sent.
  const offersText = challenge.methods.includes("sms");
  const offersApp = challenge.methods.includes("totp");
  const [method, setMethod] = useState<SecondFactorMethod>(offersApp && !challenge.code_sent ? "totp" : "sms");
  // Only while the person has unused codes; "back" returns to the method before.
  const offersRecovery = challenge.methods.includes("recovery");
  const [beforeRecovery, setBeforeRecovery] = useState<SecondFactorMethod>("sms");
  const usingRecovery = method === "recovery";
  const inputRef = useRef<HTMLInputElement>(null);
  const resendRef = useRef<HTMLButtonElement>(null);

  function toggleRecovery() {
    if (usingRecovery) {
      setMethod(beforeRecovery);
    } else {
      setBeforeRecovery(method);
      setMethod("recovery");
    }
    setCode("");
    setError(null);
    setNotice(null);
  }

  function switchMethod() {
    const next = method === "sms" ? "totp" : "sms";
    setMethod(next);
    setCode("");
    setError(null);
    setNotice(null);
    inputRef.current?.focus();
    if (next === "sms" && !challenge.code_sent) void resend();
  }

  // On open, and on the recovery-code input replacing the code input (or back).
  useEffect(() => {
    inputRef.current?.focus();
  }, [usingRecovery]);

  // A new challenge (resend) resets what the cloud reset.
  useEffect(() => {
    setAttemptsLeft(challenge.attempts_left);
    setResendAt(challenge.resend_available_at);
  }, [challenge]);

  const resendSeconds = secondsUntil(resendAt, now);
  const submitBlocked = locked || secondsUntil(submitBlockedUntil, now) > 0;

  function show(e: ApiCallError) {
    switch (e.code) {
      case "challenge_closed":
        onClosed(e.message);
        return;
      case "code_expired":
        setError({ code: e.code, message: CODE_EXPIRED_MESSAGE });
        setCode("");
        return;
      case "invalid_code":
        if (e.attempts_left !== undefined) setAttemptsLeft(e.attempts_left);
        setError({ code: e.code, message: e.message });
        setCode("");
        return;
      case "account_locked":
        setLocked(true);
        setError({ code: e.code, message: e.message });
        return;
      case "rate_limited":
        setSubmitBlockedUntil(e.retry_at);
        setError({ code: e.code, message: e.message, retryAt: e.retry_at });
        return;
      case "resend_too_soon":
      case "sms_limit":
      // The company's texts for today are used up: no resend before midnight UTC.
      case "sms_daily_cap":
        if (e.retry_at !== undefined) setResendAt(e.retry_at);
        setError({ code: e.code, message: e.message, retryAt: e.retry_at });
        return;
      default:
        setError({ code: e.code, message: e.message, retryAt: e.retry_at });
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy || submitBlocked) return;
    setNotice(null);
    // Checked here first: a mistyped code must not cost one of the attempts.
    if (usingRecovery && !isRecoveryCode(code)) {
      setError({ code: "validation", message: RECOVERY_FORMAT_MESSAGE });
      inputRef.current?.focus();
      return;
    }
    if (!usingRecovery && code.length !== CODE_LENGTH) {
      const from = method === "totp" ? "your authenticator app" : "the text message";
      setError({ code: "validation", message: `Enter the ${CODE_LENGTH}-digit code from ${from}.` });
      inputRef.current?.focus();
      return;
    }
    setBusy("verify");
    setError(null);
    try {
      if (await verify(usingRecovery ? formatRecoveryCode(code) : code, method, rememberDays > 0 && remember)) return;
      setBusy(null);
    } catch (reason) {
      setBusy(null);
      show(toApiError(reason));
      inputRef.current?.focus();
    }
  }

  async function resend() {
    if (busy || resendSeconds > 0) return;
    setBusy("resend");
    setError(null);
    setNotice(null);
    try {
      const first = !challenge.code_sent;
      const next = await sendCode();
      onChallenge(next);
      setCode("");
      setNotice(`${first ? "A code was sent" : "A new code was sent"}${next.phone_hint ? ` to ${next.phone_hint}` : ""}.`);
      setBusy(null);
      inputRef.current?.focus();
    } catch (reason) {
      setBusy(null);
      show(toApiError(reason));
    }
  }

  function onPaste(event: ClipboardEvent<HTMLInputElement>) {
    // maxLength would cut "123 456" to "123 45": take the digits ourselves.
    const pasted = event.clipboardData.getData("text");
    const digits = pasted.replace(/\D/g, "");
    if (!digits) return;
    event.preventDefault();
    const input = event.currentTarget;
    const start = input.selectionStart ?? code.length;
    const end = input.selectionEnd ?? code.length;
    setCode(digits.length >= CODE_LENGTH ? codeDigits(digits) : codeDigits(code.slice(0, start) + digits + code.slice(end)));
  }

  const errorText = error ? [error.message, retryText(error.retryAt, now)].filter(Boolean).join(" ") : null;

  return (
    <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy !== null}>
      <p id="code-sent-to" className="dialog-lead" data-testid="code-lead">
        {method === "totp" ? APP_CODE_TEXT : usingRecovery ? RECOVERY_CODE_TEXT : sentToText(challenge)}
      </p>
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      {/* Keyed: the two inputs must not share one DOM node (and its attributes). */}
      {usingRecovery ? (
        <div className="field" key="recovery">
          <label htmlFor="recovery-input">Recovery code</label>
          <input
            id="recovery-input"
            ref={inputRef}
            data-testid="recovery-input"
            className="code-input"
            type="text"
            autoComplete="off"
            autoCapitalize="characters"
            spellCheck={false}
            placeholder="ABCDE-23456"
            value={code}
            aria-describedby={describedBy("code-sent-to", "code-attempts", errorText && "code-error")}
            aria-invalid={error ? true : undefined}
            // Room for spaces and dashes; the check on submit says what is wrong.
            onChange={(e) => setCode(e.target.value.toUpperCase().slice(0, 20))}
            disabled={busy === "verify" || locked}
          />
          <p id="code-attempts" className="field-help" data-testid="code-attempts">
            {attemptsText(attemptsLeft)}
          </p>
        </div>
      ) : (
        <div className="field" key="code">
          <label htmlFor="code-input">Verification code</label>
          <input
            id="code-input"
            ref={inputRef}
            data-testid="code-input"
            className="code-input"
            type="text"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]*"
            maxLength={CODE_LENGTH}
            spellCheck={false}
            value={code}
            aria-describedby={describedBy("code-sent-to", "code-attempts", errorText && "code-error")}
            aria-invalid={error && !SEND_LIMIT_CODES.includes(error.code) ? true : undefined}
            onChange={(e) => setCode(codeDigits(e.target.value))}
            onPaste={onPaste}
            disabled={busy === "verify" || locked}
          />
          <p id="code-attempts" className="field-help" data-testid="code-attempts">
            {attemptsText(attemptsLeft)}
          </p>
        </div>
      )}
      {rememberDays > 0 ? (
        <div className="field">
          <div className="checkbox-row">
            <input
              id="code-remember"
              data-testid="code-remember"
              type="checkbox"
              checked={remember}
              aria-describedby="code-remember-help"
              onChange={(e) => setRemember(e.target.checked)}
              disabled={busy === "verify" || locked}
            />
            <label htmlFor="code-remember">{rememberText(rememberDays)}</label>
          </div>
          <p id="code-remember-help" className="field-help">
            {REMEMBER_HELP}
          </p>
        </div>
      ) : null}
      {errorText ? (
        <div id="code-error" className="alert alert-error" role="alert" data-testid="code-error">
          {errorText}
        </div>
      ) : null}
      <button type="submit" className="btn btn-primary btn-block" data-testid="code-submit" disabled={busy !== null || submitBlocked}>
        {busy === "verify" ? "Checking…" : "Verify"}
      </button>
      <div className="dialog-links">
        {method === "sms" ? (
          <button
            type="button"
            ref={resendRef}
            className="link-button"
            data-testid="code-resend"
            onClick={() => void resend()}
            disabled={busy !== null || resendSeconds > 0 || locked}
          >
            {resendSeconds > 0 ? `Resend in ${resendSeconds} s` : busy === "resend" ? "Sending…" : challenge.code_sent ? "Resend code" : "Send code"}
          </button>
        ) : null}
        {offersText && offersApp && !usingRecovery ? (
          <button type="button" className="link-button" data-testid="code-switch-method" onClick={switchMethod} disabled={busy !== null || locked}>
            {method === "sms" ? USE_APP : challenge.code_sent ? USE_TEXT : TEXT_ME}
          </button>
        ) : null}
        {offersRecovery ? (
          <button
            type="button"
            className="link-button"
            data-testid={usingRecovery ? "code-recovery-back" : "code-use-recovery"}
            onClick={toggleRecovery}
            disabled={busy !== null || locked}
          >
            {!usingRecovery ? USE_RECOVERY : beforeRecovery === "totp" ? USE_APP_BACK : USE_TEXT_BACK}
          </button>
        ) : null}
        {secondary ? (
          <button type="button" className="link-button" data-testid={secondary.testId} onClick={secondary.onClick} disabled={busy !== null}>
            {secondary.label}
          </button>
        ) : null}
        <button type="button" className="btn btn-secondary btn-small" data-testid={cancelTestId} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** `CodeStep.verify` for a sign-in: a `signed_in` outcome finishes it. */
function useSignInVerify(onSignedIn: SignedInHandler, onChallenge: (challenge: Challenge) => void) {
  const api = useApi();
  return useCallback(
    async (code: string, method: SecondFactorMethod, remember: boolean) => {
      const outcome = await api.verifyCode(code, method, remember);
      if (outcome.state === "signed_in") {
        onSignedIn(outcome.session, outcome.recovery);
        return true;
      }
      // Not expected from verify_code; follow whatever the core asks next
      // (a company choice never follows a code: the core refuses it).
      if (outcome.state !== "needs_company_choice") onChallenge(outcome.challenge);
      return false;
    },
    [api, onSignedIn, onChallenge],
  );
}

interface FlowProps {
  challenge: Challenge;
  onSignedIn: SignedInHandler;
  onClosed: (reason: string) => void;
  /** Cancel / Esc: the caller calls cancelLogin. */
  onCancel: () => void;
  returnFocus?: () => void;
}

export function CodeDialog({ challenge: initial, onSignedIn, onClosed, onCancel, returnFocus }: FlowProps) {
  const api = useApi();
  const [challenge, setChallenge] = useState(initial);
  const verify = useSignInVerify(onSignedIn, setChallenge);
  return (
    <Dialog labelledBy="code-title" describedBy="code-sent-to" testId="code-dialog" onCancel={onCancel} returnFocus={returnFocus}>
      <h2 id="code-title" className="dialog-title">
        Two-step verification
      </h2>
      <CodeStep
        challenge={challenge}
        onChallenge={setChallenge}
        verify={verify}
        resend={() => api.resendCode()}
        onClosed={onClosed}
        onCancel={onCancel}
        offerRemember
      />
    </Dialog>
  );
}

export function EnrollDialog({ challenge: initial, onSignedIn, onClosed, onCancel, returnFocus }: FlowProps) {
  const api = useApi();
  const now = useNow(1000);
  // A challenge that already carries a sent code (core resumed) skips the
  // choice; an older cloud that cannot enrol an app offers only the phone.
  const [challenge, setChallenge] = useState(initial);
  const verify = useSignInVerify(onSignedIn, setChallenge);
  const offersApp = initial.methods.includes("totp");
  const [step, setStep] = useState<"choose" | "phone" | "code" | "app">(initial.code_sent ? "code" : offersApp ? "choose" : "phone");
  const [phone, setPhone] = useState("");
  const [phoneError, setPhoneError] = useState<string | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [busy, setBusy] = useState(false);
  const phoneRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (step === "phone") phoneRef.current?.focus();
  }, [step]);

  const beginApp = useCallback(() => api.enrollTotp(), [api]);
  const confirmApp = useCallback(
    async (_enrollment: TotpEnrollment, code: string) => {
      const outcome = await api.verifyCode(code, "totp");
      if (outcome.state === "signed_in") onSignedIn(outcome.session, outcome.recovery);
    },
    [api, onSignedIn],
  );
  const appTakeOver = useCallback(
    (failure: ApiCallError) => {
      if (failure.code !== "challenge_closed") return false;
      onClosed(failure.message);
      return true;
    },
    [onClosed],
  );
  // The code went to the number being enrolled: only that code finishes this step.
  const textOnly = useMemo<Challenge>(() => ({ ...challenge, methods: ["sms"] }), [challenge]);
  const back = offersApp ? { label: "Choose another way", testId: "enroll-back", onClick: () => setStep("choose") } : undefined;

  async function send(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setError(null);
    if (!phone.trim()) {
      setPhoneError("Enter your mobile phone number.");
      phoneRef.current?.focus();
      return;
    }
    setPhoneError(null);
    setBusy(true);
    try {
      const next = await api.enrollPhone(phone.trim());
      setChallenge(next);
      setBusy(false);
      setStep("code");
    } catch (reason) {
      setBusy(false);
      const e = toApiError(reason);
      if (e.code === "challenge_closed") {
        onClosed(e.message);
      } else if (e.code === "invalid_phone" || e.code === "sms_country_not_allowed") {
        // Both are fixed by typing another number: say so at the field.
        setPhoneError(e.message);
        phoneRef.current?.focus();
      } else {
        setError({ code: e.code, message: e.message, retryAt: e.retry_at });
      }
    }
  }

  const errorText = error ? [error.message, retryText(error.retryAt, now)].filter(Boolean).join(" ") : null;

  return (
    <Dialog labelledBy="enroll-title" describedBy="enroll-explain" testId="enroll-dialog" onCancel={onCancel} returnFocus={returnFocus}>
      <h2 id="enroll-title" className="dialog-title">
        Set up two-step verification
      </h2>
      <p id="enroll-explain" className="dialog-lead">
        {step === "choose" ? ENROLL_CHOICE : step === "app" ? "Your company requires two-factor authentication." : ENROLL_EXPLANATION}
      </p>
      {step === "choose" ? (
        <div className="form" data-testid="enroll-choice">
          <button type="button" className="btn btn-primary btn-block" data-testid="enroll-choose-sms" onClick={() => setStep("phone")}>
            Text message to my mobile phone
          </button>
          <button type="button" className="btn btn-secondary btn-block" data-testid="enroll-choose-app" onClick={() => setStep("app")}>
            Authenticator app
          </button>
          <p className="field-help">An authenticator app works without phone signal and cannot be redirected by someone who takes over your number.</p>
          <div className="dialog-links">
            <button type="button" className="btn btn-secondary btn-small" data-testid="enroll-cancel" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </div>
      ) : step === "app" ? (
        <TotpSetupForm begin={beginApp} confirm={confirmApp} takeOver={appTakeOver} onCancel={onCancel} confirmLabel={ENROLL_APP_DONE_LABEL} />
      ) : step === "phone" ? (
        <form className="form" onSubmit={(e) => void send(e)} noValidate aria-busy={busy}>
          <div className="field">
            <label htmlFor="enroll-phone">Mobile phone</label>
            <input
              id="enroll-phone"
              ref={phoneRef}
              data-testid="enroll-phone"
              type="tel"
              inputMode="tel"
              autoComplete="tel"
              value={phone}
              aria-describedby={describedBy("enroll-phone-help", phoneError && "enroll-phone-error")}
              aria-invalid={phoneError ? true : undefined}
              onChange={(e) => setPhone(e.target.value)}
              disabled={busy}
            />
            <p id="enroll-phone-help" className="field-help">
              US numbers like (480) 555-1234; other countries start with + and the country code.
            </p>
            <FieldError id="enroll-phone-error" testId="enroll-phone-error" message={phoneError} />
          </div>
          {errorText ? (
            <div className="alert alert-error" role="alert" data-testid="enroll-error">
              {errorText}
            </div>
          ) : null}
          <button type="submit" className="btn btn-primary btn-block" data-testid="enroll-send" disabled={busy}>
            {busy ? "Sending…" : "Send code"}
          </button>
          <div className="dialog-links">
            {back ? (
              <button type="button" className="link-button" data-testid={back.testId} onClick={back.onClick} disabled={busy}>
                {back.label}
              </button>
            ) : null}
            <button type="button" className="btn btn-secondary btn-small" data-testid="enroll-cancel" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <CodeStep
          challenge={textOnly}
          onChallenge={setChallenge}
          verify={verify}
          resend={() => api.resendCode()}
          onClosed={onClosed}
          onCancel={onCancel}
          secondary={{ label: "Use a different number", testId: "enroll-change-phone", onClick: () => setStep("phone") }}
        />
      )}
    </Dialog>
  );
}
