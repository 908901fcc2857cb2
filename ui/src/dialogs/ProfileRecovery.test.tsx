// Recovery codes in the profile: how many are unused, new codes after a short
// confirmation (the old set stops working; the re-authentication before it is
// tested in Reauth.test.tsx), and the codes that come with a first
// authenticator app.
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { DEMO_PASSWORD, DEMO_RECOVERY_CODES, FAKE_TOTP_CODE, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi, type SpyApi } from "../testing/render";
import { APP_ADDED } from "./AuthenticatorApp";
import { CODES_REPLACED } from "./ProfileDialog";
import { RECOVERY_NEEDS_CONNECTION, REGENERATE_WARNING } from "./RecoveryCodes";

const admin = demoUsers[0]!; // verified phone, no 2FA required
const tom = demoUsers[3]!; // no factor at all
const marcus = demoUsers[5]!; // 2FA on, verified phone

function signedInAsMarcus() {
  return spyApi({ signedIn: true, sessionUserId: marcus.id, recoveryCodes: { [marcus.email]: DEMO_RECOVERY_CODES }, reauthenticated: true });
}

async function openProfile(email: string) {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-profile"));
  expect(await screen.findByTestId("profile-email")).toHaveTextContent(email);
  return user;
}

/** Signs out, then in as Marcus with `code` as a recovery code. */
async function signInWithRecoveryCode(user: ReturnType<typeof userEvent.setup>, code: string) {
  await user.click(screen.getByTestId("sign-out"));
  await user.type(await screen.findByTestId("login-email"), marcus.email);
  await user.type(screen.getByTestId("login-password"), DEMO_PASSWORD);
  await user.click(screen.getByTestId("login-submit"));
  await user.click(await screen.findByTestId("code-use-recovery"));
  await user.type(screen.getByTestId("recovery-input"), code);
  await user.click(screen.getByTestId("code-submit"));
}

async function openRegenerate(api: SpyApi) {
  renderApp(api);
  const user = await openProfile(marcus.email);
  await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
  await user.click(screen.getByTestId("recovery-generate"));
  expect(await screen.findByTestId("recovery-regenerate-question"), "says the old codes stop working").toHaveTextContent(REGENERATE_WARNING);
  expect(screen.getByTestId("recovery-regenerate-submit")).toHaveAccessibleDescription(REGENERATE_WARNING);
  expect(api.regenerateRecoveryCodes, "nothing changes before the confirmation").not.toHaveBeenCalled();
  return user;
}

describe("recovery codes in the profile", () => {
  it("says none were issued yet", async () => {
    renderApp(spyApi({ signedIn: true }));
    await openProfile(admin.email);
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("No recovery codes yet"));
  });

  it("Keep my codes makes none and the old codes keep working", async () => {
    const api = signedInAsMarcus();
    const user = await openRegenerate(api);
    await user.click(screen.getByTestId("recovery-regenerate-cancel"));
    expect(screen.queryByTestId("recovery-regenerate-question")).toBeNull();
    expect(screen.getByTestId("recovery-generate")).toBeInTheDocument();
    expect(api.regenerateRecoveryCodes).not.toHaveBeenCalled();

    await user.click(screen.getByTestId("profile-close"));
    await signInWithRecoveryCode(user, DEMO_RECOVERY_CODES[0]!);
    expect(await screen.findByTestId("recovery-used-notice")).toHaveTextContent("9 left.");
  });

  it("shows the cloud's refusal next to the confirmation", async () => {
    const api = signedInAsMarcus();
    api.regenerateRecoveryCodes.mockRejectedValueOnce(new ApiCallError("rate_limited", "Too many requests. Wait a minute."));
    const user = await openRegenerate(api);
    await user.click(screen.getByTestId("recovery-regenerate-submit"));
    expect(await screen.findByTestId("recovery-regenerate-error")).toHaveTextContent("Too many requests. Wait a minute.");
    expect(screen.queryByTestId("recovery-dialog")).toBeNull();
    expect(screen.queryByTestId("reauth-dialog"), "not a re-authentication refusal").toBeNull();
  });

  it("confirmed, shows ten new codes once; the old ones stop working", async () => {
    const api = signedInAsMarcus();
    const user = await openRegenerate(api);
    await user.click(screen.getByTestId("recovery-regenerate-submit"));

    await screen.findByTestId("recovery-dialog");
    const fresh = screen.getAllByTestId("recovery-code").map((li) => li.textContent ?? "");
    expect(fresh).toHaveLength(10);
    expect(fresh.some((code) => DEMO_RECOVERY_CODES.includes(code)), "a new set").toBe(false);
    await user.click(screen.getByTestId("recovery-ack"));
    await user.click(screen.getByTestId("recovery-done"));

    expect(await screen.findByTestId("password-changed")).toHaveTextContent(CODES_REPLACED);
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
    expect(screen.queryByTestId("recovery-code"), "shown once").toBeNull();
    const stored = [window.localStorage, window.sessionStorage]
      .flatMap((storage) => Object.keys(storage).map((key) => `${key}=${storage.getItem(key)}`))
      .join("\n");
    for (const code of fresh) expect(stored, "the new codes are kept nowhere").not.toContain(code.slice(0, 5));
    await user.click(screen.getByTestId("profile-close"));

    await signInWithRecoveryCode(user, DEMO_RECOVERY_CODES[0]!);
    expect(await screen.findByTestId("code-error"), "an old code no longer signs in").toHaveTextContent("That code is not correct.");
    await user.type(screen.getByTestId("recovery-input"), fresh[0]!);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("recovery-used-notice")).toHaveTextContent("9 left.");
  });

  it("offline, Generate new codes is disabled and says it needs the connection", async () => {
    const api = spyApi({ signedIn: true, offlineSignIn: true });
    renderApp(api);
    await openProfile(admin.email);
    const button = screen.getByTestId("recovery-generate");
    expect(button).toBeDisabled();
    expect(button).toHaveAccessibleDescription(RECOVERY_NEEDS_CONNECTION);
    expect(screen.getByTestId("profile-recovery")).toHaveTextContent("Unknown while offline");
    expect(api.recoveryStatus).not.toHaveBeenCalled();
  });

  it("an authenticator app as the first factor comes with ten codes, shown after it is on", async () => {
    const api = spyApi({ signedIn: true, sessionUserId: tom.id, reauthenticated: true });
    renderApp(api);
    const user = await openProfile(tom.email);
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off"));
    await user.click(screen.getByTestId("open-totp-setup"));
    await user.type(await screen.findByTestId("totp-code"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("totp-confirm"));

    await screen.findByTestId("recovery-dialog");
    const issued = (await api.confirmTotp.mock.results[0]!.value).recovery_codes;
    expect(screen.getAllByTestId("recovery-code").map((li) => li.textContent)).toEqual(issued);
    expect(issued).toHaveLength(10);
    await user.click(screen.getByTestId("recovery-ack"));
    await user.click(screen.getByTestId("recovery-done"));
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_ADDED);
    expect(screen.getByTestId("profile-totp")).toHaveTextContent("On");
    await waitFor(() => expect(screen.getByTestId("profile-recovery")).toHaveTextContent("10 of 10 unused"));
  });

  it("an authenticator app added next to a phone brings no new codes", async () => {
    const api = spyApi({ signedIn: true, reauthenticated: true });
    renderApp(api);
    const user = await openProfile(admin.email);
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off"));
    await user.click(screen.getByTestId("open-totp-setup"));
    await user.type(await screen.findByTestId("totp-code"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_ADDED);
    expect(screen.queryByTestId("recovery-dialog")).toBeNull();
  });
});
