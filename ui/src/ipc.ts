// The ONLY module that imports @tauri-apps/api (a test enforces it): every
// call into the Rust core goes through these typed wrappers.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { toApiError, type Api } from "./api";
import type {
  AppInfo,
  Challenge,
  Company,
  LoginOutcome,
  PasswordCheck,
  ReauthStep,
  RecoveryCodes,
  RecoveryStatus,
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
} from "./types";

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (reason) {
    throw toApiError(reason);
  }
}

// Command names are the Rust snake_case names; argument keys are camelCase
// because Tauri converts them to the Rust parameter names.
export const tauriApi: Api = {
  appInfo: () => call<AppInfo>("app_info"),
  resetCache: () => call<AppInfo>("reset_cache"),
  setCloudUrl: (url) => call<AppInfo>("set_cloud_url", { url }),
  login: (email, password) => call<LoginOutcome>("login", { email, password }),
  activate: (email, setupCode, newPassword) => call<LoginOutcome>("activate", { email, setupCode, newPassword }),
  checkNewPassword: (password, email) => call<PasswordCheck>("check_new_password", { password, email }),
  changePassword: async (currentPassword, newPassword) => {
    await call<null>("change_password", { currentPassword, newPassword });
  },
  verifyCode: (code, method, remember = false) => call<LoginOutcome>("verify_code", { code, method, remember }),
  resendCode: () => call<Challenge>("resend_code"),
  enrollPhone: (mobilePhone) => call<Challenge>("enroll_phone", { mobilePhone }),
  enrollTotp: () => call<TotpEnrollment>("enroll_totp"),
  chooseCompany: (companyId) => call<LoginOutcome>("choose_company", { companyId }),
  cancelLogin: async () => {
    await call<null>("cancel_login");
  },
  logout: async () => {
    await call<null>("logout");
  },
  session: () => call<SessionView | null>("session"),
  listUsers: (query, offset, limit) => call<UsersPage>("list_users", { query, offset, limit }),
  company: () => call<Company>("company"),
  totpStatus: () => call<TotpStatus>("totp_status"),
  beginTotp: () => call<TotpEnrollment>("begin_totp"),
  confirmTotp: (enrollmentId, code) => call<TotpStatus>("confirm_totp", { enrollmentId, code }),
  removeTotp: async () => {
    await call<null>("remove_totp");
  },
  recoveryStatus: () => call<RecoveryStatus>("recovery_status"),
  regenerateRecoveryCodes: () => call<RecoveryCodes>("regenerate_recovery_codes"),
  reauthenticate: (password) => call<ReauthStep>("reauthenticate", { password }),
  verifyReauth: (code, method) => call<number>("verify_reauth", { code, method }),
  resendReauthCode: () => call<Challenge>("resend_reauth_code"),
  saveRecoveryCodes: (codes) => call<string>("save_recovery_codes", { codes }),
  updateUser: (userId, update) => call<User>("update_user", { userId, update }),
  updateCompany: (update) => call<Company>("update_company", { update }),
  createUser: (request) => call<SetupCodeGrant>("create_user", { request }),
  resetPassword: (userId) => call<SetupCodeGrant>("reset_password", { userId }),
  textSetupCode: (userId, setupCode) => call<SetupCodeTexted>("text_setup_code", { userId, setupCode }),
  resetTwoFactor: (userId, reason) => call<User>("reset_two_factor", { userId, reason }),
  revokeSessions: async (userId) => {
    await call<null>("revoke_sessions", { userId });
  },
  trustedComputers: () => call<TrustedComputer[]>("trusted_computers"),
  revokeTrustedComputer: async (id) => {
    await call<null>("revoke_trusted_computer", { id });
  },
  userTrustedComputers: (userId) => call<TrustedComputer[]>("user_trusted_computers", { userId }),
  revokeUserTrustedComputer: async (userId, id) => {
    await call<null>("revoke_user_trusted_computer", { userId, id });
  },
  refresh: () => call<SessionView>("refresh"),
  lockSession: async () => {
    await call<null>("lock_session");
  },
  unlockSession: (password) => call<SessionView>("unlock_session", { password }),
  checkUpdate: () => call<UpdateInfo | null>("check_update"),
  installUpdate: async (onProgress) => {
    const channel = new Channel<UpdateProgress>();
    channel.onmessage = onProgress;
    await call<null>("install_update", { onProgress: channel });
  },
  syncStatus: () => call<SyncStatus>("sync_status"),
  syncNow: () => call<SyncStatus>("sync_now"),
  dismissSyncNotice: (id) => call<SyncStatus>("dismiss_sync_notice", { id }),
  onSyncStatus: async (listener) => {
    try {
      return await listen<SyncStatus>("sync-status", (event) => listener(event.payload));
    } catch (reason) {
      throw toApiError(reason);
    }
  },
};
