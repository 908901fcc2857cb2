// The interface every screen talks to. `ipc.ts` implements it over Tauri;
// tests and the dev mock mode implement it with in-memory data. Keeping this
// file free of @tauri-apps/api lets the screens be tested in plain jsdom.
import type { ApiError, AppInfo, Company, LoginOutcome, SessionView, UsersPage } from "./types";

export interface Api {
  appInfo(): Promise<AppInfo>;
  resetCache(): Promise<AppInfo>;
  setCloudUrl(url: string): Promise<AppInfo>;
  login(email: string, password: string): Promise<LoginOutcome>;
  logout(): Promise<void>;
  session(): Promise<SessionView | null>;
  listUsers(query: string, offset: number, limit: number): Promise<UsersPage>;
  company(): Promise<Company>;
}

/** What every Api method rejects with: the core's `{code, message}`. */
export class ApiCallError extends Error implements ApiError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "ApiCallError";
    this.code = code;
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

/** Codes meaning the core no longer has a usable session: sign in again. */
export const SESSION_LOST_CODES: readonly string[] = ["unauthenticated", "session_expired"];

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
  if (isApiErrorShape(reason)) return new ApiCallError(reason.code, reason.message);
  if (typeof reason === "string" && reason.length > 0) return new ApiCallError("internal", reason);
  if (reason instanceof Error && reason.message) return new ApiCallError("internal", reason.message);
  return new ApiCallError("internal", "Something went wrong. Please try again.");
}
