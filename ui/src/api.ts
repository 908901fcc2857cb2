// The interface every screen talks to. `ipc.ts` implements it over Tauri;
// tests and the dev mock mode implement it with in-memory data. Keeping this
// file free of @tauri-apps/api lets the screens be tested in plain jsdom.
import type {
  ApiError,
  AppInfo,
  Challenge,
  Company,
  CompanyUpdate,
  LoginOutcome,
  NewUserRequest,
  PasswordCheck,
  ReauthStep,
  RecoveryCodes,
  RecoveryStatus,
  SecondFactorMethod,
  SessionView,
  SetupCodeGrant,
  SetupCodeTexted,
  SyncStatus,
  TotpEnrollment,
  TotpStatus,
  TrustedComputer,
  UpdateInfo,
  UpdateProgress,
  User,
  UsersPage,
  UserUpdate,
} from "./types";

export interface Api {
  appInfo(): Promise<AppInfo>;
  resetCache(): Promise<AppInfo>;
  setCloudUrl(url: string): Promise<AppInfo>;
  login(email: string, password: string): Promise<LoginOutcome>;
  /**
   * First sign-in with the setup code an admin handed over and the password
   * the person chose. Resolves like `login` (a code or a phone to enrol may
   * follow); a wrong, used or expired code rejects `invalid_credentials`.
   */
  activate(email: string, setupCode: string, newPassword: string): Promise<LoginOutcome>;
  /**
   * The core judges a new password by the cloud's rules as it is typed:
   * strength 0-4 and the rule it breaks. Signed in, for the session's own
   * user and company; otherwise for `email`.
   */
  checkNewPassword(password: string, email: string): Promise<PasswordCheck>;
  /**
   * The signed-in person's password change (needs the cloud). Every other
   * session of theirs ends; this one stays.
   */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /**
   * Second step of a login: the code from the text message, or from the
   * authenticator app, or a recovery code (`method`, one of the challenge's
   * `methods`). Resolves `signed_in`. `remember` (only offered when the
   * challenge's `trusted_computer_days` is above 0) makes this computer
   * skip the code for that many days.
   */
  verifyCode(code: string, method: SecondFactorMethod, remember?: boolean): Promise<LoginOutcome>;
  /** Sends a new code for the pending login (30 s cooldown on the cloud). */
  resendCode(): Promise<Challenge>;
  /** Enrolment: the phone to send the first code to (saved once verified). */
  enrollPhone(mobilePhone: string): Promise<Challenge>;
  /** Enrolment with an authenticator app instead: its secret; `verifyCode(code, "totp")` finishes. */
  enrollTotp(): Promise<TotpEnrollment>;
  /**
   * After `needs_company_choice`: signs in to the account at that company
   * (one of those offered) with the password the core holds meanwhile.
   */
  chooseCompany(companyId: string): Promise<LoginOutcome>;
  /** Abandons the pending login; the core forgets the challenge. */
  cancelLogin(): Promise<void>;
  logout(): Promise<void>;
  session(): Promise<SessionView | null>;
  listUsers(query: string, offset: number, limit: number): Promise<UsersPage>;
  company(): Promise<Company>;
  /** Whether the signed-in person has an authenticator app (needs the cloud). */
  totpStatus(): Promise<TotpStatus>;
  /**
   * Starts adding an authenticator app: its secret (show it once, as a QR
   * code of `otpauth_uri` and as text; keep it nowhere). Nothing changes at
   * sign-in until `confirmTotp`.
   */
  beginTotp(): Promise<TotpEnrollment>;
  /** The app's first code makes it a sign-in factor; other sessions end. */
  confirmTotp(enrollmentId: string, code: string): Promise<TotpStatus>;
  /**
   * Re-authentication before a security change (ASVS V6/V7): the signed-in
   * person's current password. `done` when they have no second factor;
   * otherwise `verifyReauth` finishes. A wrong password rejects
   * `invalid_credentials`.
   */
  reauthenticate(password: string): Promise<ReauthStep>;
  /**
   * The re-authentication's code (`method`, one of the challenge's
   * `methods`). Resolves until when (epoch ms) the proof holds; errors as
   * `verifyCode` (`challenge_closed`: start again from the password).
   */
  verifyReauth(code: string, method: SecondFactorMethod): Promise<number>;
  /** Texts a new code for the pending re-authentication (cooldown as `resendCode`). */
  resendReauthCode(): Promise<Challenge>;
  /** Removes the authenticator app; other sessions end. */
  removeTotp(): Promise<void>;
  /** How many of the signed-in person's recovery codes are unused (needs the cloud). */
  recoveryStatus(): Promise<RecoveryStatus>;
  /**
   * A new set of ten recovery codes (show once, keep nowhere); the old set
   * stops working. Needs a fresh re-authentication (`reauth_required`).
   */
  regenerateRecoveryCodes(): Promise<RecoveryCodes>;
  /** Writes the codes to a text file in the Downloads folder; resolves its full path. */
  saveRecoveryCodes(codes: string[]): Promise<string>;
  /** Admin edit of one user; only the fields present change. */
  updateUser(userId: string, update: UserUpdate): Promise<User>;
  /** Admin edit of the company profile. */
  updateCompany(update: CompanyUpdate): Promise<Company>;
  /**
   * Admin adds a user (needs the connection; never queued). Resolves the new
   * user and their one-time setup code: show it once, keep it nowhere.
   */
  createUser(request: NewUserRequest): Promise<SetupCodeGrant>;
  /** Admin resets a user's password: a new setup code; their sessions end. */
  resetPassword(userId: string): Promise<SetupCodeGrant>;
  /**
   * Admin texts the setup code just shown to the mobile phone on the user's
   * profile (needs the connection; the cloud picks the number). A code is
   * texted at most 3 times.
   */
  textSetupCode(userId: string, setupCode: string): Promise<SetupCodeTexted>;
  /**
   * Admin resets another user's second factor (authenticator app and mobile
   * phone), with a reason for the audit log (needs the connection). Returns
   * the user as the cloud now has them.
   */
  resetTwoFactor(userId: string, reason: string): Promise<User>;
  /** Admin signs a user out on every computer (needs the connection). */
  revokeSessions(userId: string): Promise<void>;
  /**
   * The computers where the signed-in person skips the sign-in code
   * (needs the connection: `offline`).
   */
  trustedComputers(): Promise<TrustedComputer[]>;
  /** Ends one of them: the next sign-in there asks for a code again. */
  revokeTrustedComputer(id: string): Promise<void>;
  /** Admin: another user's trusted computers (`forbidden` for others; needs the connection). */
  userTrustedComputers(userId: string): Promise<TrustedComputer[]>;
  /** Admin ends one of a user's trusted computers. */
  revokeUserTrustedComputer(userId: string, id: string): Promise<void>;
  /** Re-fetches company and users from the cloud into the cache. */
  refresh(): Promise<SessionView>;
  /**
   * Idle lock: the core refuses reads and edits (`session_locked`) until
   * `unlockSession`; the lock survives a restart (`AppInfo.locked`).
   */
  lockSession(): Promise<void>;
  /**
   * The signed-in person's password, checked on this computer. Resolves the
   * session as it was; wrong passwords count, and at the limit the core
   * signs out (`session_ended`).
   */
  unlockSession(password: string): Promise<SessionView>;
  /**
   * Updater (optional: absent where there is no installed app, e.g. the dev
   * `?mock` mode). Resolves null when up to date. The core remembers what it
   * found; `installUpdate` installs exactly that, after checking its signature
   * in Rust, then restarts the app (it settles only on failure).
   */
  checkUpdate?(): Promise<UpdateInfo | null>;
  installUpdate?(onProgress: (progress: UpdateProgress) => void): Promise<void>;
  /** What the background sync is doing now (state, pending edits, notices). */
  syncStatus(): Promise<SyncStatus>;
  /** Runs a sync pass now (push the outbox, then pull) and returns the status after it. */
  syncNow(): Promise<SyncStatus>;
  /** Hides a notice about a refused edit for good. */
  dismissSyncNotice(id: number): Promise<SyncStatus>;
  /**
   * Calls `listener` with every status the core pushes (`sync-status`
   * event). Resolves to the function that stops listening.
   */
  onSyncStatus(listener: (status: SyncStatus) => void): Promise<() => void>;
}

/**
 * What every Api method rejects with: the core's `{code, message}` plus the
 * second-factor extras (`attempts_left` on a wrong code, `retry_at` on rate
 * limits and the resend cooldown).
 */
export class ApiCallError extends Error implements ApiError {
  readonly code: string;
  // `declare`: no own property unless set, so `{...error}` and `"retry_at" in
  // error` match the wire shape (absent, never `undefined`).
  declare readonly attempts_left?: number;
  declare readonly retry_at?: number;

  constructor(code: string, message: string, extra: { attempts_left?: number; retry_at?: number } = {}) {
    super(message);
    this.name = "ApiCallError";
    this.code = code;
    if (extra.attempts_left !== undefined) Object.defineProperty(this, "attempts_left", { value: extra.attempts_left, enumerable: true });
    if (extra.retry_at !== undefined) Object.defineProperty(this, "retry_at", { value: extra.retry_at, enumerable: true });
  }
}

function isApiErrorShape(value: unknown): value is ApiError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/** A finite number or nothing: a malformed extra must not reach the screen. */
function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Codes meaning the core no longer has a usable session: sign in again. */
export const SESSION_LOST_CODES: readonly string[] = ["unauthenticated", "session_expired", "session_ended"];

/** The core refused a call because the idle lock covers the session. */
export function isSessionLocked(error: ApiError): boolean {
  return error.code === "session_locked";
}

/**
 * The core refused a security change because the signed-in person has not
 * proved themselves again in the last 5 minutes (`reauthenticate`).
 */
export function isReauthRequired(error: ApiError): boolean {
  return error.code === "reauth_required";
}

export function isSessionLost(error: ApiError): boolean {
  return SESSION_LOST_CODES.includes(error.code);
}

/**
 * Normalises anything a command may reject with into `ApiCallError`.
 * Tauri rejects with the serialized `ApiError` for our commands, but with a
 * plain string for its own failures (unknown command, denied permission).
 */
export function toApiError(reason: unknown): ApiCallError {
  if (reason instanceof ApiCallError) return reason;
  if (isApiErrorShape(reason)) {
    const extra: { attempts_left?: number; retry_at?: number } = {};
    const attemptsLeft = numberOrUndefined((reason as { attempts_left?: unknown }).attempts_left);
    const retryAt = numberOrUndefined((reason as { retry_at?: unknown }).retry_at);
    if (attemptsLeft !== undefined) extra.attempts_left = attemptsLeft;
    if (retryAt !== undefined) extra.retry_at = retryAt;
    return new ApiCallError(reason.code, reason.message, extra);
  }
  if (typeof reason === "string" && reason.length > 0) return new ApiCallError("internal", reason);
  if (reason instanceof Error && reason.message) return new ApiCallError("internal", reason.message);
  return new ApiCallError("internal", "Something went wrong. Please try again.");
}
