import type { DmsIntegration, Role, UserStatus } from "./types";

export function assertNever(value: never): never {
  throw new Error(`Unhandled value: ${String(value)}`);
}

export function roleLabel(role: Role): string {
  switch (role) {
    case "admin":
      return "Admin";
    case "user":
      return "User";
    default:
      return assertNever(role);
  }
}

export function statusLabel(status: UserStatus): string {
  switch (status) {
    case "active":
      return "Active";
    case "disabled":
      return "Disabled";
    default:
      return assertNever(status);
  }
}

const DMS_NAMES: Record<string, string> = {
  cdk: "CDK Global",
  reynolds: "Reynolds & Reynolds",
  dealertrack: "Dealertrack",
  tekion: "Tekion",
  autosoft: "AutoSoft",
  dominion: "Dominion VUE",
  pbs: "PBS Systems",
  none: "No DMS connected",
};

export function dmsLabel(dms: DmsIntegration): string {
  return DMS_NAMES[dms.kind.toLowerCase()] ?? dms.kind;
}

/** `+14805551234` -> `+1 (480) 555-1234`; other countries are shown as stored. */
export function formatPhone(e164: string | null): string {
  if (!e164) return "";
  const nanp = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return nanp ? `+1 (${nanp[1]}) ${nanp[2]}-${nanp[3]}` : e164;
}

/**
 * `+14805551234` -> `••• ••• 1234`: a phone masked as the cloud masks it in
 * "Enter the code sent to ••• ••• 1234" (`protocol::phone::hint`).
 */
export function phoneHint(e164: string): string {
  const digits = e164.replace(/\D/g, "");
  return `••• ••• ${digits.slice(-4)}`;
}

/**
 * A sync time as a clock reading ("10:42", or "10:42 AM" where the locale says
 * so); a day other than today also gets its date, so "10:42" never means a
 * sync from last week.
 */
export function formatSyncTime(epochMs: number, now: number = Date.now(), locale?: string): string {
  const when = new Date(epochMs);
  const sameDay = when.toDateString() === new Date(now).toDateString();
  return sameDay
    ? when.toLocaleTimeString(locale, { hour: "numeric", minute: "2-digit" })
    : when.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

/** A day, without the time: "Dec 7, 2026" (when a computer was trusted, and until when). */
export function formatDate(epochMs: number, locale?: string): string {
  return new Date(epochMs).toLocaleDateString(locale, { dateStyle: "medium" });
}

/** "1 edit", "2 edits". */
export function editCount(n: number): string {
  return `${n} edit${n === 1 ? "" : "s"}`;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? "";
  const last = parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? "") : "";
  return (first + last).toUpperCase() || "?";
}

/** The characters of a recovery code (no 0/O, 1/I/L: nothing to misread). */
export const RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export const RECOVERY_CODE_LENGTH = 10;

/** What was typed, without spaces and dashes, in upper case: "abcde 23456" -> "ABCDE23456". */
export function normaliseRecoveryCode(text: string): string {
  return text.replace(/[\s-]+/g, "").toUpperCase();
}

/** Whether `text` is a well-formed recovery code once normalised (not whether it works). */
export function isRecoveryCode(text: string): boolean {
  const code = normaliseRecoveryCode(text);
  return code.length === RECOVERY_CODE_LENGTH && [...code].every((c) => RECOVERY_ALPHABET.includes(c));
}

/** "ABCDE23456" -> "ABCDE-23456": as codes are shown (and printed). */
export function formatRecoveryCode(text: string): string {
  const code = normaliseRecoveryCode(text);
  return code.length === RECOVERY_CODE_LENGTH ? `${code.slice(0, 5)}-${code.slice(5)}` : code;
}
