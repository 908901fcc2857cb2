import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi, type Mock } from "vitest";
import { App } from "../App";
import { ApiProvider } from "../ApiContext";
import type { Api } from "../api";
import { createFakeApi, type FakeApiOptions } from "./fakeApi";

export type SpyApi = { [K in keyof Api]: Mock<NonNullable<Api[K]>> };

/** A fake Api whose every method is a spy around the in-memory behaviour. */
export function spyApi(base: Api | FakeApiOptions = {}): SpyApi {
  const api: Api = typeof base.appInfo === "function" ? (base as Api) : createFakeApi(base as FakeApiOptions);
  return {
    appInfo: vi.fn(api.appInfo),
    resetCache: vi.fn(api.resetCache),
    setCloudUrl: vi.fn(api.setCloudUrl),
    login: vi.fn(api.login),
    verifyCode: vi.fn(api.verifyCode),
    resendCode: vi.fn(api.resendCode),
    enrollPhone: vi.fn(api.enrollPhone),
    cancelLogin: vi.fn(api.cancelLogin),
    logout: vi.fn(api.logout),
    session: vi.fn(api.session),
    listUsers: vi.fn(api.listUsers),
    company: vi.fn(api.company),
    updateUser: vi.fn(api.updateUser),
    updateCompany: vi.fn(api.updateCompany),
    refresh: vi.fn(api.refresh),
  };
}

export function renderWithApi(ui: ReactElement, api: Api) {
  return render(<ApiProvider api={api}>{ui}</ApiProvider>);
}

export function renderApp(api: Api) {
  return renderWithApi(<App />, api);
}
