// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { Company } from "./Company";
import type { User } from "./User";

export type SessionView = { user: User, company: Company, online: boolean, last_synced_at: number | null, };
