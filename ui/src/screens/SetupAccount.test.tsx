import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { MISMATCH_MESSAGE } from "../components/NewPasswordFields";
import { DEMO_SETUP_CODE, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi } from "../testing/render";

const tom = demoUsers.find((u) => u.email.startsWith("tom."))!;
const NEW_PASSWORD = "violet tractor umbrella seventeen";

async function openSetup() {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-setup"));
  expect(await screen.findByRole("heading", { name: "Set up your account" })).toBeInTheDocument();
  return user;
}

describe("First time here? Set up your account", () => {
  it("shows the core's strength and reason as the password is typed", async () => {
    const api = spyApi();
    renderApp(api);
    const user = await openSetup();
    await user.type(screen.getByTestId("setup-email"), tom.email);
    await user.type(screen.getByTestId("setup-password-new"), "short one");

    expect(await screen.findByTestId("setup-password-reason")).toHaveTextContent("Use at least 15 characters (9 so far)");
    expect(screen.getByTestId("setup-password-new")).toHaveAttribute("aria-invalid", "true");
    expect(api.checkNewPassword, "the core judges, with the email as the only context").toHaveBeenLastCalledWith("short one", tom.email);
    expect(screen.getByTestId("setup-password-meter")).toHaveAttribute("data-score", "1");

    await user.clear(screen.getByTestId("setup-password-new"));
    await user.type(screen.getByTestId("setup-password-new"), "tom.obrien plus more words");
    expect(await screen.findByTestId("setup-password-reason")).toHaveTextContent("cannot contain your email");

    await user.clear(screen.getByTestId("setup-password-new"));
    await user.type(screen.getByTestId("setup-password-new"), NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("setup-password-meter")).toHaveAttribute("data-score", "4"));
    expect(screen.queryByTestId("setup-password-reason"), "an acceptable password has no reason").toBeNull();
    expect(screen.getByText("Strength: Very strong")).toBeInTheDocument();
  });

  it("refuses two different passwords without asking the cloud", async () => {
    const api = spyApi();
    renderApp(api);
    const user = await openSetup();
    await user.type(screen.getByTestId("setup-email"), tom.email);
    await user.type(screen.getByTestId("setup-code"), DEMO_SETUP_CODE);
    await user.type(screen.getByTestId("setup-password-new"), NEW_PASSWORD);
    await user.type(screen.getByTestId("setup-password-confirm"), `${NEW_PASSWORD}!`);

    expect(await screen.findByTestId("setup-password-mismatch")).toHaveTextContent(MISMATCH_MESSAGE);
    await user.click(screen.getByTestId("setup-submit"));
    expect(await screen.findByTestId("setup-error")).toHaveTextContent("Type the same new password in both fields.");
    expect(api.activate).not.toHaveBeenCalled();

    await user.type(screen.getByTestId("setup-password-confirm"), "{Backspace}");
    await waitFor(() => expect(screen.queryByTestId("setup-password-mismatch")).toBeNull());
  });

  it("shows the cloud's message for a refused code and keeps what was typed", async () => {
    const api = spyApi();
    renderApp(api);
    const user = await openSetup();
    await user.type(screen.getByTestId("setup-email"), tom.email);
    await user.type(screen.getByTestId("setup-code"), "WRNG-CODE-HERE");
    await user.type(screen.getByTestId("setup-password-new"), NEW_PASSWORD);
    await user.type(screen.getByTestId("setup-password-confirm"), NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("setup-password-meter")).toHaveAttribute("data-score", "4"));
    await user.click(screen.getByTestId("setup-submit"));

    expect(await screen.findByTestId("setup-error")).toHaveTextContent(
      "The email or setup code is incorrect, or the code has expired.",
    );
    expect(api.activate).toHaveBeenCalledWith(tom.email, "WRNG-CODE-HERE", NEW_PASSWORD);
    expect(screen.queryByTestId("portal")).toBeNull();
    expect(screen.getByTestId("setup-email")).toHaveValue(tom.email);
  });

  it("signs in with the code and the new password, which is the account's from then on", async () => {
    const api = spyApi();
    renderApp(api);
    const user = await openSetup();
    await user.type(screen.getByTestId("setup-email"), tom.email);
    await user.type(screen.getByTestId("setup-code"), DEMO_SETUP_CODE.toLowerCase());
    await user.type(screen.getByTestId("setup-password-new"), NEW_PASSWORD);
    await user.type(screen.getByTestId("setup-password-confirm"), NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("setup-password-meter")).toHaveAttribute("data-score", "4"));
    await user.click(screen.getByTestId("setup-submit"));

    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(tom.display_name);
    await user.click(screen.getByTestId("sign-out"));
    await user.type(await screen.findByTestId("login-email"), tom.email);
    await user.type(screen.getByTestId("login-password"), NEW_PASSWORD);
    await user.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(tom.display_name);
  });

  it("goes on to the phone enrolment as after a password when 2FA applies", async () => {
    const samuel = demoUsers.find((u) => u.email.startsWith("samuel."))!;
    const api = spyApi({ setupCodes: { [samuel.email]: DEMO_SETUP_CODE } });
    renderApp(api);
    const user = await openSetup();
    await user.type(screen.getByTestId("setup-email"), samuel.email);
    await user.type(screen.getByTestId("setup-code"), DEMO_SETUP_CODE);
    await user.type(screen.getByTestId("setup-password-new"), NEW_PASSWORD);
    await user.type(screen.getByTestId("setup-password-confirm"), NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("setup-password-meter")).toHaveAttribute("data-score", "4"));
    await user.click(screen.getByTestId("setup-submit"));

    const dialog = await screen.findByTestId("enroll-dialog");
    expect(within(dialog).getByTestId("enroll-choose-sms")).toBeInTheDocument();
    expect(screen.queryByTestId("portal")).toBeNull();
  });
});
