import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiCallError } from "../api";
import { CODE_TTL_MS, FAKE_CODE, FAKE_TOTP_CODE, FAKE_TOTP_SECRET, demoCompany, demoUsers, type FakeApiOptions } from "../testing/fakeApi";
import { groupSecret } from "./AuthenticatorApp";
import { renderApp, spyApi, submitSignIn } from "../testing/render";
import {
  APP_CODE_TEXT,
  CODE_EXPIRED_MESSAGE,
  ENROLL_CHOICE,
  REMEMBER_HELP,
  TEXT_ME,
  USE_APP,
  USE_TEXT,
  codeDigits,
  rememberText,
  retryText,
} from "./SecondFactor";

const marcus = demoUsers[5]!; // 2FA on, verified +16025550199
const samuel = demoUsers[7]!; // 2FA on, no phone -> enrolment
const T0 = new Date("2026-11-28T10:00:00Z").getTime();

// Only the clock and intervals are fake: the countdown ticks on setInterval
// and reads Date.now(); Testing Library and user-event keep real timeouts.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date", "setInterval", "clearInterval"], now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function advance(ms: number) {
  act(() => {
    vi.advanceTimersByTime(ms);
  });
}

async function signIn(email: string, api = spyApi()) {
  renderApp(api);
  const user = await submitSignIn(email);
  return { api, user };
}

describe("code dialog", () => {
  it("shows the masked phone, attempts left and a resend countdown from the cloud's time", async () => {
    const { api, user } = await signIn(marcus.email);

    const dialog = await screen.findByTestId("code-dialog");
    expect(dialog).toHaveAttribute("role", "dialog");
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(dialog).toHaveTextContent("Enter the code sent to ••• ••• 0199");
    expect(screen.getByTestId("code-attempts")).toHaveTextContent("5 attempts left");
    const input = screen.getByLabelText("Verification code");
    expect(input).toHaveAttribute("data-testid", "code-input");
    expect(input).toHaveAttribute("autocomplete", "one-time-code");
    expect(input).toHaveAttribute("inputmode", "numeric");
    expect(input).toHaveAttribute("maxlength", "6");
    expect(input, "focus moves into the dialog, on the code").toHaveFocus();
    expect(screen.getByTestId("login-password"), "the password is not kept once it was accepted").toHaveValue("");

    const resend = screen.getByTestId("code-resend");
    expect(resend).toHaveTextContent("Resend in 30 s");
    expect(resend).toBeDisabled();
    advance(5_000);
    expect(resend, "the countdown is visible and ticks").toHaveTextContent("Resend in 25 s");
    expect(resend).toBeDisabled();
    advance(25_000);
    expect(resend).toHaveTextContent("Resend code");
    expect(resend).toBeEnabled();

    await user.click(resend);
    expect(api.resendCode).toHaveBeenCalledTimes(1);
    expect(await screen.findByRole("status")).toHaveTextContent("A new code was sent to ••• ••• 0199.");
    expect(resend, "a new cooldown starts from the new challenge").toHaveTextContent("Resend in 30 s");
  });

  it("a wrong code shows the error and the attempts left", async () => {
    const { user } = await signIn(marcus.email);
    const input = await screen.findByTestId("code-input");
    await user.type(input, "000000");
    await user.click(screen.getByTestId("code-submit"));

    const error = await screen.findByTestId("code-error");
    expect(error).toHaveAttribute("role", "alert");
    expect(error).toHaveTextContent("That code is not correct.");
    expect(screen.getByTestId("code-attempts")).toHaveTextContent("4 attempts left");
    expect(input, "the wrong code is cleared for the next try").toHaveValue("");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input.getAttribute("aria-describedby"), "the error is read with the field").toContain("code-error");
  });

  it("says 1 attempt left in the singular", async () => {
    const api = spyApi();
    api.verifyCode.mockRejectedValueOnce(new ApiCallError("invalid_code", "That code is not correct.", { attempts_left: 1 }));
    const { user } = await signIn(marcus.email, api);
    await user.type(await screen.findByTestId("code-input"), "111111");
    await user.click(screen.getByTestId("code-submit"));
    await waitFor(() => expect(screen.getByTestId("code-attempts")).toHaveTextContent(/^1 attempt left$/));
  });

  it("an expired code says to send a new one", async () => {
    const { api, user } = await signIn(marcus.email);
    await screen.findByTestId("code-dialog");
    advance(CODE_TTL_MS + 1_000);
    await user.type(screen.getByTestId("code-input"), FAKE_CODE);
    await user.click(screen.getByTestId("code-submit"));

    expect(await screen.findByTestId("code-error")).toHaveTextContent(CODE_EXPIRED_MESSAGE);
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false);
    expect(screen.getByTestId("code-resend"), "the way out is available").toBeEnabled();
  });

  it("challenge_closed returns to sign-in with the reason", async () => {
    const api = spyApi();
    api.verifyCode.mockRejectedValueOnce(new ApiCallError("challenge_closed", "Too many wrong codes."));
    const { user } = await signIn(marcus.email, api);
    await user.type(await screen.findByTestId("code-input"), "999999");
    await user.click(screen.getByTestId("code-submit"));

    await waitFor(() => expect(screen.queryByTestId("code-dialog")).toBeNull());
    expect(screen.getByTestId("login-error")).toHaveTextContent("Too many wrong codes.");
    expect(screen.getByTestId("login-email"), "the email is kept").toHaveValue(marcus.email);
    expect(screen.getByTestId("login-password"), "focus returns to where the user starts again").toHaveFocus();
    expect(api.cancelLogin, "the core forgets the dead challenge").toHaveBeenCalled();
  });

  it("a pasted '123 456' is entered as 123456 and signs in", async () => {
    const { api, user } = await signIn(marcus.email);
    const input = await screen.findByTestId("code-input");
    await user.click(input);
    await user.paste("123 456");
    expect(input).toHaveValue("123456");
    await user.click(screen.getByTestId("code-submit"));

    expect(api.verifyCode).toHaveBeenCalledWith("123456", "sms", false);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(marcus.display_name);
  });

  it("typed dashes and spaces are dropped too", async () => {
    const { user } = await signIn(marcus.email);
    const input = await screen.findByTestId("code-input");
    await user.type(input, "12-34 56");
    expect(input).toHaveValue("123456");
  });

  it("Enter submits the code", async () => {
    const { api, user } = await signIn(marcus.email);
    await user.type(await screen.findByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    await waitFor(() => expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false));
    expect(await screen.findByTestId("signed-in-user")).toBeInTheDocument();
  });

  it("an incomplete code is not sent", async () => {
    const { api, user } = await signIn(marcus.email);
    await user.type(await screen.findByTestId("code-input"), "123{Enter}");
    expect(await screen.findByTestId("code-error")).toHaveTextContent("Enter the 6-digit code");
    expect(api.verifyCode).not.toHaveBeenCalled();
  });

  it("Esc cancels the login (cancelLogin) and focus returns to the password", async () => {
    const { api, user } = await signIn(marcus.email);
    await screen.findByTestId("code-dialog");
    await user.keyboard("{Escape}");

    expect(screen.queryByTestId("code-dialog")).toBeNull();
    expect(api.cancelLogin).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("login-password")).toHaveFocus();
    expect(screen.getByTestId("login-email")).toHaveValue(marcus.email);
    expect(screen.queryByTestId("signed-in-user")).toBeNull();
  });

  it("the Cancel button does the same", async () => {
    const { api, user } = await signIn(marcus.email);
    await user.click(await screen.findByTestId("code-cancel"));
    expect(api.cancelLogin).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("code-dialog")).toBeNull();
  });

  it("Tab stays inside the code dialog", async () => {
    const { user } = await signIn(marcus.email);
    const dialog = await screen.findByTestId("code-dialog");
    for (let i = 0; i < 8; i += 1) {
      await user.tab();
      expect(dialog.contains(document.activeElement), `Tab #${i + 1} stays in the modal`).toBe(true);
    }
  });

  it("resend_too_soon follows the cloud's retry time", async () => {
    const api = spyApi();
    const { user } = await signIn(marcus.email, api);
    await screen.findByTestId("code-dialog");
    advance(30_000);
    api.resendCode.mockRejectedValueOnce(
      new ApiCallError("resend_too_soon", "Wait before asking for another code.", { retry_at: Date.now() + 12_000 }),
    );
    await user.click(screen.getByTestId("code-resend"));

    expect(await screen.findByTestId("code-error")).toHaveTextContent("Wait before asking for another code. Try again in 12 s.");
    expect(screen.getByTestId("code-resend")).toHaveTextContent("Resend in 12 s");
    expect(screen.getByTestId("code-resend")).toBeDisabled();
  });

  it("sms_limit shows when sending works again", async () => {
    const api = spyApi();
    const retryAt = T0 + 30_000 + 8 * 60_000;
    const { user } = await signIn(marcus.email, api);
    await screen.findByTestId("code-dialog");
    advance(30_000);
    api.resendCode.mockRejectedValueOnce(new ApiCallError("sms_limit", "Too many codes were sent.", { retry_at: retryAt }));
    await user.click(screen.getByTestId("code-resend"));

    const error = await screen.findByTestId("code-error");
    expect(error).toHaveTextContent("Too many codes were sent.");
    expect(error, "a limit of minutes is shown as a clock time").toHaveTextContent(retryText(retryAt, Date.now()));
    expect(retryText(retryAt, Date.now())).toMatch(/^Try again at .+\.$/);
    expect(screen.getByTestId("code-resend")).toBeDisabled();
  });

  it("sms_daily_cap keeps Resend off until the count starts again", async () => {
    const api = spyApi();
    const midnight = T0 + 5 * 60 * 60_000;
    const { user } = await signIn(marcus.email, api);
    await screen.findByTestId("code-dialog");
    advance(30_000);
    api.resendCode.mockRejectedValueOnce(
      new ApiCallError("sms_daily_cap", "Your company has sent all the text messages it may send today (200).", { retry_at: midnight }),
    );
    await user.click(screen.getByTestId("code-resend"));

    const error = await screen.findByTestId("code-error");
    expect(error).toHaveTextContent("Your company has sent all the text messages it may send today (200).");
    expect(error).toHaveTextContent(retryText(midnight, Date.now()));
    expect(screen.getByTestId("code-resend")).toBeDisabled();
    expect(screen.getByTestId("code-input"), "the code typed is not what is wrong").not.toHaveAttribute("aria-invalid");
  });

  it("rate_limited blocks Verify until the retry time", async () => {
    const api = spyApi();
    api.verifyCode.mockRejectedValueOnce(new ApiCallError("rate_limited", "Too many attempts.", { retry_at: T0 + 20_000 }));
    const { user } = await signIn(marcus.email, api);
    await user.type(await screen.findByTestId("code-input"), "222222");
    await user.click(screen.getByTestId("code-submit"));

    expect(await screen.findByTestId("code-error")).toHaveTextContent("Too many attempts. Try again in 20 s.");
    expect(screen.getByTestId("code-submit")).toBeDisabled();
    advance(20_000);
    expect(screen.getByTestId("code-submit")).toBeEnabled();
  });

  it("account_locked is shown and stops further tries", async () => {
    const api = spyApi();
    api.verifyCode.mockRejectedValueOnce(new ApiCallError("account_locked", "This account is locked. Contact your administrator."));
    const { user } = await signIn(marcus.email, api);
    await user.type(await screen.findByTestId("code-input"), "333333");
    await user.click(screen.getByTestId("code-submit"));

    expect(await screen.findByTestId("code-error")).toHaveTextContent("This account is locked.");
    expect(screen.getByTestId("code-submit")).toBeDisabled();
    expect(screen.getByTestId("code-resend")).toBeDisabled();
    expect(screen.getByTestId("code-cancel"), "the user can still leave").toBeEnabled();
  });
});

describe("phone enrolment dialog", () => {
  it("enrols a phone end to end: explain, phone, code, portal, phone saved to the profile", async () => {
    const { api, user } = await signIn(samuel.email);

    const dialog = await screen.findByTestId("enroll-dialog");
    expect(dialog).toHaveAttribute("role", "dialog");
    expect(dialog).toHaveTextContent(ENROLL_CHOICE);
    await user.click(screen.getByTestId("enroll-choose-sms"));
    expect(dialog).toHaveTextContent("Your company requires two-factor authentication. Add your mobile phone");
    const phone = screen.getByLabelText("Mobile phone");
    expect(phone).toHaveAttribute("data-testid", "enroll-phone");

    await user.click(screen.getByTestId("enroll-send"));
    expect(screen.getByTestId("enroll-phone-error"), "an empty number is refused before the cloud").toHaveTextContent(
      "Enter your mobile phone number.",
    );
    expect(api.enrollPhone).not.toHaveBeenCalled();

    await user.type(phone, "555-12");
    await user.click(screen.getByTestId("enroll-send"));
    const phoneError = await screen.findByTestId("enroll-phone-error");
    expect(phoneError, "the cloud's invalid_phone is shown at the field").toHaveTextContent("Enter a valid mobile phone number");
    expect(phoneError).toHaveAttribute("role", "alert");
    expect(phone).toHaveAttribute("aria-invalid", "true");
    expect(phone.getAttribute("aria-describedby")).toContain("enroll-phone-error");

    await user.clear(phone);
    await user.type(phone, "(480) 555-0177");
    await user.click(screen.getByTestId("enroll-send"));
    expect(api.enrollPhone).toHaveBeenLastCalledWith("(480) 555-0177");

    const code = await within(dialog).findByTestId("code-input");
    expect(dialog, "the code step is in the same dialog").toHaveTextContent("Enter the code sent to ••• ••• 0177");
    await waitFor(() => expect(code).toHaveFocus());
    expect(within(dialog).getByTestId("code-resend")).toHaveTextContent("Resend in 30 s");
    await user.type(code, FAKE_CODE);
    await user.click(within(dialog).getByTestId("code-submit"));

    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(samuel.display_name);
    const rows = await screen.findAllByTestId("user-row");
    const row = rows.find((r) => r.textContent?.includes(samuel.display_name));
    expect(row, "the verified phone is now on the user's profile").toHaveTextContent("+1 (480) 555-0177");
  });

  it("can go back and use a different number", async () => {
    const { api, user } = await signIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(await screen.findByTestId("enroll-phone"), "4805550177");
    await user.click(screen.getByTestId("enroll-send"));
    await user.click(await screen.findByTestId("enroll-change-phone"));
    const phone = await screen.findByTestId("enroll-phone");
    expect(phone, "the typed number is kept to correct it").toHaveValue("4805550177");
    await user.clear(phone);
    await user.type(phone, "+44 7700 900123");
    await user.click(screen.getByTestId("enroll-send"));
    expect(api.enrollPhone).toHaveBeenLastCalledWith("+44 7700 900123");
    expect(await screen.findByTestId("enroll-dialog")).toHaveTextContent("Enter the code sent to ••• ••• 0123");
  });

  it("Esc in the enrolment dialog cancels the login", async () => {
    const { api, user } = await signIn(samuel.email);
    await screen.findByTestId("enroll-dialog");
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("enroll-dialog")).toBeNull();
    expect(api.cancelLogin).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("login-password")).toHaveFocus();
  });

  it("Enter in the phone field sends the code", async () => {
    const { api, user } = await signIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(await screen.findByTestId("enroll-phone"), "4805550177{Enter}");
    await waitFor(() => expect(api.enrollPhone).toHaveBeenCalledWith("4805550177"));
  });

  it("a number in a country the company does not text is refused at the phone field", async () => {
    const api = spyApi();
    const message =
      "Text messages to numbers in GB are not enabled for your company (allowed: US, CA). Use a mobile number in an allowed country, or ask your administrator.";
    api.enrollPhone.mockRejectedValueOnce(new ApiCallError("sms_country_not_allowed", message));
    const { user } = await signIn(samuel.email, api);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    const phone = await screen.findByTestId("enroll-phone");
    await user.type(phone, "+44 20 7946 0958");
    await user.click(screen.getByTestId("enroll-send"));
    expect(await screen.findByTestId("enroll-phone-error")).toHaveTextContent(message);
    expect(phone, "the number is what to change").toHaveAttribute("aria-invalid", "true");
    expect(screen.queryByTestId("enroll-error")).toBeNull();
  });

  it("send limits are shown with their retry time", async () => {
    const api = spyApi();
    api.enrollPhone.mockRejectedValueOnce(new ApiCallError("sms_limit", "Too many codes were sent.", { retry_at: T0 + 15_000 }));
    const { user } = await signIn(samuel.email, api);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(await screen.findByTestId("enroll-phone"), "4805550177");
    await user.click(screen.getByTestId("enroll-send"));
    expect(await screen.findByTestId("enroll-error")).toHaveTextContent("Too many codes were sent. Try again in 15 s.");
  });
});

describe("enrolment with an authenticator app", () => {
  it("sets up the app from the shown key and signs in with its first code; no text is sent", async () => {
    const { api, user } = await signIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-app"));
    expect(await screen.findByTestId("totp-secret")).toHaveTextContent(groupSecret(FAKE_TOTP_SECRET));
    expect(screen.getByTestId("totp-qr")).toBeInTheDocument();
    expect(api.enrollTotp).toHaveBeenCalledTimes(1);

    await user.type(screen.getByTestId("totp-code"), "000000");
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("totp-error")).toHaveTextContent("That code is not correct.");
    expect(screen.getByTestId("totp-attempts")).toHaveTextContent("4 attempts left");
    expect(screen.queryByTestId("portal")).toBeNull();

    await user.type(screen.getByTestId("totp-code"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("portal")).toBeInTheDocument();
    expect(api.verifyCode).toHaveBeenLastCalledWith(FAKE_TOTP_CODE, "totp");
    expect(api.enrollPhone, "no phone was needed").not.toHaveBeenCalled();
    expect(api.resendCode).not.toHaveBeenCalled();
  });

  it("can go back from the phone to the choice", async () => {
    const { user } = await signIn(samuel.email);
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.click(await screen.findByTestId("enroll-back"));
    expect(await screen.findByTestId("enroll-choice")).toBeInTheDocument();
  });

  it("an attempt the cloud closed goes back to sign-in with why", async () => {
    const api = spyApi();
    api.verifyCode.mockRejectedValueOnce(new ApiCallError("challenge_closed", "This sign-in attempt has ended (too many wrong codes, or it waited too long)."));
    const { user } = await signIn(samuel.email, api);
    await user.click(await screen.findByTestId("enroll-choose-app"));
    await user.type(await screen.findByTestId("totp-code"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("login-error")).toHaveTextContent("This sign-in attempt has ended");
    expect(screen.queryByTestId("enroll-dialog")).toBeNull();
  });
});

/** A fake whose company lets a computer skip the code for `days` days. */
function trustingApi(days: number, options: FakeApiOptions = {}) {
  return spyApi({
    ...options,
    company: { ...demoCompany, session_policy: { ...demoCompany.session_policy, trusted_computer_days: days } },
  });
}

describe("trusted computer at sign-in", () => {
  it("offers nothing while the company has it off (0 days); the code goes without remember", async () => {
    const { api, user } = await signIn(marcus.email);
    const input = await screen.findByTestId("code-input");
    expect(screen.queryByTestId("code-remember")).toBeNull();
    expect(screen.queryByText(REMEMBER_HELP)).toBeNull();
    await user.type(input, `${FAKE_CODE}{Enter}`);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(marcus.display_name);
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false);
  });

  it("offers the company's days, unticked; ticked, the computer is remembered and the next sign-in skips the code", async () => {
    const { api, user } = await signIn(marcus.email, trustingApi(7));
    const box = await screen.findByTestId("code-remember");
    expect(box).not.toBeChecked();
    expect(screen.getByRole("checkbox", { name: "Don't ask for a code on this computer for 7 days" })).toBe(box);
    expect(box).toHaveAccessibleDescription(REMEMBER_HELP);
    await user.click(box);
    await user.type(screen.getByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(marcus.display_name);
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", true);

    await user.click(screen.getByTestId("sign-out"));
    await submitSignIn(marcus.email);
    expect(await screen.findByTestId("signed-in-user"), "no code on the trusted computer").toHaveTextContent(marcus.display_name);
    expect(screen.queryByTestId("code-dialog")).toBeNull();
    expect(api.verifyCode).toHaveBeenCalledTimes(1);
  });

  it("left unticked, sends remember: false and the next sign-in asks again", async () => {
    const { api, user } = await signIn(marcus.email, trustingApi(7));
    await screen.findByTestId("code-remember");
    await user.type(screen.getByTestId("code-input"), `${FAKE_CODE}{Enter}`);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(marcus.display_name);
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false);
    await user.click(screen.getByTestId("sign-out"));
    await submitSignIn(marcus.email);
    expect(await screen.findByTestId("code-dialog")).toBeInTheDocument();
  });

  it("the tick also goes with an authenticator app's code", async () => {
    const { api, user } = await signIn(marcus.email, trustingApi(30, { totpUsers: [marcus.email] }));
    expect(await screen.findByTestId("code-lead")).toHaveTextContent(APP_CODE_TEXT);
    await user.click(screen.getByTestId("code-remember"));
    await user.type(screen.getByTestId("code-input"), `${FAKE_TOTP_CODE}{Enter}`);
    await waitFor(() => expect(api.verifyCode).toHaveBeenCalledWith(FAKE_TOTP_CODE, "totp", true));
  });

  it("offers the days an admin saved in Company Profile", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("nav-company"));
    const days = await screen.findByTestId("company-trusted-days");
    await user.clear(days);
    await user.type(days, "14");
    await user.click(screen.getByTestId("company-save"));
    await screen.findByTestId("company-saved");
    await user.click(screen.getByTestId("sign-out"));
    await submitSignIn(marcus.email);
    expect(await screen.findByTestId("code-remember")).toHaveAccessibleName("Don't ask for a code on this computer for 14 days");
  });

  it("says 1 day in the singular", async () => {
    await signIn(marcus.email, trustingApi(1));
    expect(await screen.findByTestId("code-remember")).toHaveAccessibleName("Don't ask for a code on this computer for 1 day");
    expect(rememberText(2)).toBe("Don't ask for a code on this computer for 2 days");
  });

  it("is not offered at the enrolment's code step, even with days set", async () => {
    const { api, user } = await signIn(samuel.email, trustingApi(7));
    await user.click(await screen.findByTestId("enroll-choose-sms"));
    await user.type(screen.getByTestId("enroll-phone"), "(480) 555-0177{Enter}");
    const dialog = await screen.findByTestId("enroll-dialog");
    const code = await within(dialog).findByTestId("code-input");
    expect(within(dialog).queryByTestId("code-remember")).toBeNull();
    await user.type(code, `${FAKE_CODE}{Enter}`);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(samuel.display_name);
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_CODE, "sms", false);
  });

  it("is not offered at the enrolment with an app either", async () => {
    const { user } = await signIn(samuel.email, trustingApi(7));
    await user.click(await screen.findByTestId("enroll-choose-app"));
    expect(await screen.findByTestId("totp-code")).toBeInTheDocument();
    expect(screen.queryByTestId("code-remember")).toBeNull();
  });
});

describe("code helpers", () => {
  it("keeps only the digits, at most six", () => {
    expect(codeDigits("123 456")).toBe("123456");
    expect(codeDigits("123-456")).toBe("123456");
    expect(codeDigits(" 1 2 3 4 5 6 7")).toBe("123456");
    expect(codeDigits("abc")).toBe("");
  });

  it("no retry time, or one already past, adds no text", () => {
    expect(retryText(undefined, T0)).toBe("");
    expect(retryText(T0 - 1, T0)).toBe("");
    expect(retryText(T0 + 1_500, T0), "seconds round up, never show 0 s while still blocked").toBe("Try again in 2 s.");
  });

  it("pasting part of a code inserts its digits at the caret", async () => {
    const { user } = await signIn(marcus.email);
    const input = await screen.findByTestId("code-input");
    await user.type(input, "12");
    // user-event's paste replaces the selection; a direct event checks the caret path.
    fireEvent.paste(input, { clipboardData: { getData: () => "3 4" } });
    expect(input).toHaveValue("1234");
  });
});

describe("code dialog with an authenticator app", () => {
  it("starts with the app, texts only when asked, and switches back", async () => {
    const { api, user } = await signIn(marcus.email, spyApi({ totpUsers: [marcus.email] }));
    await screen.findByTestId("code-dialog");
    expect(screen.getByTestId("code-lead")).toHaveTextContent(APP_CODE_TEXT);
    expect(screen.queryByTestId("code-resend"), "nothing to resend for an app").toBeNull();
    expect(api.resendCode, "no text unasked").not.toHaveBeenCalled();
    const toggle = screen.getByTestId("code-switch-method");
    expect(toggle).toHaveTextContent(TEXT_ME);
    expect(screen.getByTestId("code-input")).toHaveFocus();

    await user.click(toggle);
    expect(await screen.findByText("A code was sent to ••• ••• 0199.")).toBeInTheDocument();
    expect(api.resendCode).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("code-lead")).toHaveTextContent("Enter the code sent to ••• ••• 0199");
    expect(screen.getByTestId("code-resend")).toBeInTheDocument();
    expect(toggle).toHaveTextContent(USE_APP);
    await user.click(toggle);
    expect(screen.getByTestId("code-lead")).toHaveTextContent(APP_CODE_TEXT);
    expect(toggle, "a code was texted now: switching back sends nothing").toHaveTextContent(USE_TEXT);
    await user.click(toggle);
    expect(api.resendCode).toHaveBeenCalledTimes(1);

    await user.click(toggle);
    await user.type(screen.getByTestId("code-input"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("portal")).toBeInTheDocument();
    expect(api.verifyCode).toHaveBeenCalledWith(FAKE_TOTP_CODE, "totp", false);
  });

  it("offers no app to a user without one", async () => {
    await signIn(marcus.email);
    await screen.findByTestId("code-dialog");
    expect(screen.queryByTestId("code-switch-method")).toBeNull();
  });

  it("asks a user with an app and no phone for the app's code, with nothing to resend", async () => {
    const { api, user } = await signIn(samuel.email, spyApi({ totpUsers: [samuel.email] }));
    await screen.findByTestId("code-dialog");
    expect(screen.queryByTestId("enroll-dialog"), "no phone to enrol: the app is the factor").toBeNull();
    expect(screen.getByTestId("code-lead")).toHaveTextContent(APP_CODE_TEXT);
    expect(screen.queryByTestId("code-resend")).toBeNull();
    expect(screen.queryByTestId("code-switch-method")).toBeNull();
    await user.type(screen.getByTestId("code-input"), "000000");
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("code-error")).toHaveTextContent("That code is not correct.");
    await user.type(screen.getByTestId("code-input"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("portal")).toBeInTheDocument();
    expect(api.verifyCode).toHaveBeenLastCalledWith(FAKE_TOTP_CODE, "totp", false);
  });
});
