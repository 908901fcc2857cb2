// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { Role } from "./Role";
import type { UserStatus } from "./UserStatus";

export type User = { id: string, company_id: string, email: string, display_name: string, role: Role, status: UserStatus, 
/**
 * E.164, e.g. `+14805551234`.
 */
mobile_phone: string | null, phone_verified_at: number | null, 
/**
 * The per-user Two-Factor Authentication toggle (Login Info tab).
 */
two_factor_enabled: boolean, version: number, updated_at: number, };
