// Re-authentication before security changes: the fake refuses them like the
// cloud (`reauth_required`) until the person gave their password (and a
// code) in the last 5 minutes; then the refused action runs again, once.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiCallError } from "../api";
import {
  DEMO_PASSWORD,
  DEMO_RECOVERY_CODES,
  FAKE_CODE,
  FAKE_TOTP_CODE,
  REAUTH_REQUIRED_MESSAGE,
  REAUTH_TTL_MS,
  demoCompany,
  demoUsers,
} from "../testing/fakeApi";
import { renderApp, renderWithApi, spyApi, type SpyApi } from "../testing/render";
import { UsersPage } from "../screens/UsersPage";
import { APP_REMOVED } from "./AuthenticatorApp";
import { CODES_REPLACED } from "./ProfileDialog";
import { REAUTH_TITLE, reauthLead } from "./Reauth";

const admin = demoUsers[0]!; // verified phone
const tom = demoUsers[3]!; // no second factor
const marcus = demoUsers[5]!; // verified phone, 2FA on

afterEach(() => {
  vi.restoreAllMocks();
});

async function openProfile(email: string) {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-profile"));
  expect(await screen.findByTestId("profile-email")).toHaveTextContent(email);
  return user;
}

async function removeApp(user: ReturnType<typeof userEvent.setup>) {
  await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("On"));
  await user.click(screen.getByTestId("totp-remove"));
  await user.click(screen.getByTestId("totp-remove-confirm"));
}

async function generateCodes(user: ReturnType<typeof userEvent.setup>) {
  await user.click(screen.getByTestId("recovery-generate"));
  await user.click(await screen.findByTestId("recovery-regenerate-submit"));
}

async function saveCodes(user: ReturnType<typeof userEvent.setup>) {
  await screen.findByTestId("recovery-dialog");
  await user.click(screen.getByTestId("recovery-ack"));
  await user.click(screen.getByTestId("recovery-done"));
  expect(await screen.findByTestId("password-changed")).toHaveTextContent(CODES_REPLACED);
}

describe("Confirm it's you (re-authentication)", () => {
  it("removing the app without a recent proof asks first; a wrong password changes nothing; password and code remove it once", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);

    const dialog = await screen.findByTestId("reauth-dialog");
    expect(dialog).toHaveAttribute("role", "dialog");
    expect(dialog).toHaveAccessibleName(REAUTH_TITLE);
    expect(dialog).toHaveAccessibleDescription(reauthLead("to remove your authenticator app"));
    await waitFor(() => expect(screen.getByTestId("reauth-password")).toHaveFocus());
    expect(api.removeTotp, "refused once by the core, nothing removed").toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("totp-status-error"), "the refusal itself is not shown as an error").toBeNull();

    // Empty: said at the field, nothing asked of the core.
    await user.click(screen.getByTestId("reauth-submit"));
    expect(screen.getByTestId("reauth-password-error")).toHaveTextContent("Enter your current password.");
    expect(api.reauthenticate).not.toHaveBeenCalled();

    await user.type(screen.getByTestId("reauth-password"), "not my password{Enter}");
    const error = await screen.findByTestId("reauth-password-error");
    expect(error).toHaveTextContent("The current password is not correct.");
    const field = screen.getByTestId("reauth-password");
    expect(field).toHaveAttribute("aria-invalid", "true");
    expect(field).toHaveAccessibleDescription("The current password is not correct.");
    expect(field, "a refused password is not kept").toHaveValue("");
    await waitFor(() => expect(field).toHaveFocus());
    expect(api.removeTotp, "a wrong password does not run the action").toHaveBeenCalledTimes(1);
    await expect(api.totpStatus()).resolves.toMatchObject({ enabled: true });

    await user.type(field, `${DEMO_PASSWORD}{Enter}`);
    // She has an app: its code first (nothing was texted).
    expect(await within(dialog).findByTestId("code-lead")).toHaveTextContent("authenticator app");
    expect(api.resendReauthCode).not.toHaveBeenCalled();
    await user.type(screen.getByTestId("code-input"), "111111{Enter}");
    expect(await screen.findByTestId("code-error")).toHaveTextContent("That code is not correct.");
    expect(screen.getByTestId("code-attempts")).toHaveTextContent("4 attempts left");
    expect(api.removeTotp).toHaveBeenCalledTimes(1);

    await user.type(screen.getByTestId("code-input"), `${FAKE_TOTP_CODE}{Enter}`);
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_REMOVED);
    expect(api.verifyReauth).toHaveBeenLastCalledWith(FAKE_TOTP_CODE, "totp");
    expect(api.removeTotp, "run again exactly once after the proof").toHaveBeenCalledTimes(2);
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off");
  });

  it("Cancel leaves everything as it was and shows no error", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = await openProfile(admin.email);
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off"));
    await user.click(screen.getByTestId("open-totp-setup"));
    await screen.findByTestId("reauth-dialog");
    expect(screen.getByTestId("reauth-lead")).toHaveTextContent(reauthLead("to set up an authenticator app"));
    expect(screen.queryByTestId("totp-qr"), "no secret before the proof").toBeNull();

    await user.click(screen.getByTestId("reauth-cancel"));
    expect(await screen.findByTestId("profile-dialog"), "back to the profile").toBeInTheDocument();
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(screen.queryByTestId("totp-setup-dialog")).toBeNull();
    expect(screen.queryByRole("alert"), "cancelling is not an error").toBeNull();
    expect(api.beginTotp).toHaveBeenCalledTimes(1);
    expect(api.reauthenticate).not.toHaveBeenCalled();
    expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off");
  });

  it("Cancel on the code step (or Esc) makes no new codes", async () => {
    const api = spyApi({ signedIn: true, sessionUserId: marcus.id, recoveryCodes: { [marcus.email]: DEMO_RECOVERY_CODES } });
    renderApp(api);
    const user = await openProfile(marcus.email);
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
    await generateCodes(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    expect(await screen.findByTestId("code-lead")).toHaveTextContent("Enter the code sent to");
    await user.click(screen.getByTestId("reauth-cancel"));
    await waitFor(() => expect(screen.queryByTestId("reauth-dialog")).toBeNull());
    expect(screen.queryByTestId("recovery-dialog")).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByTestId("recovery-regenerate-submit"), "the confirmation stays, usable again").toBeEnabled();

    await user.click(screen.getByTestId("recovery-regenerate-submit"));
    await screen.findByTestId("reauth-password");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("reauth-dialog")).toBeNull());
    expect(screen.getByTestId("profile-dialog"), "Esc closes only the check").toBeInTheDocument();
    expect(api.regenerateRecoveryCodes).toHaveBeenCalledTimes(2);
    expect(api.verifyReauth).not.toHaveBeenCalled();
    await expect(api.recoveryStatus()).resolves.toMatchObject({ remaining: 10 });
  });

  it("someone without a second factor only gives the password", async () => {
    const api = spyApi({ signedIn: true, sessionUserId: tom.id });
    renderApp(api);
    const user = await openProfile(tom.email);
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off"));
    await user.click(screen.getByTestId("open-totp-setup"));
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);

    expect(await screen.findByTestId("totp-qr"), "the setup goes on").toBeInTheDocument();
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(screen.queryByTestId("code-input")).toBeNull();
    expect(api.verifyReauth).not.toHaveBeenCalled();
    expect(api.beginTotp).toHaveBeenCalledTimes(2);
  });

  it("a recovery code also proves it; within 5 minutes the next change does not ask again, after them it does", async () => {
    const api = spyApi({ signedIn: true, sessionUserId: marcus.id, recoveryCodes: { [marcus.email]: DEMO_RECOVERY_CODES } });
    renderApp(api);
    const user = await openProfile(marcus.email);
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
    await generateCodes(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.click(await screen.findByTestId("code-use-recovery"));
    await user.type(screen.getByTestId("recovery-input"), `${DEMO_RECOVERY_CODES[3]!}{Enter}`);
    await saveCodes(user);
    expect(api.verifyReauth).toHaveBeenCalledWith(DEMO_RECOVERY_CODES[3], "recovery");
    const until = await api.verifyReauth.mock.results[0]!.value;
    expect(until, "the proof holds 5 minutes").toBeGreaterThan(Date.now() + REAUTH_TTL_MS - 60_000);

    const now = vi.spyOn(Date, "now").mockReturnValue(until - 1_000);
    await generateCodes(user);
    await saveCodes(user);
    expect(api.reauthenticate, "asked once only").toHaveBeenCalledTimes(1);
    expect(api.regenerateRecoveryCodes).toHaveBeenCalledTimes(3);

    now.mockReturnValue(until + 1);
    await generateCodes(user);
    expect(await screen.findByTestId("reauth-dialog"), "the proof is over: asked again").toBeInTheDocument();
    expect(api.regenerateRecoveryCodes).toHaveBeenCalledTimes(4);
  });

  it("someone with an app and a phone can ask for a text instead; it comes from the check, not a sign-in", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.click(await screen.findByTestId("code-switch-method"));
    expect(await screen.findByText(/^A code was sent to /)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("code-lead")).toHaveTextContent("Enter the code sent to"));
    expect(api.resendReauthCode).toHaveBeenCalledTimes(1);
    expect(api.resendCode, "not the sign-in's resend").not.toHaveBeenCalled();
    await user.type(screen.getByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_REMOVED);
    expect(api.verifyReauth).toHaveBeenCalledWith(FAKE_CODE, "sms");
  });

  it("never offers to trust the computer, even when the company allows it at sign-in", async () => {
    const company = { ...demoCompany, session_policy: { ...demoCompany.session_policy, trusted_computer_days: 7 } };
    const api = spyApi({ signedIn: true, sessionUserId: marcus.id, company, recoveryCodes: { [marcus.email]: DEMO_RECOVERY_CODES } });
    renderApp(api);
    const user = await openProfile(marcus.email);
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
    await generateCodes(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    const dialog = await screen.findByTestId("reauth-dialog");
    expect(await within(dialog).findByTestId("code-input")).toBeInTheDocument();
    expect(within(dialog).queryByTestId("code-remember")).toBeNull();
    await user.type(within(dialog).getByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    await saveCodes(user);
    expect(api.verifyReauth).toHaveBeenCalledWith(FAKE_CODE, "sms");
    expect(api.verifyCode, "a check is not a sign-in").not.toHaveBeenCalled();
  });

  it("a code step that ended goes back to the password, saying why", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    api.verifyReauth.mockRejectedValueOnce(new ApiCallError("challenge_closed", "Too many wrong codes. Enter your password again."));
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.type(await screen.findByTestId("code-input"), `${FAKE_TOTP_CODE}{Enter}`);

    expect(await screen.findByTestId("reauth-error")).toHaveTextContent("Too many wrong codes. Enter your password again.");
    const field = screen.getByTestId("reauth-password");
    await waitFor(() => expect(field).toHaveFocus());
    expect(screen.queryByTestId("code-input")).toBeNull();
    expect(api.removeTotp).toHaveBeenCalledTimes(1);

    await user.type(field, `${DEMO_PASSWORD}{Enter}`);
    await user.type(await screen.findByTestId("code-input"), `${FAKE_TOTP_CODE}{Enter}`);
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_REMOVED);
    expect(api.removeTotp).toHaveBeenCalledTimes(2);
  });

  it("a second refusal after the proof is shown, not asked again", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    api.removeTotp.mockRejectedValue(new ApiCallError("reauth_required", REAUTH_REQUIRED_MESSAGE));
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.type(await screen.findByTestId("code-input"), `${FAKE_TOTP_CODE}{Enter}`);

    expect(await screen.findByTestId("totp-status-error")).toHaveTextContent(REAUTH_REQUIRED_MESSAGE);
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(api.removeTotp, "once more, not in a loop").toHaveBeenCalledTimes(2);
    expect(api.reauthenticate).toHaveBeenCalledTimes(1);
  });

  it("a session that ended meanwhile goes back to sign-in like any other call", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    api.reauthenticate.mockRejectedValueOnce(new ApiCallError("session_expired", "Your session has expired. Sign in again."));
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(api.removeTotp).toHaveBeenCalledTimes(1);
  });

  it("offline or rate-limited, says so under the password", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email] });
    api.reauthenticate.mockRejectedValueOnce(new ApiCallError("rate_limited", "Too many attempts.", { retry_at: Date.now() + 20_500 }));
    renderApp(api);
    const user = await openProfile(admin.email);
    await removeApp(user);
    await user.type(await screen.findByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    expect(await screen.findByTestId("reauth-error")).toHaveTextContent(/^Too many attempts\. Try again in \d+ s\.$/);
    expect(screen.queryByTestId("reauth-password-error"), "not the password's fault").toBeNull();
    expect(api.removeTotp).toHaveBeenCalledTimes(1);
  });
});

describe("Confirm it's you: an admin's Reset two-factor", () => {
  async function askReset(api: SpyApi, reason: string) {
    renderWithApi(<UsersPage company={demoCompany} canEdit connected currentUserId={admin.id} />, api);
    const user = userEvent.setup();
    const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(marcus.display_name));
    await user.click(within(row!).getByTestId("user-edit"));
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-reset-two-factor"));
    await user.type(screen.getByTestId("user-reset-reason"), reason);
    await user.click(screen.getByTestId("user-action-confirm-button"));
    return user;
  }

  it("after the admin's password and code, retries the reset with the same reason", async () => {
    const api = spyApi({ signedIn: true });
    const reason = "lost phone, seen in person";
    const user = await askReset(api, reason);

    const dialog = await screen.findByTestId("reauth-dialog");
    expect(dialog).toHaveAccessibleDescription(reauthLead(`to reset ${marcus.display_name}’s two-step verification`));
    expect(api.resetTwoFactor).toHaveBeenCalledTimes(1);
    await user.type(screen.getByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    // Her phone was texted: its code.
    expect(await screen.findByTestId("code-lead")).toHaveTextContent("Enter the code sent to");
    await user.type(screen.getByTestId("code-input"), `${FAKE_CODE}{Enter}`);

    expect(await screen.findByTestId("users-saved")).toHaveTextContent(`Reset ${marcus.display_name}’s two-step verification.`);
    expect(api.verifyReauth).toHaveBeenCalledWith(FAKE_CODE, "sms");
    expect(api.resetTwoFactor.mock.calls).toEqual([
      [marcus.id, reason],
      [marcus.id, reason],
    ]);
    const after = await api.resetTwoFactor.mock.results[1]!.value;
    expect(after.mobile_phone).toBeNull();
  });

  it("cancelled, resets nothing, shows no error and keeps the reason", async () => {
    const api = spyApi({ signedIn: true });
    const user = await askReset(api, "lost phone, seen in person");
    await user.click(await screen.findByTestId("reauth-cancel"));

    await waitFor(() => expect(screen.queryByTestId("reauth-dialog")).toBeNull());
    expect(screen.getByTestId("user-dialog"), "the Edit dialog stays open").toBeInTheDocument();
    expect(screen.queryByTestId("user-action-error")).toBeNull();
    expect(screen.getByTestId("user-reset-reason")).toHaveValue("lost phone, seen in person");
    expect(screen.getByTestId("user-action-confirm-button")).toBeEnabled();
    await waitFor(() => expect(screen.getByTestId("user-action-confirm-button"), "focus back where it was").toHaveFocus());
    expect(api.resetTwoFactor).toHaveBeenCalledTimes(1);
    const users = await api.listUsers("", 0, 50);
    expect(users.users.find((u) => u.id === marcus.id)?.mobile_phone, "still has the phone").toBe(marcus.mobile_phone);
  });
});
