// axe-core on every screen and dialog, rendered in jsdom. Fails on serious or
// critical violations. jsdom has no layout or colours, so colour-contrast is
// off here; the end-to-end run scans the real app in its webview for that.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiCallError } from "./api";
import { DEMO_PASSWORD, DEMO_RECOVERY_CODES, FAKE_CODE, demoCompany, demoUsers } from "./testing/fakeApi";
import { renderApp, renderWithApi, spyApi, submitSignIn } from "./testing/render";
import { CompanyPage } from "./screens/CompanyPage";
import { UsersPage } from "./screens/UsersPage";
import type { SyncState, SyncStatus } from "./types";

const marcus = demoUsers[5]!;
const samuel = demoUsers[7]!;
const indexHtml = readFileSync(resolve(process.cwd(), "index.html"), "utf8");

beforeAll(() => {
  // The document-level facts come from index.html, as in the app.
  const lang = /<html[^>]*\blang="([^"]+)"/.exec(indexHtml)?.[1];
  const title = /<title>([^<]+)<\/title>/.exec(indexHtml)?.[1];
  expect(lang, "index.html must declare the page language").toBeTruthy();
  expect(title, "index.html must have a title").toBeTruthy();
  document.documentElement.lang = lang!;
  document.title = title!;
});

async function seriousViolations(): Promise<string[]> {
  const results = await axe.run(document, {
    rules: { "color-contrast": { enabled: false } },
    resultTypes: ["violations"],
  });
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function expectAccessible(what: string) {
  expect(await seriousViolations(), `${what}: no serious or critical axe violation`).toEqual([]);
}

async function signIn(email: string) {
  const api = spyApi();
  renderApp(api);
  const user = await submitSignIn(email);
  return { api, user };
}

describe("axe scan", () => {
  it("the lock screen (a session restored locked)", async () => {
    renderApp(spyApi({ signedIn: true, locked: true }));
    await screen.findByTestId("lock-password");
    await expectAccessible("lock screen");
  });

  it("catches a violation (the scan is live)", async () => {
    const input = document.createElement("input");
    document.body.append(input);
    try {
      const found = await seriousViolations();
      expect(found.some((v) => v.startsWith("label ")), "an unlabelled input must be reported").toBe(true);
    } finally {
      input.remove();
    }
  });

  it("login screen, with an error, and server settings", async () => {
    const api = spyApi();
    api.login.mockRejectedValueOnce(new ApiCallError("invalid_credentials", "The email or password is incorrect."));
    renderApp(api);
    const user = userEvent.setup();
    await screen.findByTestId("login-email");
    await expectAccessible("login");
    await user.click(screen.getByTestId("login-submit"));
    await screen.findByTestId("login-error");
    await expectAccessible("login with error");
    await user.click(screen.getByRole("button", { name: "Forgot your password?" }));
    await screen.findByRole("region", { name: "Forgot your password?" });
    await expectAccessible("login with the forgotten-password help open");
    await user.click(screen.getByTestId("open-settings"));
    await screen.findByTestId("settings-cloud-url");
    await expectAccessible("server settings");
  });

  it("account setup: meter, reason, mismatch and a refused code", async () => {
    renderApp(spyApi());
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("open-setup"));
    await user.type(screen.getByTestId("setup-email"), demoUsers[3]!.email);
    await user.type(screen.getByTestId("setup-code"), "WRNG-CODE-HERE");
    await user.type(screen.getByTestId("setup-password-new"), "short one");
    await user.type(screen.getByTestId("setup-password-confirm"), "short two!");
    await screen.findByTestId("setup-password-reason");
    await screen.findByTestId("setup-password-mismatch");
    await expectAccessible("setup form with a refusal and a mismatch");
    await user.clear(screen.getByTestId("setup-password-new"));
    await user.clear(screen.getByTestId("setup-password-confirm"));
    await user.type(screen.getByTestId("setup-password-new"), "violet tractor umbrella seventeen");
    await user.type(screen.getByTestId("setup-password-confirm"), "violet tractor umbrella seventeen");
    await screen.findByText("Strength: Very strong");
    await user.click(screen.getByTestId("setup-submit"));
    await screen.findByTestId("setup-error");
    await expectAccessible("setup form with a refused code");
  });

  it("profile and change password dialogs", async () => {
    const { user } = await signIn(demoUsers[0]!.email);
    await user.click(await screen.findByTestId("open-profile"));
    await screen.findByTestId("profile-dialog");
    await expectAccessible("profile dialog");
    await user.click(screen.getByTestId("open-change-password"));
    await user.type(screen.getByTestId("change-password-new"), "dana whitfield rocks");
    await screen.findByTestId("change-password-reason");
    await expectAccessible("change password dialog with a refusal");
  });

  it("profile dialog offline", async () => {
    renderApp(spyApi({ signedIn: true, offlineSignIn: true, sync: { online: false, state: "offline" } }));
    await userEvent.setup().click(await screen.findByTestId("open-profile"));
    await screen.findByTestId("change-password-offline");
    await expectAccessible("profile dialog offline");
  });

  it("cache recovery screen", async () => {
    renderApp(spyApi({ appInfo: { cache_status: "unreadable" } }));
    await screen.findByTestId("cache-unreadable");
    await expectAccessible("cache recovery");
  });

  it("portal: Users tab and Company Profile (admin)", async () => {
    renderApp(spyApi({ signedIn: true }));
    await screen.findAllByTestId("user-edit");
    await expectAccessible("users tab");
    await userEvent.setup().click(screen.getByTestId("nav-company"));
    await screen.findByTestId("company-two-factor-toggle");
    await expectAccessible("company profile");
  });

  it("sync status bar in every state, with notices and the offline banner", async () => {
    const api = spyApi({
      signedIn: true,
      offlineSignIn: true,
      sync: {
        state: "offline",
        online: false,
        pending_edits: 2,
        notices: [{ id: 1, subject: "Tom Baker", code: "conflict", message: "Someone changed it first.", at: Date.now() }],
      },
    });
    renderApp(api);
    await screen.findAllByTestId("sync-notice");
    await screen.findByTestId("offline-banner");
    await expectAccessible("status bar offline, with a notice and the offline banner");
    const states: (Partial<SyncStatus> & { state: SyncState })[] = [
      { state: "syncing", online: true },
      { state: "waiting_to_retry", online: false, next_retry_at: Date.now() + 60_000 },
      { state: "needs_sign_in", online: true },
      { state: "stopped", online: false },
      { state: "idle", online: true, pending_edits: 0, notices: [] },
    ];
    for (const next of states) {
      api.emitSyncStatus(next);
      expect(screen.getByTestId("sync-status")).toHaveAttribute("data-state", next.state);
      await expectAccessible(`status bar ${next.state}`);
    }
  });

  it("edit dialog: both tabs, field errors, dialog error", async () => {
    const api = spyApi({ signedIn: true });
    api.updateUser.mockRejectedValueOnce(new ApiCallError("invalid_phone", "Enter a valid mobile phone number."));
    renderWithApi(<UsersPage company={demoCompany} canEdit />, api);
    const user = userEvent.setup();
    await user.click((await screen.findAllByTestId("user-edit"))[3]!);
    await screen.findByTestId("user-dialog");
    await expectAccessible("edit dialog, General Info");
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-two-factor"));
    await screen.findByTestId("user-two-factor-error");
    await expectAccessible("edit dialog, Login Info with the phone-first error");
    await user.click(screen.getByTestId("tab-general"));
    await user.type(screen.getByTestId("user-phone"), "12");
    await user.click(screen.getByTestId("user-update"));
    await screen.findByTestId("user-phone-error");
    await expectAccessible("edit dialog with an invalid phone");
  });

  it("edit dialog and company profile when the DMS lacks 2FA, as a non-admin", async () => {
    const company = { ...demoCompany, dms: { kind: "acme", supports_two_factor: false } };
    renderWithApi(<UsersPage company={company} canEdit />, spyApi({ company, signedIn: true }));
    const user = userEvent.setup();
    await user.click((await screen.findAllByTestId("user-edit"))[1]!);
    await user.click(screen.getByTestId("tab-login"));
    await screen.findByTestId("two-factor-unavailable");
    await expectAccessible("edit dialog with DMS note");
    await user.keyboard("{Escape}");

    renderWithApi(<CompanyPage canEdit={false} />, spyApi({ company, signedIn: true }));
    await screen.findAllByTestId("company-admin-only");
    await expectAccessible("company profile, non-admin, DMS without 2FA");
  });

  it("company profile with the saved confirmation and an error", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("company-two-factor-toggle"));
    await user.click(screen.getByTestId("company-save"));
    await screen.findByTestId("company-saved");
    await expectAccessible("company saved");
    api.updateCompany.mockRejectedValueOnce(new ApiCallError("internal", "Could not save."));
    await user.click(screen.getByTestId("company-two-factor-toggle"));
    await user.click(screen.getByTestId("company-save"));
    await screen.findByTestId("company-error");
    await expectAccessible("company error");
  });

  it("Confirm it's you over the Edit dialog (an admin's Reset two-factor)", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<UsersPage company={demoCompany} canEdit connected currentUserId={demoUsers[0]!.id} />, api);
    const user = userEvent.setup();
    const marcus = demoUsers[5]!;
    const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(marcus.display_name));
    await user.click(within(row!).getByTestId("user-edit"));
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-reset-two-factor"));
    await user.type(screen.getByTestId("user-reset-reason"), "lost phone, seen in person");
    await user.click(screen.getByTestId("user-action-confirm-button"));
    await screen.findByTestId("reauth-dialog");
    await expectAccessible("re-authentication over the Edit dialog");
    await user.type(screen.getByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await screen.findByTestId("code-input");
    await expectAccessible("re-authentication code step over the Edit dialog");
  });

  it("Add user dialog with field errors, the setup code dialog, and the account actions", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<UsersPage company={demoCompany} canEdit currentUserId={demoUsers[0]!.id} />, api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("add-user"));
    await user.click(screen.getByTestId("add-user-submit"));
    await user.click(screen.getByTestId("add-user-two-factor"));
    await screen.findByTestId("add-user-two-factor-error");
    await expectAccessible("add user dialog with errors");
    await user.type(screen.getByTestId("add-user-name"), "Nadia Brennan");
    await user.type(screen.getByTestId("add-user-email"), "nadia@sunrise-motors.example");
    await user.click(screen.getByTestId("add-user-submit"));
    await screen.findByTestId("setup-code-dialog");
    await user.click(screen.getByTestId("setup-code-copy"));
    await expectAccessible("setup code dialog");
    await user.click(screen.getByTestId("setup-code-close"));
    const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes("Carlos"))!;
    await user.click(row.querySelector<HTMLElement>('[data-testid="user-edit"]')!);
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-revoke-sessions"));
    await expectAccessible("sign out everywhere confirmation");
  });

  it("account actions and Add user offline, company policy errors", async () => {
    const { unmount } = renderWithApi(<UsersPage company={demoCompany} canEdit connected={false} />, spyApi({ signedIn: true }));
    const user = userEvent.setup();
    await screen.findByTestId("add-user-offline");
    await user.click((await screen.findAllByTestId("user-edit"))[1]!);
    await user.click(screen.getByTestId("tab-login"));
    await screen.findByTestId("user-actions-offline");
    await expectAccessible("offline account actions");
    unmount();
    renderWithApi(<CompanyPage canEdit />, spyApi({ signedIn: true }));
    const idle = await screen.findByTestId("company-idle-lock");
    await user.clear(idle);
    await user.type(idle, "90");
    await screen.findByTestId("company-idle-lock-error");
    await expectAccessible("company policy field error");
  });

  it("trusted computers: the code dialog's checkbox, the profile's list and empty state, offline, the Edit dialog's list, the days field", async () => {
    const day = 24 * 60 * 60_000;
    const computer = (id: string, label: string, thisComputer: boolean) => ({
      id,
      label,
      created_at: Date.now() - 3 * day,
      last_used_at: thisComputer ? Date.now() - day : null,
      expires_at: Date.now() + 27 * day,
      this_computer: thisComputer,
    });
    const company = { ...demoCompany, session_policy: { ...demoCompany.session_policy, trusted_computer_days: 7 } };
    const api = spyApi({
      company,
      trustedComputers: {
        // Other computers: this one is trusted by the code below, as a person would.
        [marcus.email]: [computer("t1", "SERVICE-DESK (Windows)", false), computer("t2", "FRONT-DESK-2 (Windows)", false)],
      },
    });
    const first = renderApp(api);
    const user = await submitSignIn(marcus.email);
    await screen.findByTestId("code-remember");
    await expectAccessible("code dialog with the trusted-computer checkbox");
    await user.click(screen.getByTestId("code-remember"));
    await user.type(screen.getByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    await user.click(await screen.findByTestId("open-profile"));
    await screen.findAllByTestId("trusted-computer");
    await expectAccessible("profile with trusted computers");
    api.revokeTrustedComputer.mockRejectedValueOnce(new ApiCallError("offline", "Cannot reach the SecureClose cloud."));
    await user.click(screen.getAllByTestId("trusted-revoke")[0]!);
    await screen.findByTestId("trusted-revoke-error");
    await expectAccessible("profile with a refused revoke");
    for (let left = screen.getAllByTestId("trusted-computer").length; left > 0; left -= 1) {
      await user.click(screen.getAllByTestId("trusted-revoke")[0]!);
      await waitFor(() => expect(screen.queryAllByTestId("trusted-computer")).toHaveLength(left - 1));
    }
    await screen.findByTestId("trusted-none");
    await expectAccessible("profile without trusted computers");
    first.unmount();

    renderApp(spyApi({ signedIn: true, offlineSignIn: true, sync: { online: false, state: "offline" } }));
    await user.click(await screen.findByTestId("open-profile"));
    await screen.findByTestId("trusted-offline");
    await expectAccessible("profile offline: trusted computers note");
    cleanup();

    const admin = spyApi({ signedIn: true, trustedComputers: { [demoUsers[1]!.email]: [computer("t3", "SALES-PC (Windows)", false)] } });
    const edit = renderWithApi(<UsersPage company={demoCompany} canEdit />, admin);
    await user.click((await screen.findAllByTestId("user-edit"))[1]!);
    await user.click(screen.getByTestId("tab-login"));
    await screen.findByTestId("user-trusted-computer");
    await expectAccessible("edit dialog with the user's trusted computers");
    edit.unmount();

    renderWithApi(<CompanyPage canEdit />, spyApi({ signedIn: true }));
    const days = await screen.findByTestId("company-trusted-days");
    await user.clear(days);
    await user.type(days, "31");
    await screen.findByTestId("company-trusted-days-error");
    await expectAccessible("company trusted-computer days with an error");
  });

  it("code dialog, with an error", async () => {
    const { user } = await signIn(marcus.email);
    await screen.findByTestId("code-dialog");
    await expectAccessible("code dialog");
    await user.type(screen.getByTestId("code-input"), "000000{Enter}");
    await screen.findByTestId("code-error");
    await expectAccessible("code dialog with error");
  });

  it("enrolment dialog: phone step with error, then code step", async () => {
    const { user } = await signIn(samuel.email);
    await screen.findByTestId("enroll-dialog");
    await expectAccessible("enrolment choice");
    await user.click(screen.getByTestId("enroll-choose-sms"));
    await expectAccessible("enrolment phone step");
    await user.type(screen.getByTestId("enroll-phone"), "12{Enter}");
    await screen.findByTestId("enroll-phone-error");
    await expectAccessible("enrolment phone error");
    await user.clear(screen.getByTestId("enroll-phone"));
    await user.type(screen.getByTestId("enroll-phone"), "4805550177{Enter}");
    await screen.findByTestId("code-input");
    await expectAccessible("enrolment code step");
  });

  it("recovery codes: the dialog after the first enrolment, then the recovery-code input with an error", async () => {
    const { user } = await signIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(screen.getByTestId("enroll-phone"), "4805550177{Enter}");
    await user.type(await screen.findByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    await screen.findByTestId("recovery-dialog");
    await expectAccessible("recovery codes dialog");
    await user.click(screen.getByTestId("recovery-save"));
    await screen.findByText(/^Saved to /);
    await user.click(screen.getByTestId("recovery-ack"));
    await expectAccessible("recovery codes dialog, saved and acknowledged");
    await user.click(screen.getByTestId("recovery-done"));

    await user.click(screen.getByTestId("sign-out"));
    await user.type(await screen.findByTestId("login-email"), samuel.email);
    await user.type(screen.getByTestId("login-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("login-submit"));
    await user.click(await screen.findByTestId("code-use-recovery"));
    await user.type(screen.getByTestId("recovery-input"), "ABCDE{Enter}");
    await screen.findByTestId("code-error");
    await expectAccessible("recovery-code input with an error");
  });

  it("recovery codes: the used-code notice, the new-codes confirmation and its re-authentication", async () => {
    const api = spyApi({ recoveryCodes: { [marcus.email]: DEMO_RECOVERY_CODES } });
    renderApp(api);
    const user = await submitSignIn(marcus.email);
    await user.click(await screen.findByTestId("code-use-recovery"));
    await user.type(screen.getByTestId("recovery-input"), `${DEMO_RECOVERY_CODES[0]!}{Enter}`);
    await screen.findByTestId("recovery-used-notice");
    await expectAccessible("portal with the recovery code notice");
    await user.click(screen.getByTestId("open-profile"));
    await user.click(await screen.findByTestId("recovery-generate"));
    await screen.findByTestId("recovery-regenerate-question");
    await expectAccessible("new recovery codes: the confirmation");
    await user.click(screen.getByTestId("recovery-regenerate-submit"));
    await user.type(await screen.findByTestId("reauth-password"), "wrong{Enter}");
    await screen.findByTestId("reauth-password-error");
    await expectAccessible("re-authentication: refused password");
    await user.type(screen.getByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.type(await screen.findByTestId("code-input"), "000000{Enter}");
    await screen.findByTestId("code-error");
    await expectAccessible("re-authentication: the code step with an error");
  });
});
