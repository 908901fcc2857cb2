// Recovery codes at sign-in: using one instead of the phone or app, the
// notice of how many are left, and the ten codes shown once after the first
// enrolment of a factor (and kept nowhere afterwards).
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { normaliseRecoveryCode } from "../format";
import { DEMO_RECOVERY_CODES, FAKE_CODE, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi, submitSignIn, type SpyApi } from "../testing/render";
import { RECOVERY_CODE_TEXT, RECOVERY_FORMAT_MESSAGE, USE_RECOVERY, USE_TEXT_BACK } from "./SecondFactor";

const marcus = demoUsers[5]!; // 2FA on, verified +16025550199
const samuel = demoUsers[7]!; // 2FA on, no phone -> enrolment

function marcusWith(codes: string[] = DEMO_RECOVERY_CODES) {
  return spyApi({ recoveryCodes: { [marcus.email]: codes } });
}

/** Signs in as Marcus up to the code dialog and switches to a recovery code. */
async function toRecoveryInput(api: SpyApi) {
  renderApp(api);
  const user = await submitSignIn(marcus.email);
  await user.click(await screen.findByTestId("code-use-recovery"));
  return { user, input: await screen.findByTestId("recovery-input") };
}

async function signOut(user: ReturnType<typeof userEvent.setup>) {
  await user.click(screen.getByTestId("sign-out"));
  await screen.findByTestId("login-email");
}

afterEach(() => {
  vi.restoreAllMocks();
});

/** Everything in the web view's storage, as text. */
function storageText(): string {
  const dump = (storage: Storage) =>
    Array.from({ length: storage.length }, (_, i) => {
      const key = storage.key(i) ?? "";
      return `${key}=${storage.getItem(key) ?? ""}`;
    }).join("\n");
  return `${dump(window.localStorage)}\n${dump(window.sessionStorage)}`;
}

describe("signing in with a recovery code", () => {
  it("is offered only while the person has unused codes", async () => {
    renderApp(spyApi());
    await submitSignIn(marcus.email);
    await screen.findByTestId("code-dialog");
    expect(screen.queryByTestId("code-use-recovery"), "no codes: no link").toBeNull();
  });

  it("switches to a recovery-code input, accepts lower case and spaces, and says how many are left", async () => {
    const api = marcusWith();
    renderApp(api);
    const user = await submitSignIn(marcus.email);
    const link = await screen.findByTestId("code-use-recovery");
    expect(link).toHaveTextContent(USE_RECOVERY);
    await user.click(link);

    const input = screen.getByLabelText("Recovery code");
    expect(input).toHaveAttribute("data-testid", "recovery-input");
    expect(input).toHaveAttribute("placeholder", "ABCDE-23456");
    expect(input).toHaveAttribute("autocomplete", "off");
    expect(input, "letters too: not a numeric keypad").not.toHaveAttribute("inputmode", "numeric");
    expect(input).toHaveFocus();
    expect(screen.getByTestId("code-lead")).toHaveTextContent(RECOVERY_CODE_TEXT);
    expect(screen.queryByTestId("code-input")).toBeNull();

    await user.type(input, "abcde 23456");
    await user.click(screen.getByTestId("code-submit"));

    const notice = await screen.findByTestId("recovery-used-notice");
    expect(notice).toHaveAttribute("role", "status");
    expect(notice).toHaveTextContent("You signed in with a recovery code. 9 left.");
    expect(notice, "plenty left: no nagging").not.toHaveTextContent("Generate new ones");
    expect(api.verifyCode).toHaveBeenCalledWith("ABCDE-23456", "recovery", false);
    expect(screen.queryByTestId("recovery-dialog"), "a used code issues no new ones").toBeNull();

    await user.click(within(notice).getByTestId("recovery-used-dismiss"));
    expect(screen.queryByTestId("recovery-used-notice")).toBeNull();
  });

  it("refuses a used code the second time, with the attempts left, and takes the next one", async () => {
    const api = marcusWith();
    const { user, input } = await toRecoveryInput(api);
    await user.type(input, DEMO_RECOVERY_CODES[0]!);
    await user.click(screen.getByTestId("code-submit"));
    await screen.findByTestId("recovery-used-notice");
    await signOut(user);

    await user.type(screen.getByTestId("login-email"), marcus.email);
    await user.type(screen.getByTestId("login-password"), "correct horse battery staple");
    await user.click(screen.getByTestId("login-submit"));
    await user.click(await screen.findByTestId("code-use-recovery"));
    const again = screen.getByTestId("recovery-input");
    await user.type(again, DEMO_RECOVERY_CODES[0]!);
    await user.click(screen.getByTestId("code-submit"));

    const error = await screen.findByTestId("code-error");
    expect(error).toHaveTextContent("That code is not correct.");
    expect(screen.getByTestId("code-attempts")).toHaveTextContent("4 attempts left");
    expect(again, "cleared for the next try").toHaveValue("");
    expect(screen.queryByTestId("portal")).toBeNull();

    await user.type(again, DEMO_RECOVERY_CODES[1]!);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("recovery-used-notice")).toHaveTextContent("8 left.");
  });

  it("refuses a malformed code before asking the cloud", async () => {
    const api = marcusWith();
    const { user, input } = await toRecoveryInput(api);
    for (const typed of ["ABCDE-2345", "ABCDO-23456", "ABCDE-234567"]) {
      await user.clear(input);
      await user.type(input, typed);
      await user.click(screen.getByTestId("code-submit"));
      expect(await screen.findByTestId("code-error"), typed).toHaveTextContent(RECOVERY_FORMAT_MESSAGE);
    }
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(api.verifyCode).not.toHaveBeenCalled();
    expect(screen.getByTestId("code-attempts"), "a typo costs no attempt").toHaveTextContent("5 attempts left");
  });

  it("goes back to the text message code", async () => {
    const api = marcusWith();
    const { user } = await toRecoveryInput(api);
    const back = screen.getByTestId("code-recovery-back");
    expect(back).toHaveTextContent(USE_TEXT_BACK);
    await user.click(back);
    expect(screen.queryByTestId("recovery-input")).toBeNull();
    expect(screen.getByTestId("code-lead")).toHaveTextContent("Enter the code sent to ••• ••• 0199");
    await user.type(screen.getByTestId("code-input"), FAKE_CODE);
    await user.click(screen.getByTestId("code-submit"));
    await screen.findByTestId("portal");
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false);
  });

  it("with two left, suggests new codes; with none left, asks for them and offers no more", async () => {
    const api = marcusWith(DEMO_RECOVERY_CODES.slice(0, 3));
    const { user, input } = await toRecoveryInput(api);
    await user.type(input, DEMO_RECOVERY_CODES[0]!);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("recovery-used-notice")).toHaveTextContent(
      "You signed in with a recovery code. 2 left. Generate new ones in your profile",
    );

    for (const code of DEMO_RECOVERY_CODES.slice(1, 3)) {
      await signOut(user);
      await user.type(screen.getByTestId("login-email"), marcus.email);
      await user.type(screen.getByTestId("login-password"), "correct horse battery staple");
      await user.click(screen.getByTestId("login-submit"));
      await user.click(await screen.findByTestId("code-use-recovery"));
      await user.type(screen.getByTestId("recovery-input"), code);
      await user.click(screen.getByTestId("code-submit"));
      await screen.findByTestId("recovery-used-notice");
    }
    expect(screen.getByTestId("recovery-used-notice")).toHaveTextContent(
      "You have no recovery codes left. Generate new ones in your profile.",
    );

    await signOut(user);
    await user.type(screen.getByTestId("login-email"), marcus.email);
    await user.type(screen.getByTestId("login-password"), "correct horse battery staple");
    await user.click(screen.getByTestId("login-submit"));
    await screen.findByTestId("code-dialog");
    expect(screen.queryByTestId("code-use-recovery"), "all used: no longer offered").toBeNull();
  });
});

describe("recovery codes issued with the first factor", () => {
  it("shows the ten codes over the portal until Done, keeps them nowhere, and they work", async () => {
    const logged = (["log", "info", "warn", "error", "debug"] as const).map((name) => vi.spyOn(console, name));
    const api = spyApi();
    renderApp(api);
    const user = await submitSignIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(await screen.findByTestId("enroll-phone"), "4805550177");
    await user.click(screen.getByTestId("enroll-send"));
    await user.type(await screen.findByTestId("code-input"), FAKE_CODE);
    await user.click(screen.getByTestId("code-submit"));

    const dialog = await screen.findByTestId("recovery-dialog");
    expect(screen.getByTestId("portal"), "over the portal, after sign-in").toContainElement(dialog);
    const codes = screen.getAllByTestId("recovery-code").map((li) => li.textContent ?? "");
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}$/);

    await user.click(screen.getByTestId("recovery-copy"));
    await user.click(screen.getByTestId("recovery-ack"));
    await user.click(screen.getByTestId("recovery-done"));
    await waitFor(() => expect(screen.queryByTestId("recovery-dialog")).toBeNull());
    expect(screen.getByTestId("open-profile"), "focus lands in the portal, not on the page body").toHaveFocus();
    expect(screen.queryAllByTestId("recovery-code")).toHaveLength(0);
    expect(document.body.textContent, "the codes are gone from the page").not.toContain(codes[0]);

    // Nothing of them in the web view's storage (shown, formatted or bare).
    const stored = storageText();
    for (const code of codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(normaliseRecoveryCode(code));
    }
    const printed = logged.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" "))).join("\n");
    for (const code of codes) expect(printed, "never logged").not.toContain(code);

    // They are the user's real codes: one signs in next time.
    await signOut(user);
    await user.type(screen.getByTestId("login-email"), samuel.email);
    await user.type(screen.getByTestId("login-password"), "correct horse battery staple");
    await user.click(screen.getByTestId("login-submit"));
    await user.click(await screen.findByTestId("code-use-recovery"));
    await user.type(screen.getByTestId("recovery-input"), codes[3]!);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("recovery-used-notice")).toHaveTextContent("9 left.");
    expect(screen.queryByTestId("recovery-dialog"), "shown once: not again at the next sign-in").toBeNull();
  });
});
