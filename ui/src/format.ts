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

/** "just now", "5 minutes ago", "3 hours ago", else a date and time. */
export function formatSyncedAt(epochMs: number | null, now: number = Date.now()): string {
  if (epochMs === null) return "Not synced yet";
  const seconds = Math.round((now - epochMs) / 1000);
  if (seconds < 45) return "Last synced just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `Last synced ${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `Last synced ${hours} hour${hours === 1 ? "" : "s"} ago`;
  const when = new Date(epochMs).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return `Last synced ${when}`;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? "";
  const last = parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? "") : "";
  return (first + last).toUpperCase() || "?";
}
