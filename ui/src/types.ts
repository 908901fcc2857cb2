// The single place the UI takes its IPC types from. They are generated from
// the Rust types by ts-rs (never hand-written), so a change in Rust shows up
// here as a type error instead of a runtime surprise.
export type { ApiError } from "./bindings/ApiError";
export type { AppInfo } from "./bindings/AppInfo";
export type { Challenge } from "./bindings/Challenge";
export type { Company } from "./bindings/Company";
export type { CompanyChoice } from "./bindings/CompanyChoice";
export type { CompanyUpdate } from "./bindings/CompanyUpdate";
export type { UpdateInfo } from "./bindings/UpdateInfo";
export type { UpdateProgress } from "./bindings/UpdateProgress";
export type { DmsIntegration } from "./bindings/DmsIntegration";
export type { LockedSession } from "./bindings/LockedSession";
export type { LoginOutcome } from "./bindings/LoginOutcome";
export type { NewUserRequest } from "./bindings/NewUserRequest";
export type { OfflinePolicy } from "./bindings/OfflinePolicy";
export type { PasswordCheck } from "./bindings/PasswordCheck";
export type { RecoveryCodes } from "./bindings/RecoveryCodes";
export type { RecoveryNotice } from "./bindings/RecoveryNotice";
export type { RecoveryStatus } from "./bindings/RecoveryStatus";
export type { ReauthStep } from "./bindings/ReauthStep";
export type { Role } from "./bindings/Role";
export type { SessionPolicy } from "./bindings/SessionPolicy";
export type { SecondFactorMethod } from "./bindings/SecondFactorMethod";
export type { SessionView } from "./bindings/SessionView";
export type { SetupCodeGrant } from "./bindings/SetupCodeGrant";
export type { SetupCodeTexted } from "./bindings/SetupCodeTexted";
export type { SyncNotice } from "./bindings/SyncNotice";
export type { SyncState } from "./bindings/SyncState";
export type { SyncStatus } from "./bindings/SyncStatus";
export type { TotpEnrollment } from "./bindings/TotpEnrollment";
export type { TotpStatus } from "./bindings/TotpStatus";
export type { TrustedComputer } from "./bindings/TrustedComputer";
export type { User } from "./bindings/User";
export type { UsersPage } from "./bindings/UsersPage";
export type { UserStatus } from "./bindings/UserStatus";
export type { UserUpdate } from "./bindings/UserUpdate";
