import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { DEMO_PASSWORD, FAKE_CODE, demoCompany, demoUsers } from "../testing/fakeApi";
import { renderWithApi, spyApi, type SpyApi } from "../testing/render";
import { ADD_USER_NEEDS_CONNECTION, UsersPage } from "../screens/UsersPage";
import type { Company } from "../types";
import { SETUP_CODE_VALIDITY, SetupCodeDialog, TEXT_NEEDS_CONNECTION, formatExpiry } from "./SetupCodeDialog";
import {
  FACTOR_RESET_NEEDS_CONNECTION,
  OWN_PHONE_NEEDS_CONNECTION,
  RESET_NEEDS_CONNECTION,
  RESET_REASON_MESSAGE,
  REVOKE_NEEDS_CONNECTION,
  TWO_FACTOR_UNAVAILABLE_MESSAGE,
  checkedResetReason,
} from "./UserEditDialog";

const admin = demoUsers[0]!;
const carlos = demoUsers[1]!;

function renderUsers(props: { connected?: boolean; company?: Company; api?: SpyApi; canEdit?: boolean } = {}) {
  const api = props.api ?? spyApi({ signedIn: true });
  renderWithApi(
    <UsersPage
      company={props.company ?? demoCompany}
      canEdit={props.canEdit ?? true}
      connected={props.connected ?? true}
      currentUserId={admin.id}
    />,
    api,
  );
  return { api, user: userEvent.setup() };
}

async function openAddUser(props: Parameters<typeof renderUsers>[0] = {}) {
  const opened = renderUsers(props);
  await screen.findAllByTestId("user-row");
  await opened.user.click(screen.getByTestId("add-user"));
  return { ...opened, dialog: screen.getByTestId("add-user-dialog") };
}

async function openEdit(name: string, props: Parameters<typeof renderUsers>[0] = {}) {
  const opened = renderUsers(props);
  const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(name));
  if (!row) throw new Error(`no row for ${name}`);
  await opened.user.click(within(row).getByTestId("user-edit"));
  await opened.user.click(screen.getByTestId("tab-login"));
  return opened;
}

describe("Users tab: Add user (admin)", () => {
  it("is offered to admins only", async () => {
    renderUsers({ canEdit: false });
    await screen.findAllByTestId("user-row");
    expect(screen.queryByTestId("add-user")).toBeNull();
  });

  it("is disabled without a connection and says why", async () => {
    renderUsers({ connected: false });
    const button = await screen.findByTestId("add-user");
    expect(button).toBeDisabled();
    expect(screen.getByTestId("add-user-offline")).toHaveTextContent(ADD_USER_NEEDS_CONNECTION);
    expect(button, "the reason is announced with the button").toHaveAccessibleDescription(ADD_USER_NEEDS_CONNECTION);
  });

  it("adds the user, lists them and shows the setup code once with its validity", async () => {
    const { api, user, dialog } = await openAddUser();
    expect(screen.getByRole("dialog", { name: "Add user" })).toBe(dialog);
    expect(screen.getByTestId("add-user-name"), "focus moves into the dialog").toHaveFocus();
    await user.type(screen.getByTestId("add-user-name"), "Nadia Brennan");
    await user.type(screen.getByTestId("add-user-email"), "nadia.brennan@sunrise-motors.example");
    await user.selectOptions(screen.getByTestId("add-user-role"), "admin");
    await user.type(screen.getByTestId("add-user-phone"), "480 555 0177");
    await user.click(screen.getByTestId("add-user-two-factor"));
    await user.click(screen.getByTestId("add-user-submit"));

    const codeDialog = await screen.findByTestId("setup-code-dialog");
    expect(api.createUser).toHaveBeenCalledWith({
      display_name: "Nadia Brennan",
      email: "nadia.brennan@sunrise-motors.example",
      role: "admin",
      mobile_phone: "480 555 0177",
      two_factor_enabled: true,
    });
    const grant = await api.createUser.mock.results[0]!.value;
    expect(screen.queryByTestId("add-user-dialog"), "the form closes").toBeNull();
    expect(within(codeDialog).getByTestId("setup-code")).toHaveTextContent(grant.setup_code);
    expect(within(codeDialog).getByTestId("setup-code-validity")).toHaveTextContent(
      `${SETUP_CODE_VALIDITY}: until ${formatExpiry(grant.setup_code_expires_at)}`,
    );
    expect(codeDialog).toHaveTextContent("nadia.brennan@sunrise-motors.example");
    await waitFor(() =>
      expect(
        screen.getAllByTestId("user-row").some((r) => r.textContent?.includes("Nadia Brennan")),
        "the new user is in the list",
      ).toBe(true),
    );

    await user.click(screen.getByTestId("setup-code-close"));
    expect(screen.queryByTestId("setup-code-dialog")).toBeNull();
    expect(document.body.textContent, "once closed, the code is gone from the window").not.toContain(grant.setup_code);
    const stored = JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage });
    expect(stored, "never kept in the web view's storage").not.toContain(grant.setup_code);
  });

  it("checks the fields like the Edit dialog before asking the core", async () => {
    const { api, user } = await openAddUser();
    await user.click(screen.getByTestId("add-user-submit"));
    expect(screen.getByTestId("add-user-name-error")).toHaveTextContent("Enter a name.");
    expect(screen.getByTestId("add-user-name")).toHaveFocus();
    await user.type(screen.getByTestId("add-user-name"), "Nadia Brennan");
    await user.click(screen.getByTestId("add-user-submit"));
    expect(screen.getByTestId("add-user-email-error")).toHaveTextContent("Enter an email address.");
    await user.click(screen.getByTestId("add-user-two-factor"));
    const phoneFirst = screen.getByTestId("add-user-two-factor-error");
    expect(phoneFirst, "2FA needs a phone first, in this dialog's words").toHaveTextContent("Enter a mobile phone number above first");
    expect(phoneFirst, "this dialog has no tabs").not.toHaveTextContent(/tab/i);
    expect(screen.getByTestId("add-user-two-factor")).not.toBeChecked();
    expect(api.createUser).not.toHaveBeenCalled();
  });

  it("offers no 2FA where the DMS integration has none", async () => {
    await openAddUser({ company: { ...demoCompany, dms: { kind: "x", supports_two_factor: false } } });
    expect(screen.getByTestId("add-user-two-factor")).toBeDisabled();
    expect(screen.getByTestId("two-factor-unavailable")).toHaveTextContent(TWO_FACTOR_UNAVAILABLE_MESSAGE);
  });

  it("shows the cloud's refusals at the field they concern", async () => {
    const { api, user } = await openAddUser();
    await user.type(screen.getByTestId("add-user-name"), "Carlos Again");
    await user.type(screen.getByTestId("add-user-email"), carlos.email);
    await user.click(screen.getByTestId("add-user-submit"));
    expect(await screen.findByTestId("add-user-email-error")).toHaveTextContent(
      "Another user in this company has this email address.",
    );
    expect(screen.queryByTestId("setup-code-dialog")).toBeNull();

    api.createUser.mockRejectedValueOnce(new ApiCallError("invalid_phone", "That is not a mobile phone number."));
    await user.click(screen.getByTestId("add-user-submit"));
    expect(await screen.findByTestId("add-user-phone-error")).toHaveTextContent("That is not a mobile phone number.");

    api.createUser.mockRejectedValueOnce(new ApiCallError("offline", "Cannot reach the SecureClose cloud."));
    await user.click(screen.getByTestId("add-user-submit"));
    expect(await screen.findByTestId("add-user-error")).toHaveTextContent("Cannot reach the SecureClose cloud.");
  });
});

describe("Setup code dialog", () => {
  it("copies the code and says so", async () => {
    const { user } = await openAddUser();
    await user.type(screen.getByTestId("add-user-name"), "Nadia Brennan");
    await user.type(screen.getByTestId("add-user-email"), "nadia@sunrise-motors.example");
    await user.click(screen.getByTestId("add-user-submit"));
    const code = (await screen.findByTestId("setup-code")).textContent ?? "";
    expect(code).not.toBe("");
    await user.click(screen.getByTestId("setup-code-copy"));
    expect(await navigator.clipboard.readText()).toBe(code);
    expect(screen.getByTestId("setup-code-copied")).toHaveTextContent("Copied.");
  });
});

describe("Edit dialog: Reset password and Sign out everywhere", () => {
  it("resets after confirmation and shows the new setup code", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.click(screen.getByTestId("user-reset-password"));
    expect(screen.getByTestId("user-action-confirm")).toHaveTextContent(`Reset ${carlos.display_name}’s password?`);
    expect(api.resetPassword, "nothing happens before the confirmation").not.toHaveBeenCalled();
    await user.click(screen.getByTestId("user-action-confirm-button"));

    const codeDialog = await screen.findByTestId("setup-code-dialog");
    expect(api.resetPassword).toHaveBeenCalledWith(carlos.id);
    const grant = await api.resetPassword.mock.results[0]!.value;
    expect(within(codeDialog).getByTestId("setup-code")).toHaveTextContent(grant.setup_code);
    expect(codeDialog).toHaveTextContent("Password reset");
    expect(codeDialog).toHaveTextContent(SETUP_CODE_VALIDITY);
    expect(screen.queryByTestId("user-dialog"), "the edit dialog made way").toBeNull();
  });

  it("cancelling the confirmation resets nothing", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.click(screen.getByTestId("user-reset-password"));
    await user.click(screen.getByTestId("user-action-keep"));
    expect(screen.queryByTestId("user-action-confirm")).toBeNull();
    expect(api.resetPassword).not.toHaveBeenCalled();
  });

  it("signs the user out everywhere after confirmation and says so", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.click(screen.getByTestId("user-revoke-sessions"));
    await user.click(screen.getByTestId("user-action-confirm-button"));
    expect(await screen.findByTestId("user-action-done")).toHaveTextContent(
      `${carlos.display_name} is signed out on every computer.`,
    );
    expect(api.revokeSessions).toHaveBeenCalledWith(carlos.id);
  });

  it("shows the cloud's refusal", async () => {
    const api = spyApi({ signedIn: true });
    api.revokeSessions.mockRejectedValueOnce(new ApiCallError("forbidden", "Only an administrator can do that."));
    const { user } = await openEdit(carlos.display_name, { api });
    await user.click(screen.getByTestId("user-revoke-sessions"));
    await user.click(screen.getByTestId("user-action-confirm-button"));
    expect(await screen.findByTestId("user-action-error")).toHaveTextContent("Only an administrator can do that.");
  });

  it("does not offer a reset on the admin's own row", async () => {
    await openEdit(admin.display_name);
    expect(screen.queryByTestId("user-reset-password")).toBeNull();
    expect(screen.getByTestId("user-reset-self")).toHaveTextContent("in your profile");
    expect(screen.getByTestId("user-revoke-sessions")).toBeEnabled();
  });

  it("are disabled without a connection, with the reason", async () => {
    await openEdit(carlos.display_name, { connected: false });
    expect(screen.getByTestId("user-reset-password")).toBeDisabled();
    expect(screen.getByTestId("user-revoke-sessions")).toBeDisabled();
    expect(screen.getByTestId("user-reset-password")).toHaveAccessibleDescription(`${RESET_NEEDS_CONNECTION}.`);
    expect(screen.getByTestId("user-revoke-sessions")).toHaveAccessibleDescription(`${REVOKE_NEEDS_CONNECTION}.`);
  });
});

describe("Setup code dialog: Text it to the user's phone", () => {
  async function resetCarlos(props: Parameters<typeof renderUsers>[0] = {}) {
    const opened = await openEdit(carlos.display_name, props);
    await opened.user.click(screen.getByTestId("user-reset-password"));
    await opened.user.click(screen.getByTestId("user-action-confirm-button"));
    const dialog = await screen.findByTestId("setup-code-dialog");
    const grant = await opened.api.resetPassword.mock.results[0]!.value;
    return { ...opened, dialog, grant };
  }

  it("texts the code to the phone on file, masked, with progress, then says where", async () => {
    const api = spyApi({ signedIn: true });
    let finish: () => void = () => {};
    const real = api.textSetupCode.getMockImplementation()!;
    api.textSetupCode.mockImplementationOnce(
      (userId: string, code: string) => new Promise((resolve) => (finish = () => resolve(real(userId, code)))),
    );
    const { user, dialog, grant } = await resetCarlos({ api });
    const button = within(dialog).getByTestId("setup-code-text-button");
    expect(button).toHaveTextContent("Text it to ••• ••• 0101");
    expect(button.textContent, "never the whole number").not.toContain("555");
    await user.click(button);
    expect(button).toHaveTextContent("Sending…");
    expect(button, "one send at a time").toBeDisabled();
    finish();
    expect(await within(dialog).findByTestId("setup-code-text-sent")).toHaveTextContent("Sent to ••• ••• 0101.");
    expect(api.textSetupCode).toHaveBeenCalledWith(carlos.id, grant.setup_code);
    expect(button).toBeEnabled();
    await user.click(button);
    await user.click(button);
    expect(await within(dialog).findByTestId("setup-code-text-sent")).toHaveTextContent("cannot be texted again");
    expect(button, "the code's last text is used").toBeDisabled();
  });

  it("shows the cloud's refusal", async () => {
    const api = spyApi({ signedIn: true });
    api.textSetupCode.mockRejectedValueOnce(new ApiCallError("setup_code_text_limit", "This setup code was already texted 3 times."));
    const { user, dialog } = await resetCarlos({ api });
    await user.click(within(dialog).getByTestId("setup-code-text-button"));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("This setup code was already texted 3 times.");
    expect(within(dialog).getByTestId("setup-code-text-button"), "the admin may try again").toBeEnabled();
  });

  it("is not offered for a user without a mobile phone", async () => {
    const api = spyApi({ signedIn: true });
    const tom = demoUsers.find((u) => u.mobile_phone === null)!;
    const grant = await api.resetPassword(tom.id);
    renderWithApi(<SetupCodeDialog grant={grant} reason="reset" onClose={() => {}} />, api);
    expect(screen.getByTestId("setup-code")).toHaveTextContent(grant.setup_code);
    expect(screen.queryByTestId("setup-code-text-button")).toBeNull();
  });

  it("is disabled without a connection and says why", async () => {
    const api = spyApi({ signedIn: true });
    const grant = await api.resetPassword(carlos.id);
    renderWithApi(<SetupCodeDialog grant={grant} reason="reset" onClose={() => {}} connected={false} />, api);
    const button = screen.getByTestId("setup-code-text-button");
    expect(button).toBeDisabled();
    expect(button).toHaveAccessibleDescription(`${TEXT_NEEDS_CONNECTION}.`);
    expect(api.textSetupCode).not.toHaveBeenCalled();
  });
});

describe("Edit dialog: Reset two-factor (break-glass)", () => {
  const marcus = demoUsers[5]!;

  it("needs a reason, then removes the factor and says what happens next", async () => {
    const { api, user } = await openEdit(marcus.display_name, { api: spyApi({ signedIn: true, reauthenticated: true }) });
    await user.click(screen.getByTestId("user-reset-two-factor"));
    const confirm = screen.getByTestId("user-action-confirm");
    expect(confirm).toHaveTextContent(`Reset ${marcus.display_name}’s two-step verification?`);
    expect(confirm).toHaveTextContent("Their old phone gets a text");

    // Too short: a clear error at the field and no call.
    await user.type(screen.getByTestId("user-reset-reason"), " ok ");
    await user.click(screen.getByTestId("user-action-confirm-button"));
    expect(screen.getByTestId("user-reset-reason-error")).toHaveTextContent(RESET_REASON_MESSAGE);
    expect(screen.getByTestId("user-reset-reason")).toHaveFocus();
    expect(api.resetTwoFactor, "a refused reason must not reach the cloud").not.toHaveBeenCalled();

    await user.clear(screen.getByTestId("user-reset-reason"));
    await user.type(screen.getByTestId("user-reset-reason"), "  lost phone, seen in person  ");
    expect(screen.queryByTestId("user-reset-reason-error"), "typing clears the error").toBeNull();
    await user.click(screen.getByTestId("user-action-confirm-button"));

    expect(await screen.findByTestId("users-saved")).toHaveTextContent(
      `Reset ${marcus.display_name}’s two-step verification. They are signed out and set up a new factor at their next sign-in.`,
    );
    expect(api.resetTwoFactor).toHaveBeenCalledWith(marcus.id, "lost phone, seen in person");
    expect(screen.queryByTestId("user-dialog"), "the dialog closes on the cloud's answer").toBeNull();
    const after = await api.resetTwoFactor.mock.results[0]!.value;
    expect(after.mobile_phone).toBeNull();
  });

  it("cancelling resets nothing", async () => {
    const { api, user } = await openEdit(marcus.display_name);
    await user.click(screen.getByTestId("user-reset-two-factor"));
    await user.type(screen.getByTestId("user-reset-reason"), "lost phone, seen in person");
    await user.click(screen.getByTestId("user-action-keep"));
    expect(screen.queryByTestId("user-action-confirm")).toBeNull();
    expect(api.resetTwoFactor).not.toHaveBeenCalled();
  });

  it("shows the cloud's refusal and keeps the dialog open", async () => {
    const api = spyApi({ signedIn: true });
    api.resetTwoFactor.mockRejectedValueOnce(new ApiCallError("forbidden", "Only an administrator can do that."));
    const { user } = await openEdit(marcus.display_name, { api });
    await user.click(screen.getByTestId("user-reset-two-factor"));
    await user.type(screen.getByTestId("user-reset-reason"), "lost phone, seen in person");
    await user.click(screen.getByTestId("user-action-confirm-button"));
    expect(await screen.findByTestId("user-action-error")).toHaveTextContent("Only an administrator can do that.");
    expect(screen.getByTestId("user-dialog")).toBeInTheDocument();
  });

  it("is not offered on the admin’s own row", async () => {
    await openEdit(admin.display_name);
    expect(screen.queryByTestId("user-reset-two-factor")).toBeNull();
    expect(screen.getByTestId("user-reset-self")).toHaveTextContent("another administrator can reset");
  });

  it("is disabled without a connection, with the reason", async () => {
    await openEdit(marcus.display_name, { connected: false });
    expect(screen.getByTestId("user-reset-two-factor")).toBeDisabled();
    expect(screen.getByTestId("user-reset-two-factor")).toHaveAccessibleDescription(`${FACTOR_RESET_NEEDS_CONNECTION}.`);
  });

  it("counts a reason's characters as the cloud does", () => {
    expect(checkedResetReason("  lost  "), "4 characters once trimmed").toBeNull();
    expect(checkedResetReason("lost phone")).toBe("lost phone");
    expect(checkedResetReason("é".repeat(500))).toBe("é".repeat(500));
    expect(checkedResetReason("x".repeat(501))).toBeNull();
  });
});

describe("Edit dialog: an admin's own mobile phone", () => {
  async function changeOwnPhone(props: Parameters<typeof renderUsers>[0] = {}) {
    const opened = renderUsers(props);
    const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(admin.display_name));
    if (!row) throw new Error("no row for the admin");
    await opened.user.click(within(row).getByTestId("user-edit"));
    await opened.user.clear(screen.getByTestId("user-phone"));
    await opened.user.type(screen.getByTestId("user-phone"), "(480) 555-0177");
    await opened.user.click(screen.getByTestId("user-update"));
    return opened;
  }

  it("asks Confirm it's you first, then saves once", async () => {
    const { api, user } = await changeOwnPhone();
    expect(await screen.findByTestId("reauth-dialog")).toBeInTheDocument();
    expect(api.updateUser, "nothing is saved before the proof").not.toHaveBeenCalled();
    await user.type(screen.getByTestId("reauth-password"), `${DEMO_PASSWORD}{Enter}`);
    await user.type(await screen.findByTestId("code-input"), FAKE_CODE);
    await user.click(screen.getByTestId("code-submit"));
    expect(await screen.findByTestId("users-saved")).toHaveTextContent(`Saved changes to ${admin.display_name}.`);
    expect(api.updateUser).toHaveBeenCalledTimes(1);
    expect(api.updateUser).toHaveBeenCalledWith(admin.id, { mobile_phone: "(480) 555-0177" });
  });

  it("saves nothing when the check is cancelled, and says nothing", async () => {
    const { api, user } = await changeOwnPhone();
    await user.click(await screen.findByTestId("reauth-cancel"));
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(api.updateUser).not.toHaveBeenCalled();
    expect(screen.queryByTestId("user-dialog-error")).toBeNull();
    expect(screen.getByTestId("user-dialog")).toBeInTheDocument();
  });

  it("is refused without a connection, with the reason", async () => {
    const { api } = await changeOwnPhone({ connected: false });
    expect(await screen.findByTestId("user-dialog-error")).toHaveTextContent(OWN_PHONE_NEEDS_CONNECTION);
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(api.updateUser).not.toHaveBeenCalled();
  });

  it("needs no check for another user's phone", async () => {
    const { api, user } = renderUsers();
    const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(carlos.display_name));
    await user.click(within(row!).getByTestId("user-edit"));
    await user.clear(screen.getByTestId("user-phone"));
    await user.type(screen.getByTestId("user-phone"), "(480) 555-0178");
    await user.click(screen.getByTestId("user-update"));
    expect(await screen.findByTestId("users-saved")).toBeInTheDocument();
    expect(screen.queryByTestId("reauth-dialog")).toBeNull();
    expect(api.updateUser).toHaveBeenCalledTimes(1);
  });
});
