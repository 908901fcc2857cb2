import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactElement } from "react";
import { vi, type Mock } from "vitest";
import { App } from "../App";
import { ApiProvider } from "../ApiContext";
import type { Api } from "../api";
import type { SyncStatus } from "../types";
import { createFakeApi, DEMO_PASSWORD, type FakeApi, type FakeApiOptions } from "./fakeApi";

export type SpyApi = { [K in keyof Api]: Mock<NonNullable<Api[K]>> } & {
  /** Plays the core pushing a `sync-status` event (inside act()). */
  emitSyncStatus(patch: Partial<SyncStatus>): void;
};

/** A fake Api whose every method is a spy around the in-memory behaviour. */
export function spyApi(base: FakeApi | FakeApiOptions = {}): SpyApi {
  const api: FakeApi = typeof base.appInfo === "function" ? (base as FakeApi) : createFakeApi(base as FakeApiOptions);
  return {
    emitSyncStatus: (patch) => act(() => api.setSyncStatus(patch)),
    appInfo: vi.fn(api.appInfo),
    resetCache: vi.fn(api.resetCache),
    setCloudUrl: vi.fn(api.setCloudUrl),
    login: vi.fn(api.login),
    activate: vi.fn(api.activate),
    checkNewPassword: vi.fn(api.checkNewPassword),
    changePassword: vi.fn(api.changePassword),
    verifyCode: vi.fn(api.verifyCode),
    resendCode: vi.fn(api.resendCode),
    enrollPhone: vi.fn(api.enrollPhone),
    enrollTotp: vi.fn(api.enrollTotp),
    chooseCompany: vi.fn(api.chooseCompany),
    cancelLogin: vi.fn(api.cancelLogin),
    logout: vi.fn(api.logout),
    session: vi.fn(api.session),
    listUsers: vi.fn(api.listUsers),
    company: vi.fn(api.company),
    totpStatus: vi.fn(api.totpStatus),
    beginTotp: vi.fn(api.beginTotp),
    confirmTotp: vi.fn(api.confirmTotp),
    removeTotp: vi.fn(api.removeTotp),
    recoveryStatus: vi.fn(api.recoveryStatus),
    regenerateRecoveryCodes: vi.fn(api.regenerateRecoveryCodes),
    reauthenticate: vi.fn(api.reauthenticate),
    verifyReauth: vi.fn(api.verifyReauth),
    resendReauthCode: vi.fn(api.resendReauthCode),
    saveRecoveryCodes: vi.fn(api.saveRecoveryCodes),
    updateUser: vi.fn(api.updateUser),
    updateCompany: vi.fn(api.updateCompany),
    createUser: vi.fn(api.createUser),
    resetPassword: vi.fn(api.resetPassword),
    textSetupCode: vi.fn(api.textSetupCode),
    resetTwoFactor: vi.fn(api.resetTwoFactor),
    revokeSessions: vi.fn(api.revokeSessions),
    trustedComputers: vi.fn(api.trustedComputers),
    revokeTrustedComputer: vi.fn(api.revokeTrustedComputer),
    userTrustedComputers: vi.fn(api.userTrustedComputers),
    revokeUserTrustedComputer: vi.fn(api.revokeUserTrustedComputer),
    refresh: vi.fn(api.refresh),
    lockSession: vi.fn(api.lockSession),
    unlockSession: vi.fn(api.unlockSession),
    syncStatus: vi.fn(api.syncStatus),
    syncNow: vi.fn(api.syncNow),
    dismissSyncNotice: vi.fn(api.dismissSyncNotice),
    onSyncStatus: vi.fn(api.onSyncStatus),
  };
}

export function renderWithApi(ui: ReactElement, api: Api) {
  return render(<ApiProvider api={api}>{ui}</ApiProvider>);
}

export function renderApp(api: Api) {
  return renderWithApi(<App />, api);
}

/** Types `email` and `password` on the login screen and submits, as a person would. */
export async function submitSignIn(email: string, password = DEMO_PASSWORD) {
  const user = userEvent.setup();
  await user.type(await screen.findByTestId("login-email"), email);
  await user.type(screen.getByTestId("login-password"), password);
  await user.click(screen.getByTestId("login-submit"));
  return user;
}
