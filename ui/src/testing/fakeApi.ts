// An in-memory implementation of `Api` for unit tests and the dev-only
// `?mock` mode. Behaviour mirrors the core's and cloud's contracts closely
// enough for the screens (prefix search, paging, the 2FA login steps and the
// admin edit rules, {code,message,attempts_left?,retry_at?} errors, the sync
// status and its event), nothing more.
import { ApiCallError, type Api } from "../api";
import { RECOVERY_ALPHABET, formatRecoveryCode, isRecoveryCode, normaliseRecoveryCode, phoneHint } from "../format";
import type {
  AppInfo,
  Challenge,
  Company,
  CompanyChoice,
  LoginOutcome,
  PasswordCheck,
  RecoveryNotice,
  SessionView,
  SecondFactorMethod,
  SetupCodeGrant,
  SyncStatus,
  TotpEnrollment,
  TrustedComputer,
  User,
  UserUpdate,
} from "../types";

export const demoCompany: Company = {
  id: "c0000000-0000-4000-8000-000000000001",
  name: "Sunrise Motors",
  two_factor_required: false,
  dms: { kind: "cdk", supports_two_factor: true },
  offline_policy: { allowed: true, max_hours: 72 },
  session_policy: { idle_lock_minutes: 30, max_session_hours: 12, trusted_computer_days: 0 },
  version: 1,
};

function user(n: number, name: string, email: string, extra: Partial<User> = {}): User {
  return {
    id: `u0000000-0000-4000-8000-00000000000${n}`,
    company_id: demoCompany.id,
    email,
    display_name: name,
    role: "user",
    status: "active",
    mobile_phone: null,
    phone_verified_at: null,
    two_factor_enabled: false,
    security_withheld: false,
    version: 1,
    updated_at: 1_764_000_000_000,
    ...extra,
  };
}

export const demoUsers: User[] = [
  user(1, "Dana Whitfield", "admin@sunrise-motors.example", {
    role: "admin",
    mobile_phone: "+14805551234",
    phone_verified_at: 1_764_000_000_000,
  }),
  user(2, "Carlos Mendez", "carlos.mendez@sunrise-motors.example", { mobile_phone: "+14805550101" }),
  user(3, "Priya Raman", "priya.raman@sunrise-motors.example", { two_factor_enabled: true }),
  user(4, "Tom O'Brien", "tom.obrien@sunrise-motors.example"),
  user(5, "Alicia Grant", "alicia.grant@sunrise-motors.example", { status: "disabled" }),
  user(6, "Marcus Lee", "marcus.lee@sunrise-motors.example", {
    mobile_phone: "+16025550199",
    phone_verified_at: 1_764_000_000_000,
    two_factor_enabled: true,
  }),
  user(7, "Jenna Kowalski", "jenna.kowalski@sunrise-motors.example"),
  user(8, "Samuel Osei", "samuel.osei@sunrise-motors.example", { two_factor_enabled: true }),
];

export const DEMO_PASSWORD = "correct horse battery staple";
/** The setup code the fake's admin handed to Tom (see `setupCodes`). */
export const DEMO_SETUP_CODE = "HJKM-NPQR-STUV";
/** The code every fake SMS carries (the dev `?mock` mode too). */
export const FAKE_CODE = "123456";
export const CODE_TTL_MS = 10 * 60_000;
export const RESEND_COOLDOWN_MS = 30_000;
export const ATTEMPTS_PER_CODE = 5;
/** The secret the fake's authenticator-app setup shows (base32). */
export const FAKE_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/** The code the fake accepts from an authenticator app. */
export const FAKE_TOTP_CODE = "654321";
/** Where the fake's `saveRecoveryCodes` pretends to write. */
export const FAKE_RECOVERY_FILE = "/home/demo/Downloads/SecureClose recovery codes.txt";
/** A set of recovery codes has ten, as the cloud's. */
export const RECOVERY_CODE_COUNT = 10;
/** Ten well-formed recovery codes, for seeding `recoveryCodes` in tests. */
export const DEMO_RECOVERY_CODES = [
  "ABCDE-23456", "FGHJK-34567", "MNPQR-45678", "STUVW-56789", "XYZ23-6789A",
  "BCDEF-789AB", "GHJKM-89ABC", "NPQRS-9ABCD", "TUVWX-ABCDE", "YZ234-BCDEF",
];

/** A re-authentication holds for 5 minutes, as the cloud's. */
export const REAUTH_TTL_MS = 5 * 60_000;
export const REAUTH_REQUIRED_MESSAGE = "Confirm it's you: enter your password (and a code) again.";

/** The name the fake gives this computer when it becomes trusted. */
export const FAKE_COMPUTER_LABEL = "DESKTOP-4F2A (Windows)";
const DAY_MS = 24 * 60 * 60_000;

/** A setup code works for 72 hours, as the cloud's. */
export const SETUP_CODE_TTL_MS = 72 * 60 * 60_000;

export interface FakeApiOptions {
  appInfo?: Partial<AppInfo>;
  users?: User[];
  company?: Company;
  signedIn?: boolean;
  /** Who `signedIn` / `session()` is signed in as (default: the first user). */
  sessionUserId?: string;
  /** The sync status to start with (default: online, idle, nothing pending). */
  sync?: Partial<SyncStatus>;
  /** The session was opened with the password checked on this device. */
  offlineSignIn?: boolean;
  /**
   * Plays an email whose password fits accounts at these companies: a
   * login asks for one (`needs_company_choice`), `chooseCompany` goes on.
   */
  sharedEmailCompanies?: CompanyChoice[];
  /** The company's idle lock, in minutes (default: the core's 30). */
  idleLockMinutes?: number;
  /** The session starts locked, as after a restart of a locked app. */
  locked?: boolean;
  /** Unredeemed setup codes by email (default: Tom's `DEMO_SETUP_CODE`). */
  setupCodes?: Record<string, string>;
  /** Emails of the users who have an authenticator app (default: none). */
  totpUsers?: string[];
  /** Unused recovery codes by email (default: nobody has any). */
  recoveryCodes?: Record<string, string[]>;
  /**
   * The signed-in person re-authenticated just now (the 5-minute proof
   * security changes need), for tests about something else.
   */
  reauthenticated?: boolean;
  /** Trusted computers by email (default: none), e.g. for the profile's list. */
  trustedComputers?: Record<string, TrustedComputer[]>;
}

/** The fake, plus what a test or the `?mock` mode uses to play the core's part. */
export interface FakeApi extends Api {
  /** Changes the sync status and pushes it to every `onSyncStatus` listener. */
  setSyncStatus(patch: Partial<SyncStatus>): void;
}

/**
 * A stand-in for the core's `check_new_password` (the protocol's rules),
 * close enough for the screens: length first, then the owner's email,
 * name and company, then a score from the length alone.
 */
export function fakePasswordCheck(password: string, owner: { email: string; name: string; company: string }): PasswordCheck {
  const chars = [...password].length;
  const score = Math.min(4, Math.floor(chars / 6));
  const folded = password.toLowerCase().replace(/\s+/g, "");
  const local = owner.email.trim().toLowerCase().split("@")[0] ?? "";
  const has = (text: string) => {
    const whole = text.toLowerCase().replace(/\s+/g, "");
    return whole.length >= 3 && folded.includes(whole);
  };
  let refusal: string | null = null;
  if (chars < 15) {
    refusal = `Use at least 15 characters (${chars} so far). A few unrelated words with spaces are easy to remember.`;
  } else if (local.length >= 3 && folded.includes(local)) {
    refusal = "The password cannot contain your email address or its part before the @.";
  } else if (owner.name && has(owner.name)) {
    refusal = "The password cannot contain your name.";
  } else if (owner.company && has(owner.company)) {
    refusal = "The password cannot contain your company's name.";
  }
  return { score: refusal ? Math.min(score, 2) : Math.max(score, 3), refusal };
}

/** Case-insensitive prefix match on name, any word of the name, or email. */
export function matchesPrefix(u: User, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  const name = u.display_name.toLowerCase();
  return (
    name.startsWith(q) ||
    name.split(/\s+/).some((word) => word.startsWith(q)) ||
    u.email.toLowerCase().startsWith(q)
  );
}

/**
 * A tiny stand-in for the cloud's `phonenumber` parsing: US numbers with or
 * without +1 and punctuation, or any +<country><digits>. Returns E.164 or null.
 */
export function fakeParsePhone(input: string): string | null {
  const trimmed = input.trim();
  if (!/^[+\d\s().-]+$/.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, "");
  if (trimmed.startsWith("+")) return digits.length >= 8 && digits.length <= 15 ? `+${digits}` : null;
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits.startsWith("1")) return `+${digits}`;
  return null;
}

interface PendingLogin {
  userId: string;
  /** Enrolment: the number the code went to, saved as verified on success. */
  enrollPhone: string | null;
  challenge: Challenge;
}

export function createFakeApi(options: FakeApiOptions = {}): FakeApi {
  let info: AppInfo = {
    version: "0.1.0",
    cloud_url: "http://127.0.0.1:8787",
    default_cloud_url: "http://127.0.0.1:8787",
    cloud_url_locked: false,
    cache_status: "ready",
    locked: null,
    ...options.appInfo,
  };
  // Copies: the fake mutates users and company on admin edits.
  const users = (options.users ?? demoUsers).map((u) => ({ ...u }));
  let company = { ...(options.company ?? demoCompany) };
  const first = users[0] ?? { ...demoUsers[0]! };
  let sessionUserId = options.sessionUserId ?? first.id;
  const sessionUser = () => users.find((u) => u.id === sessionUserId) ?? first;
  let sync: SyncStatus = {
    state: "idle",
    online: true,
    pending_edits: 0,
    last_synced_at: Date.now() - 2 * 60_000,
    next_retry_at: null,
    notices: [],
    ...options.sync,
  };
  const syncListeners = new Set<(status: SyncStatus) => void>();
  const setSyncStatus = (patch: Partial<SyncStatus>) => {
    sync = { ...sync, ...patch };
    const snapshot = { ...sync, notices: [...sync.notices] };
    syncListeners.forEach((listener) => listener(snapshot));
  };
  const sessionView = (): SessionView => ({
    user: sessionUser(),
    company,
    online: sync.online,
    offline_sign_in: options.offlineSignIn ?? false,
    last_synced_at: sync.last_synced_at,
    idle_lock_minutes: options.idleLockMinutes ?? 30,
  });
  /** Offline, an edit waits in the (pretend) outbox like the core's. */
  const queued = () => {
    if (!sync.online) setSyncStatus({ pending_edits: sync.pending_edits + 1 });
  };
  let signedIn = options.signedIn ?? false;
  // Each account's password (the demo one until changed or activated).
  const passwords = new Map<string, string>();
  const passwordOf = (u: User) => passwords.get(u.id) ?? DEMO_PASSWORD;
  const setupCodes = new Map(
    Object.entries(options.setupCodes ?? { "tom.obrien@sunrise-motors.example": DEMO_SETUP_CODE }),
  );
  let pending: PendingLogin | null = null;
  // The core's idle lock: reads and edits are refused while it is set.
  let locked = (options.locked ?? false) && signedIn;
  const lockedView = () => (locked ? { display_name: sessionUser().display_name, email: sessionUser().email } : null);
  const requireUnlocked = () => {
    if (locked) throw new ApiCallError("session_locked", "SecureClose is locked. Enter your password to continue.");
  };

  // Who has an authenticator app, and the one setup waiting for its first code.
  const totpUsers = new Set(users.filter((u) => options.totpUsers?.includes(u.email)).map((u) => u.id));
  let totpSetup: { id: string; userId: string; attemptsLeft: number } | null = null;
  let totpSetups = 0;
  // Each user's recovery codes (normalised) and whether each was used; as
  // the cloud, a code is offered only while one is unused.
  const recovery = new Map<string, { codes: Map<string, boolean>; issuedAt: number }>();
  const setRecovery = (userId: string, codes: string[]) =>
    recovery.set(userId, { codes: new Map(codes.map((c) => [normaliseRecoveryCode(c), false])), issuedAt: Date.now() });
  for (const [email, codes] of Object.entries(options.recoveryCodes ?? {})) {
    const u = users.find((x) => x.email === email);
    if (u) setRecovery(u.id, codes);
  }
  const unusedCodes = (userId: string) => [...(recovery.get(userId)?.codes.values() ?? [])].filter((used) => !used).length;
  /** A new set of ten, replacing (voiding) any old one; returned as shown. */
  const issueCodes = (userId: string): string[] => {
    const codes = new Set<string>();
    while (codes.size < RECOVERY_CODE_COUNT) {
      let raw = "";
      for (let i = 0; i < 10; i += 1) raw += RECOVERY_ALPHABET[Math.floor(Math.random() * RECOVERY_ALPHABET.length)];
      codes.add(formatRecoveryCode(raw));
    }
    setRecovery(userId, [...codes]);
    return [...codes];
  };
  // Each user's trusted computers (skip the code there until expires_at).
  const trusted = new Map<string, TrustedComputer[]>();
  for (const [email, list] of Object.entries(options.trustedComputers ?? {})) {
    const u = users.find((x) => x.email === email);
    if (u) trusted.set(u.id, list.map((t) => ({ ...t })));
  }
  let trustedIds = 0;
  const trustedOf = (userId: string) => (trusted.get(userId) ?? []).filter((t) => t.expires_at > Date.now());
  /** As the cloud: a new password, phone or factor, or disabling, ends them all. */
  const forgetTrusted = (userId: string) => trusted.delete(userId);
  const trustDays = () => company.session_policy.trusted_computer_days ?? 0;
  /** The cloud issues codes with the first factor a user enrols. */
  const hasFactor = (u: User) => totpUsers.has(u.id) || (u.mobile_phone !== null && u.phone_verified_at !== null);
  const methodsFor = (phone: string | null, userId: string | null): SecondFactorMethod[] => {
    // userId null: an enrolment, which a text or a new app can finish.
    const methods: SecondFactorMethod[] = phone || userId === null ? ["sms"] : [];
    if (userId === null || totpUsers.has(userId)) methods.push("totp");
    if (userId !== null && unusedCodes(userId) > 0) methods.push("recovery");
    return methods;
  };
  const newChallenge = (phone: string | null, sent: boolean, totpOf: string | null = null): Challenge => {
    const now = Date.now();
    return {
      challenge_id: "fake-challenge",
      phone_hint: phone ? phoneHint(phone) : null,
      code_sent: sent,
      code_expires_at: sent ? now + CODE_TTL_MS : null,
      resend_available_at: sent ? now + RESEND_COOLDOWN_MS : null,
      attempts_left: ATTEMPTS_PER_CODE,
      expires_at: now + 15 * 60_000,
      methods: methodsFor(phone, totpOf),
      trusted_computer_days: trustDays(),
    };
  };
  // The session's re-authentication: until when its proof holds, and the
  // second-factor step waiting for its code.
  let reauthUntil = options.reauthenticated && signedIn ? Date.now() + REAUTH_TTL_MS : 0;
  let reauthPending: { challenge: Challenge } | null = null;
  const newSession = () => {
    reauthUntil = 0;
    reauthPending = null;
  };
  const requireReauth = () => {
    if (!(Date.now() < reauthUntil)) throw new ApiCallError("reauth_required", REAUTH_REQUIRED_MESSAGE);
  };
  const requireSignedIn = () => {
    if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
    requireUnlocked();
    requireConnection();
  };
  const codeAccepted = (userId: string, code: string, method: SecondFactorMethod) =>
    method === "recovery"
      ? recovery.get(userId)?.codes.get(normaliseRecoveryCode(code)) === false
      : code === (method === "totp" ? FAKE_TOTP_CODE : FAKE_CODE);
  /** The user whose login waits for a company choice. */
  let choosing: string | null = null;
  const passwordAccepted = (u: User): LoginOutcome => {
    if (u.status !== "active") throw new ApiCallError("account_disabled", "This account is disabled.");
    // The cloud's effective rule (CONTRACTS-2FA): toggles gated by the DMS.
    const needs = (u.two_factor_enabled || company.two_factor_required) && company.dms.supports_two_factor;
    if (!needs) {
      sessionUserId = u.id;
      signedIn = true;
      pending = null;
      newSession();
      return { state: "signed_in", session: sessionView(), recovery: null };
    }
    const here = trustedOf(u.id).find((t) => t.this_computer);
    if (here && hasFactor(u) && trustDays() > 0) {
      // A trusted computer skips the code (until it expires or is revoked).
      here.last_used_at = Date.now();
      sessionUserId = u.id;
      signedIn = true;
      pending = null;
      newSession();
      return { state: "signed_in", session: sessionView(), recovery: null };
    }
    if (u.mobile_phone && u.phone_verified_at !== null) {
      // As the cloud: a user with an app is texted only when they ask.
      pending = { userId: u.id, enrollPhone: null, challenge: newChallenge(u.mobile_phone, !totpUsers.has(u.id), u.id) };
      return { state: "needs_second_factor", challenge: pending.challenge };
    }
    if (totpUsers.has(u.id)) {
      // An authenticator app and no phone: nothing is texted.
      pending = { userId: u.id, enrollPhone: null, challenge: newChallenge(null, false, u.id) };
      return { state: "needs_second_factor", challenge: pending.challenge };
    }
    pending = { userId: u.id, enrollPhone: null, challenge: newChallenge(null, false) };
    return { state: "needs_phone_enrollment", challenge: pending.challenge };
  };
  const requirePending = (): PendingLogin => {
    if (!pending) throw new ApiCallError("challenge_closed", "This sign-in attempt has ended. Sign in again.");
    return pending;
  };
  const requireAdmin = () => {
    if (!signedIn) throw new ApiCallError("unauthenticated", "Sign in first.");
    requireUnlocked();
    if (sessionUser().role !== "admin") throw new ApiCallError("forbidden", "Only administrators can do that.");
  };

  /** Account actions are never queued: the core refuses them offline. */
  const requireConnection = () => {
    if (!sync.online || options.offlineSignIn) {
      throw new ApiCallError("offline", `Cannot reach the SecureClose cloud at ${info.cloud_url}. Check your connection.`);
    }
  };
  let nextUser = users.length;
  let codes = 0;
  // Each user's outstanding code and how often it was texted (as the cloud keeps them).
  const outstanding = new Map<string, { code: string; texts: number }>();
  const grantFor = (u: User): SetupCodeGrant => {
    codes += 1;
    const code = `FAKE-CODE-${String(codes).padStart(3, "0")}`;
    outstanding.set(u.id, { code, texts: 0 });
    return {
      user: { ...u },
      setup_code: code,
      setup_code_expires_at: Date.now() + SETUP_CODE_TTL_MS,
    };
  };

  return {
    appInfo: async () => ({ ...info, locked: lockedView() }),
    resetCache: async () => {
      info = { ...info, cache_status: "ready" };
      return info;
    },
    setCloudUrl: async (url) => {
      let parsed: URL;
      try {
        if (info.cloud_url_locked) {
          throw new ApiCallError("cloud_url_locked", `Your organisation has set this computer's SecureClose address to ${info.cloud_url}. It cannot be changed here; ask your IT administrator.`);
        }
        parsed = new URL(url);
      } catch {
        throw new ApiCallError("validation", "Enter a full address, e.g. https://cloud.example.com");
      }
      const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
      if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)) {
        throw new ApiCallError("validation", "The server address must use https:// (http:// is only allowed for this computer)");
      }
      info = { ...info, cloud_url: url };
      return info;
    },
    login: async (email, password) => {
      const u = users.find((x) => x.email === email.trim().toLowerCase());
      if (!u || password !== passwordOf(u)) {
        throw new ApiCallError("invalid_credentials", "The email or password is incorrect.");
      }
      if (options.sharedEmailCompanies) {
        choosing = u.id;
        return { state: "needs_company_choice", companies: options.sharedEmailCompanies };
      }
      return passwordAccepted(u);
    },
    activate: async (email, setupCode, newPassword) => {
      const address = email.trim().toLowerCase();
      const u = users.find((x) => x.email === address);
      if (!u || setupCodes.get(address) !== setupCode.trim().toUpperCase()) {
        throw new ApiCallError("invalid_credentials", "The email or setup code is incorrect, or the code has expired.");
      }
      const check = fakePasswordCheck(newPassword, { email: u.email, name: u.display_name, company: company.name });
      if (check.refusal) throw new ApiCallError("password_refused", check.refusal);
      setupCodes.delete(address);
      passwords.set(u.id, newPassword);
      forgetTrusted(u.id);
      return passwordAccepted(u);
    },
    checkNewPassword: async (password, email) =>
      signedIn
        ? fakePasswordCheck(password, { email: sessionUser().email, name: sessionUser().display_name, company: company.name })
        : fakePasswordCheck(password, { email, name: "", company: "" }),
    changePassword: async (currentPassword, newPassword) => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      requireUnlocked();
      if (!sync.online || options.offlineSignIn) {
        throw new ApiCallError("offline", "Changing your password needs a connection to SecureClose.");
      }
      const u = sessionUser();
      if (currentPassword !== passwordOf(u)) {
        throw new ApiCallError("invalid_credentials", "The current password is not correct.");
      }
      const check = fakePasswordCheck(newPassword, { email: u.email, name: u.display_name, company: company.name });
      if (check.refusal) throw new ApiCallError("password_refused", check.refusal);
      passwords.set(u.id, newPassword);
      forgetTrusted(u.id);
    },
    chooseCompany: async (companyId) => {
      const chosen = options.sharedEmailCompanies?.some((c) => c.id === companyId) ?? false;
      const u = users.find((x) => x.id === choosing);
      choosing = null;
      if (!u || !chosen) throw new ApiCallError("no_pending_login", "There is no sign-in in progress.");
      return passwordAccepted(u);
    },
    verifyCode: async (code, method, remember = false) => {
      const p = requirePending();
      const c = p.challenge;
      if (!c.methods.includes(method)) {
        throw new ApiCallError("method_not_offered", "This sign-in can't use an authenticator app.");
      }
      if (method === "sms" && !c.code_sent) throw new ApiCallError("validation", "No code has been sent yet.");
      const enrollsApp = method === "totp" && !totpUsers.has(p.userId);
      if (enrollsApp && totpSetup?.userId !== p.userId) {
        throw new ApiCallError("validation", "Set up the authenticator app first: its setup has ended or was never started.");
      }
      if (method === "sms" && c.code_expires_at !== null && Date.now() >= c.code_expires_at) {
        throw new ApiCallError("code_expired", "The code has expired.");
      }
      if (method === "recovery" && !isRecoveryCode(code)) {
        throw new ApiCallError("validation", "A recovery code is 10 letters and digits, like ABCDE-23456.");
      }
      const codes = recovery.get(p.userId)?.codes;
      const accepted = codeAccepted(p.userId, code, method);
      if (!accepted) {
        const left = c.attempts_left - 1;
        if (left <= 0) {
          pending = null;
          throw new ApiCallError("challenge_closed", "Too many wrong codes. Sign in again.");
        }
        p.challenge = { ...c, attempts_left: left };
        throw new ApiCallError("invalid_code", "That code is not correct.", { attempts_left: left });
      }
      const u = users.find((x) => x.id === p.userId)!;
      const firstFactor = !hasFactor(u);
      let notice: RecoveryNotice | null = null;
      if (method === "recovery") {
        codes?.set(normaliseRecoveryCode(code), true);
        notice = { issued: [], left: unusedCodes(u.id) };
      }
      if (enrollsApp) {
        totpSetup = null;
        totpUsers.add(u.id);
      }
      if (p.enrollPhone && method === "sms") {
        u.mobile_phone = p.enrollPhone;
        u.phone_verified_at = Date.now();
        u.version += 1;
      }
      if (firstFactor && hasFactor(u)) notice = { issued: issueCodes(u.id), left: null };
      if (remember && c.trusted_computer_days > 0) {
        // One entry per computer: trusting it again starts its days anew.
        trustedIds += 1;
        const now = Date.now();
        const others = (trusted.get(u.id) ?? []).filter((t) => !t.this_computer);
        trusted.set(u.id, [
          ...others,
          {
            id: `fake-trusted-${trustedIds}`,
            label: FAKE_COMPUTER_LABEL,
            created_at: now,
            last_used_at: null,
            expires_at: now + c.trusted_computer_days * DAY_MS,
            this_computer: true,
          },
        ]);
      }
      pending = null;
      sessionUserId = u.id;
      signedIn = true;
      newSession();
      return { state: "signed_in", session: sessionView(), recovery: notice };
    },
    resendCode: async () => {
      const p = requirePending();
      const c = p.challenge;
      if (c.resend_available_at !== null && Date.now() < c.resend_available_at) {
        throw new ApiCallError("resend_too_soon", "Wait before asking for another code.", {
          retry_at: c.resend_available_at,
        });
      }
      const phone = p.enrollPhone ?? users.find((x) => x.id === p.userId)?.mobile_phone ?? null;
      p.challenge = newChallenge(phone, true, p.enrollPhone ? null : p.userId);
      return p.challenge;
    },
    enrollPhone: async (mobilePhone) => {
      const p = requirePending();
      const e164 = fakeParsePhone(mobilePhone);
      if (!e164) {
        throw new ApiCallError("invalid_phone", "Enter a valid mobile phone number, e.g. (480) 555-1234 or +44 7700 900123.");
      }
      p.enrollPhone = e164;
      p.challenge = newChallenge(e164, true);
      return p.challenge;
    },
    totpStatus: async () => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      requireUnlocked();
      requireConnection();
      const enabled = totpUsers.has(sessionUser().id);
      return { enabled, confirmed_at: enabled ? 1_764_000_000_000 : null, recovery_codes: [] };
    },
    beginTotp: async (): Promise<TotpEnrollment> => {
      requireSignedIn();
      requireReauth();
      const u = sessionUser();
      if (totpUsers.has(u.id)) throw new ApiCallError("conflict", "An authenticator app is already set up: remove it first.");
      totpSetups += 1;
      totpSetup = { id: `fake-totp-${totpSetups}`, userId: u.id, attemptsLeft: ATTEMPTS_PER_CODE };
      return {
        enrollment_id: totpSetup.id,
        secret: FAKE_TOTP_SECRET,
        otpauth_uri: `otpauth://totp/SecureClose:${encodeURIComponent(u.email)}?secret=${FAKE_TOTP_SECRET}&issuer=SecureClose`,
        expires_at: Date.now() + 15 * 60_000,
      };
    },
    enrollTotp: async (): Promise<TotpEnrollment> => {
      const p = requirePending();
      const u = users.find((x) => x.id === p.userId)!;
      if (totpUsers.has(u.id) || (u.mobile_phone && u.phone_verified_at !== null)) {
        throw new ApiCallError("validation", "This sign-in uses the second factor already set up.");
      }
      totpSetups += 1;
      totpSetup = { id: `fake-totp-${totpSetups}`, userId: p.userId, attemptsLeft: ATTEMPTS_PER_CODE };
      return {
        enrollment_id: totpSetup.id,
        secret: FAKE_TOTP_SECRET,
        otpauth_uri: `otpauth://totp/SecureClose:${encodeURIComponent(u.email)}?secret=${FAKE_TOTP_SECRET}&issuer=SecureClose`,
        expires_at: Date.now() + 15 * 60_000,
      };
    },
    confirmTotp: async (enrollmentId, code) => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      requireUnlocked();
      requireConnection();
      const setup = totpSetup;
      if (!setup || setup.id !== enrollmentId || setup.userId !== sessionUser().id) {
        throw new ApiCallError("validation", "This authenticator app setup has ended: start again.");
      }
      if (code !== FAKE_TOTP_CODE) {
        setup.attemptsLeft -= 1;
        if (setup.attemptsLeft <= 0) {
          totpSetup = null;
          throw new ApiCallError("validation", "Too many wrong codes: start the authenticator app setup again.");
        }
        throw new ApiCallError("invalid_code", "That code is not correct.", { attempts_left: setup.attemptsLeft });
      }
      totpSetup = null;
      const firstFactor = !hasFactor(sessionUser());
      totpUsers.add(setup.userId);
      forgetTrusted(setup.userId);
      return { enabled: true, confirmed_at: Date.now(), recovery_codes: firstFactor ? issueCodes(setup.userId) : [] };
    },
    recoveryStatus: async () => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      requireUnlocked();
      requireConnection();
      const set = recovery.get(sessionUser().id);
      return { remaining: unusedCodes(sessionUser().id), total: set ? set.codes.size : 0, issued_at: set?.issuedAt ?? null };
    },
    regenerateRecoveryCodes: async () => {
      requireSignedIn();
      requireReauth();
      const u = sessionUser();
      const codes = issueCodes(u.id);
      return { codes, issued_at: recovery.get(u.id)!.issuedAt };
    },
    saveRecoveryCodes: async (codes) => {
      if (codes.length === 0) throw new ApiCallError("validation", "There are no codes to save.");
      return FAKE_RECOVERY_FILE;
    },
    removeTotp: async () => {
      requireSignedIn();
      requireReauth();
      if (!totpUsers.delete(sessionUser().id)) throw new ApiCallError("not_found", "No authenticator app is set up.");
      forgetTrusted(sessionUser().id);
    },
    reauthenticate: async (password) => {
      requireSignedIn();
      const u = sessionUser();
      // A new attempt replaces any code step waiting from an earlier one.
      reauthPending = null;
      if (password !== passwordOf(u)) throw new ApiCallError("invalid_credentials", "The current password is not correct.");
      if (!hasFactor(u)) {
        reauthUntil = Date.now() + REAUTH_TTL_MS;
        return { state: "done", until: reauthUntil };
      }
      // As at sign-in: a user with an app is texted only when they ask.
      const phone = u.phone_verified_at !== null ? u.mobile_phone : null;
      reauthPending = { challenge: newChallenge(phone, phone !== null && !totpUsers.has(u.id), u.id) };
      return { state: "needs_second_factor", challenge: reauthPending.challenge };
    },
    verifyReauth: async (code, method) => {
      requireSignedIn();
      const p = reauthPending;
      if (!p) throw new ApiCallError("challenge_closed", "This check has ended. Enter your password again.");
      const c = p.challenge;
      const u = sessionUser();
      if (!c.methods.includes(method)) throw new ApiCallError("method_not_offered", "This check can't use that kind of code.");
      if (method === "sms" && !c.code_sent) throw new ApiCallError("validation", "No code has been sent yet.");
      if (method === "sms" && c.code_expires_at !== null && Date.now() >= c.code_expires_at) {
        throw new ApiCallError("code_expired", "The code has expired.");
      }
      if (method === "recovery" && !isRecoveryCode(code)) {
        throw new ApiCallError("validation", "A recovery code is 10 letters and digits, like ABCDE-23456.");
      }
      if (!codeAccepted(u.id, code, method)) {
        const left = c.attempts_left - 1;
        if (left <= 0) {
          reauthPending = null;
          throw new ApiCallError("challenge_closed", "Too many wrong codes. Enter your password again.");
        }
        p.challenge = { ...c, attempts_left: left };
        throw new ApiCallError("invalid_code", "That code is not correct.", { attempts_left: left });
      }
      if (method === "recovery") recovery.get(u.id)?.codes.set(normaliseRecoveryCode(code), true);
      reauthPending = null;
      reauthUntil = Date.now() + REAUTH_TTL_MS;
      return reauthUntil;
    },
    resendReauthCode: async () => {
      requireSignedIn();
      const p = reauthPending;
      if (!p) throw new ApiCallError("challenge_closed", "This check has ended. Enter your password again.");
      const c = p.challenge;
      if (c.resend_available_at !== null && Date.now() < c.resend_available_at) {
        throw new ApiCallError("resend_too_soon", "Wait before asking for another code.", { retry_at: c.resend_available_at });
      }
      const u = sessionUser();
      const phone = u.phone_verified_at !== null ? u.mobile_phone : null;
      if (!phone) throw new ApiCallError("validation", "There is no mobile phone to text a code to.");
      p.challenge = newChallenge(phone, true, u.id);
      return p.challenge;
    },
    cancelLogin: async () => {
      pending = null;
      choosing = null;
    },
    logout: async () => {
      signedIn = false;
      newSession();
      locked = false;
    },
    session: async () => {
      if (!signedIn) return null;
      requireUnlocked();
      return sessionView();
    },
    lockSession: async () => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      locked = true;
    },
    unlockSession: async (password) => {
      if (!signedIn) throw new ApiCallError("not_signed_in", "Please sign in first.");
      if (password !== passwordOf(sessionUser())) throw new ApiCallError("invalid_credentials", "That password is not correct.");
      locked = false;
      return sessionView();
    },
    listUsers: async (query, offset, limit) => {
      requireUnlocked();
      const matching = users.filter((u) => matchesPrefix(u, query));
      return { users: matching.slice(offset, offset + limit), total: matching.length };
    },
    company: async () => {
      requireUnlocked();
      return company;
    },
    updateUser: async (userId, update: UserUpdate) => {
      requireAdmin();
      const u = users.find((x) => x.id === userId);
      if (!u) throw new ApiCallError("forbidden", "You can't change that user.");
      // As the cloud: one's own phone only after Confirm it's you.
      if (userId === sessionUser().id && update.mobile_phone !== undefined) requireReauth();
      const next: User = { ...u };
      if (update.display_name !== undefined) {
        if (!update.display_name.trim()) throw new ApiCallError("validation", "Enter a name.");
        next.display_name = update.display_name.trim();
      }
      if (update.email !== undefined) {
        const email = update.email.trim().toLowerCase();
        if (users.some((x) => x.id !== userId && x.email === email)) {
          throw new ApiCallError("conflict", "Another user in this company has this email address.");
        }
        next.email = email;
      }
      if (update.mobile_phone !== undefined) {
        const phone = update.mobile_phone === null ? null : fakeParsePhone(update.mobile_phone);
        if (update.mobile_phone !== null && !phone) {
          throw new ApiCallError("invalid_phone", "Enter a valid mobile phone number, e.g. (480) 555-1234 or +44 7700 900123.");
        }
        if (phone !== u.mobile_phone) next.phone_verified_at = null;
        next.mobile_phone = phone;
      }
      if (update.role !== undefined) next.role = update.role;
      if (update.status !== undefined) next.status = update.status;
      if (update.two_factor_enabled !== undefined) {
        if (update.two_factor_enabled && !u.two_factor_enabled && !company.dms.supports_two_factor) {
          throw new ApiCallError("two_factor_unavailable", "Two-factor authentication is not available with your DMS integration");
        }
        next.two_factor_enabled = update.two_factor_enabled;
      }
      if (next.two_factor_enabled && !next.mobile_phone) {
        throw new ApiCallError("phone_required", "Add a mobile phone on the General Info tab first");
      }
      next.version += 1;
      next.updated_at = Date.now();
      if (next.mobile_phone !== u.mobile_phone || (next.status === "disabled" && u.status !== "disabled")) forgetTrusted(u.id);
      Object.assign(u, next);
      queued();
      return { ...u };
    },
    updateCompany: async (update) => {
      requireAdmin();
      const offline = update.offline_policy;
      if (offline && (offline.max_hours > 168 || (offline.allowed && offline.max_hours < 1))) {
        throw new ApiCallError("validation", "the offline sign-in window must be 1 to 168 hours");
      }
      const sessions = update.session_policy;
      if (sessions && (sessions.idle_lock_minutes < 5 || sessions.idle_lock_minutes > 60)) {
        throw new ApiCallError("validation", "the idle lock must be 5 to 60 minutes");
      }
      if (sessions && (sessions.max_session_hours < 1 || sessions.max_session_hours > 24)) {
        throw new ApiCallError("validation", "the session limit must be 1 to 24 hours");
      }
      if (sessions && (sessions.trusted_computer_days < 0 || sessions.trusted_computer_days > 30)) {
        throw new ApiCallError("validation", "trusted computers must be 0 (off) to 30 days");
      }
      if (update.two_factor_required && !company.two_factor_required && !company.dms.supports_two_factor) {
        throw new ApiCallError("two_factor_unavailable", "Two-factor authentication is not available with your DMS integration");
      }
      company = {
        ...company,
        ...(update.name !== undefined ? { name: update.name } : {}),
        ...(update.two_factor_required !== undefined ? { two_factor_required: update.two_factor_required } : {}),
        ...(update.offline_policy !== undefined ? { offline_policy: update.offline_policy } : {}),
        ...(update.session_policy !== undefined ? { session_policy: update.session_policy } : {}),
        version: company.version + 1,
      };
      queued();
      return company;
    },
    createUser: async (request) => {
      requireAdmin();
      requireConnection();
      const email = request.email.trim().toLowerCase();
      if (!request.display_name.trim()) throw new ApiCallError("validation", "Enter a name.");
      if (!email.includes("@")) throw new ApiCallError("validation", "Enter a valid email address.");
      if (users.some((x) => x.email === email)) {
        throw new ApiCallError("conflict", "Another user in this company has this email address.");
      }
      const typed = request.mobile_phone?.trim() ?? "";
      const phone = typed ? fakeParsePhone(typed) : null;
      if (typed && !phone) {
        throw new ApiCallError("invalid_phone", "Enter a valid mobile phone number, e.g. (480) 555-1234 or +44 7700 900123.");
      }
      if (request.two_factor_enabled && !company.dms.supports_two_factor) {
        throw new ApiCallError("two_factor_unavailable", "Two-factor authentication is not available with your DMS integration");
      }
      if (request.two_factor_enabled && !phone) {
        throw new ApiCallError("phone_required", "Add a mobile phone on the General Info tab first");
      }
      nextUser += 1;
      const created = user(nextUser, request.display_name.trim(), email, {
        id: `u-new-${nextUser}`,
        role: request.role,
        mobile_phone: phone,
        two_factor_enabled: request.two_factor_enabled ?? false,
        updated_at: Date.now(),
      });
      users.push(created);
      return grantFor(created);
    },
    resetPassword: async (userId) => {
      requireAdmin();
      requireConnection();
      if (userId === sessionUser().id) {
        throw new ApiCallError("own_password_reset", "Change your own password in your profile: it asks for your current password.");
      }
      const u = users.find((x) => x.id === userId);
      if (!u) throw new ApiCallError("forbidden", "You can't change that user.");
      forgetTrusted(u.id);
      return grantFor(u);
    },
    textSetupCode: async (userId, setupCode) => {
      requireAdmin();
      requireConnection();
      const u = users.find((x) => x.id === userId);
      if (!u) throw new ApiCallError("forbidden", "You can't change that user.");
      const current = outstanding.get(userId);
      if (!current || current.code !== setupCode) {
        throw new ApiCallError("setup_code_not_current", "This setup code no longer works. Reset the password for a new code.");
      }
      if (!u.mobile_phone) throw new ApiCallError("no_mobile_phone", "This user has no mobile phone on file.");
      if (current.texts >= 3) throw new ApiCallError("setup_code_text_limit", "This setup code was already texted 3 times.");
      current.texts += 1;
      return { phone_hint: phoneHint(u.mobile_phone), texts_left: 3 - current.texts };
    },
    resetTwoFactor: async (userId, reason) => {
      requireAdmin();
      requireConnection();
      requireReauth();
      if (userId === sessionUser().id) {
        throw new ApiCallError("own_two_factor_reset", "Another administrator must reset your own two-step verification.");
      }
      const u = users.find((x) => x.id === userId);
      if (!u) throw new ApiCallError("forbidden", "You can't change that user.");
      const chars = [...reason.trim()].length;
      if (chars < 5 || chars > 500) throw new ApiCallError("validation", "give a reason of 5 to 500 characters");
      u.mobile_phone = null;
      u.phone_verified_at = null;
      u.version += 1;
      totpUsers.delete(u.id);
      forgetTrusted(u.id);
      return { ...u };
    },
    revokeSessions: async (userId) => {
      requireAdmin();
      requireConnection();
      if (!users.some((x) => x.id === userId)) throw new ApiCallError("forbidden", "You can't change that user.");
    },
    trustedComputers: async () => {
      requireSignedIn();
      return trustedOf(sessionUser().id).map((t) => ({ ...t }));
    },
    revokeTrustedComputer: async (id) => {
      requireSignedIn();
      const list = trusted.get(sessionUser().id) ?? [];
      if (!list.some((t) => t.id === id)) throw new ApiCallError("not_found", "That computer is no longer trusted.");
      trusted.set(sessionUser().id, list.filter((t) => t.id !== id));
    },
    userTrustedComputers: async (userId) => {
      requireAdmin();
      requireConnection();
      if (!users.some((x) => x.id === userId)) throw new ApiCallError("forbidden", "You can't change that user.");
      return trustedOf(userId).map((t) => ({ ...t }));
    },
    revokeUserTrustedComputer: async (userId, id) => {
      requireAdmin();
      requireConnection();
      if (!users.some((x) => x.id === userId)) throw new ApiCallError("forbidden", "You can't change that user.");
      const list = trusted.get(userId) ?? [];
      if (!list.some((t) => t.id === id)) throw new ApiCallError("not_found", "That computer is no longer trusted.");
      trusted.set(userId, list.filter((t) => t.id !== id));
    },
    refresh: async () => {
      if (!signedIn) throw new ApiCallError("unauthenticated", "Sign in first.");
      requireUnlocked();
      return { ...sessionView(), last_synced_at: Date.now() };
    },
    syncStatus: async () => ({ ...sync, notices: [...sync.notices] }),
    syncNow: async () => {
      if (!signedIn) throw new ApiCallError("unauthenticated", "Sign in first.");
      requireUnlocked();
      // Offline nothing can be pushed; online the pretend outbox empties.
      if (sync.online) setSyncStatus({ state: "idle", pending_edits: 0, last_synced_at: Date.now(), next_retry_at: null });
      return { ...sync, notices: [...sync.notices] };
    },
    dismissSyncNotice: async (id) => {
      setSyncStatus({ notices: sync.notices.filter((n) => n.id !== id) });
      return { ...sync, notices: [...sync.notices] };
    },
    onSyncStatus: async (listener) => {
      syncListeners.add(listener);
      return () => {
        syncListeners.delete(listener);
      };
    },
    setSyncStatus,
  };
}
