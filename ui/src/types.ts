// The single place the UI takes its IPC types from. They are generated from
// the Rust types by ts-rs (never hand-written), so a change in Rust shows up
// here as a type error instead of a runtime surprise.
export type { ApiError } from "./bindings.pending/ApiError";
export type { AppInfo } from "./bindings.pending/AppInfo";
export type { Company } from "./bindings.pending/Company";
export type { DmsIntegration } from "./bindings.pending/DmsIntegration";
export type { LoginOutcome } from "./bindings.pending/LoginOutcome";
export type { OfflinePolicy } from "./bindings.pending/OfflinePolicy";
export type { Role } from "./bindings.pending/Role";
export type { SessionView } from "./bindings.pending/SessionView";
export type { User } from "./bindings.pending/User";
export type { UsersPage } from "./bindings.pending/UsersPage";
export type { UserStatus } from "./bindings.pending/UserStatus";
