import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { MISMATCH_MESSAGE } from "../components/NewPasswordFields";
import { DEMO_PASSWORD, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi } from "../testing/render";
import { CHANGE_NEEDS_CONNECTION, PASSWORD_CHANGED } from "./ProfileDialog";

const admin = demoUsers[0]!;
const NEW_PASSWORD = "violet tractor umbrella seventeen";

async function openChangePassword() {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-profile"));
  expect(await screen.findByTestId("profile-email")).toHaveTextContent(admin.email);
  await user.click(screen.getByTestId("open-change-password"));
  expect(await screen.findByTestId("change-password-dialog")).toBeInTheDocument();
  return user;
}

async function typeNew(user: ReturnType<typeof userEvent.setup>, password: string, confirm = password) {
  await user.type(screen.getByTestId("change-password-new"), password);
  await user.type(screen.getByTestId("change-password-confirm"), confirm);
}

describe("Change password (from your name in the top bar)", () => {
  it("judges the new password with the signed-in person's name and company", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = await openChangePassword();
    expect(screen.getByTestId("change-password-current")).toHaveFocus();

    await user.type(screen.getByTestId("change-password-new"), "dana whitfield rocks");
    expect(await screen.findByTestId("change-password-reason")).toHaveTextContent("cannot contain your name");
    expect(api.checkNewPassword).toHaveBeenLastCalledWith("dana whitfield rocks", admin.email);

    await user.clear(screen.getByTestId("change-password-new"));
    await user.type(screen.getByTestId("change-password-new"), "my sunrise motors secret");
    expect(await screen.findByTestId("change-password-reason")).toHaveTextContent("company's name");

    await user.clear(screen.getByTestId("change-password-new"));
    await user.type(screen.getByTestId("change-password-new"), "tiny");
    expect(await screen.findByTestId("change-password-reason")).toHaveTextContent("at least 15 characters (4 so far)");
    await waitFor(() => expect(screen.getByTestId("change-password-meter")).toHaveAttribute("data-score", "0"));
  });

  it("changes it and stays signed in; the old password no longer unlocks a sign-in", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = await openChangePassword();
    await user.type(screen.getByTestId("change-password-current"), DEMO_PASSWORD);
    await typeNew(user, NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("change-password-meter")).toHaveAttribute("data-score", "4"));
    await user.click(screen.getByTestId("change-password-submit"));

    expect(await screen.findByTestId("password-changed")).toHaveTextContent(PASSWORD_CHANGED);
    expect(api.changePassword).toHaveBeenCalledWith(DEMO_PASSWORD, NEW_PASSWORD);
    expect(screen.queryByTestId("change-password-dialog")).toBeNull();
    expect(screen.getByTestId("portal"), "this session stays").toBeInTheDocument();

    await user.click(screen.getByTestId("profile-close"));
    await user.click(screen.getByTestId("sign-out"));
    await user.type(await screen.findByTestId("login-email"), admin.email);
    await user.type(screen.getByTestId("login-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("login-error")).toHaveTextContent("The email or password is incorrect.");
  });

  it("never sends two different new passwords", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = await openChangePassword();
    await user.type(screen.getByTestId("change-password-current"), DEMO_PASSWORD);
    await typeNew(user, NEW_PASSWORD, "violet tractor umbrella seventeeN");
    expect(await screen.findByTestId("change-password-mismatch")).toHaveTextContent(MISMATCH_MESSAGE);
    await user.click(screen.getByTestId("change-password-submit"));
    expect(await screen.findByTestId("change-password-error")).toHaveTextContent("Type the same new password in both fields.");
    expect(api.changePassword).not.toHaveBeenCalled();
  });

  it("shows the cloud's message when it refuses, and asks for the current password again", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = await openChangePassword();
    await user.type(screen.getByTestId("change-password-current"), "not my password");
    await typeNew(user, NEW_PASSWORD);
    await waitFor(() => expect(screen.getByTestId("change-password-meter")).toHaveAttribute("data-score", "4"));
    await user.click(screen.getByTestId("change-password-submit"));
    expect(await screen.findByTestId("change-password-error")).toHaveTextContent("The current password is not correct.");
    expect(screen.getByTestId("change-password-current")).toHaveValue("");
    expect(screen.getByTestId("change-password-current")).toHaveFocus();

    api.changePassword.mockRejectedValueOnce(new ApiCallError("rate_limited", "Too many attempts. Try again in a few minutes."));
    await user.type(screen.getByTestId("change-password-current"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("change-password-submit"));
    expect(await screen.findByTestId("change-password-error")).toHaveTextContent("Too many attempts. Try again in a few minutes.");
    expect(screen.getByTestId("change-password-dialog"), "still open to try again").toBeInTheDocument();
  });

  it("is unavailable offline and says why", async () => {
    const api = spyApi({ signedIn: true, offlineSignIn: true, sync: { online: false, state: "offline" } });
    renderApp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("open-profile"));
    expect(await screen.findByTestId("open-change-password")).toBeDisabled();
    expect(screen.getByTestId("change-password-offline")).toHaveTextContent(CHANGE_NEEDS_CONNECTION);
    expect(screen.getByTestId("open-change-password")).toHaveAccessibleDescription(CHANGE_NEEDS_CONNECTION);
    expect(api.changePassword).not.toHaveBeenCalled();
  });
});
