import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { demoCompany, demoUsers } from "../testing/fakeApi";
import { renderWithApi, spyApi } from "../testing/render";
import type { Company } from "../types";
import { PHONE_FIRST_MESSAGE, TWO_FACTOR_UNAVAILABLE_MESSAGE } from "./UserEditDialog";
import { UsersPage } from "../screens/UsersPage";

const carlos = demoUsers[1]!; // phone, 2FA off
const tom = demoUsers[3]!; // no phone, 2FA off

async function openEdit(name: string, company: Company = demoCompany, api = spyApi({ signedIn: true })) {
  renderWithApi(<UsersPage company={company} canEdit />, api);
  const user = userEvent.setup();
  const row = (await screen.findAllByTestId("user-row")).find((r) => r.textContent?.includes(name));
  if (!row) throw new Error(`no row for ${name}`);
  const edit = within(row).getByTestId("user-edit");
  await user.click(edit);
  const dialog = screen.getByTestId("user-dialog");
  return { api, user, dialog, edit, row };
}

describe("Users tab: Edit (admin)", () => {
  it("opens a labelled modal dialog with General Info and Login Info tabs, prefilled", async () => {
    const { dialog } = await openEdit(carlos.display_name);
    expect(dialog).toHaveAttribute("role", "dialog");
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(screen.getByRole("dialog", { name: "Edit user" }), "the dialog is named by its heading").toBe(dialog);
    expect(screen.getByTestId("tab-general")).toHaveAttribute("aria-selected", "true");
    expect(screen.getByTestId("tab-general")).toHaveTextContent("General Info");
    expect(screen.getByTestId("tab-login")).toHaveTextContent("Login Info");
    expect(screen.getByLabelText("Name")).toHaveValue(carlos.display_name);
    expect(screen.getByLabelText("Email")).toHaveValue(carlos.email);
    expect(screen.getByLabelText("Mobile Phone"), "the article's field name; shown readable").toHaveValue("+1 (480) 555-0101");
    expect(screen.getByTestId("user-update")).toHaveTextContent("Update");
    expect(screen.getByTestId("user-name"), "focus moves into the dialog").toHaveFocus();
  });

  it("sends only the changed field and shows the cloud's answer in the row", async () => {
    const { api, user, row, edit } = await openEdit(carlos.display_name);
    const phone = screen.getByTestId("user-phone");
    await user.clear(phone);
    await user.type(phone, "602 555 0142");
    await user.click(screen.getByTestId("user-update"));

    await waitFor(() => expect(screen.queryByTestId("user-dialog")).toBeNull());
    expect(api.updateUser, "untouched name/email/role/2FA must not be sent").toHaveBeenCalledWith(carlos.id, {
      mobile_phone: "602 555 0142",
    });
    expect(row, "the row shows the returned (normalised) phone, not the typed text").toHaveTextContent("+1 (602) 555-0142");
    expect(screen.getByTestId("users-saved")).toHaveTextContent(`Saved changes to ${carlos.display_name}.`);
    expect(edit, "focus returns to the Edit button that opened the dialog").toHaveFocus();
  });

  it("sends null when the phone is cleared (removes it)", async () => {
    const { api, user, row } = await openEdit(carlos.display_name);
    await user.clear(screen.getByTestId("user-phone"));
    await user.click(screen.getByTestId("user-update"));

    await waitFor(() => expect(api.updateUser).toHaveBeenCalledWith(carlos.id, { mobile_phone: null }));
    await waitFor(() => expect(row).toHaveTextContent("Not set"));
  });

  it("closes without a call when nothing changed", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.click(screen.getByTestId("user-update"));
    expect(screen.queryByTestId("user-dialog")).toBeNull();
    expect(api.updateUser, "an empty update is not a change").not.toHaveBeenCalled();
  });

  it("follows the article: phone on General Info, 2FA on Login Info, Update", async () => {
    const { api, user, row } = await openEdit(tom.display_name);
    await user.type(screen.getByTestId("user-phone"), "(480) 555-0199");
    await user.click(screen.getByTestId("tab-login"));
    expect(screen.getByTestId("tab-login")).toHaveAttribute("aria-selected", "true");
    const toggle = screen.getByRole("switch", { name: "Two-Factor Authentication" });
    expect(toggle).toHaveAttribute("data-testid", "user-two-factor");
    await user.click(toggle);
    expect(toggle).toBeChecked();
    await user.click(screen.getByTestId("user-update"));

    await waitFor(() =>
      expect(api.updateUser).toHaveBeenCalledWith(tom.id, { mobile_phone: "(480) 555-0199", two_factor_enabled: true }),
    );
    await waitFor(() => expect(within(row).getAllByRole("cell")[4]).toHaveTextContent("On"));
    expect(row).toHaveTextContent("+1 (480) 555-0199");
  });

  it("refuses 2FA for a user with no phone, saying to add it on General Info first", async () => {
    const { api, user } = await openEdit(tom.display_name);
    await user.click(screen.getByTestId("tab-login"));
    const toggle = screen.getByTestId("user-two-factor");
    await user.click(toggle);

    expect(toggle, "the switch must not turn on without a phone").not.toBeChecked();
    const error = screen.getByTestId("user-two-factor-error");
    expect(error).toHaveTextContent(PHONE_FIRST_MESSAGE);
    expect(error).toHaveAttribute("role", "alert");
    expect(toggle.getAttribute("aria-describedby"), "the reason is tied to the switch").toContain(error.id);
    await user.click(screen.getByTestId("user-update"));
    expect(api.updateUser).not.toHaveBeenCalled();
  });

  it("shows the cloud's phone_required the same way", async () => {
    const api = spyApi({ signedIn: true });
    api.updateUser.mockRejectedValueOnce(new ApiCallError("phone_required", "Add a mobile phone on the General Info tab first"));
    const { user } = await openEdit(carlos.display_name, demoCompany, api);
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-two-factor"));
    await user.click(screen.getByTestId("user-update"));

    const error = await screen.findByTestId("user-dialog-error");
    expect(error).toHaveTextContent(PHONE_FIRST_MESSAGE);
    expect(error).toHaveAttribute("role", "alert");
    expect(screen.getByTestId("user-dialog"), "the dialog stays open to fix it").toBeInTheDocument();
  });

  it("refuses to keep 2FA on while the phone is being removed", async () => {
    const api = spyApi({ signedIn: true });
    const marcus = demoUsers[5]!; // 2FA on, verified phone
    const { user } = await openEdit(marcus.display_name, demoCompany, api);
    await user.clear(screen.getByTestId("user-phone"));
    await user.click(screen.getByTestId("user-update"));

    expect(await screen.findByTestId("user-dialog-error")).toHaveTextContent(PHONE_FIRST_MESSAGE);
    expect(api.updateUser, "removing the factor of a 2FA user is never sent").not.toHaveBeenCalled();
  });

  it("shows the cloud's invalid_phone inline next to the Mobile Phone field", async () => {
    const { user } = await openEdit(carlos.display_name);
    const phone = screen.getByTestId("user-phone");
    await user.clear(phone);
    await user.type(phone, "555-12");
    await user.click(screen.getByTestId("tab-login"));
    await user.click(screen.getByTestId("user-update"));

    const error = await screen.findByTestId("user-phone-error");
    expect(error).toHaveTextContent("Enter a valid mobile phone number");
    expect(error).toHaveAttribute("role", "alert");
    expect(screen.getByTestId("tab-general"), "the tab with the bad field is shown").toHaveAttribute("aria-selected", "true");
    expect(phone).toHaveAttribute("aria-invalid", "true");
    expect(phone.getAttribute("aria-describedby")).toContain("user-phone-error");
    await waitFor(() => expect(phone, "focus goes to the field to fix").toHaveFocus());
    expect(screen.queryByTestId("user-dialog-error"), "a field error is shown at the field only").toBeNull();
  });

  it("shows a number in a country the company does not text at the Mobile Phone field", async () => {
    const api = spyApi({ signedIn: true });
    const message =
      "Text messages to numbers in GB are not enabled for your company (allowed: US, CA). Use a mobile number in an allowed country, or ask your administrator.";
    api.updateUser.mockRejectedValueOnce(new ApiCallError("sms_country_not_allowed", message));
    const { user } = await openEdit(carlos.display_name, demoCompany, api);
    const phone = screen.getByTestId("user-phone");
    await user.clear(phone);
    await user.type(phone, "+44 20 7946 0958");
    await user.click(screen.getByTestId("user-update"));
    expect(await screen.findByTestId("user-phone-error")).toHaveTextContent(message);
    expect(phone).toHaveAttribute("aria-invalid", "true");
    expect(screen.queryByTestId("user-dialog-error")).toBeNull();
  });

  it("shows other errors in user-dialog-error", async () => {
    const api = spyApi({ signedIn: true });
    api.updateUser.mockRejectedValueOnce(new ApiCallError("forbidden", "Only administrators can change users."));
    const { user } = await openEdit(carlos.display_name, demoCompany, api);
    await user.clear(screen.getByTestId("user-name"));
    await user.type(screen.getByTestId("user-name"), "Carlos M.");
    await user.click(screen.getByTestId("user-update"));

    expect(await screen.findByTestId("user-dialog-error")).toHaveTextContent("Only administrators can change users.");
    expect(api.updateUser).toHaveBeenCalledWith(carlos.id, { display_name: "Carlos M." });
  });

  it("sends role changes from Login Info", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.click(screen.getByTestId("tab-login"));
    await user.selectOptions(screen.getByLabelText("Role"), "admin");
    await user.click(screen.getByTestId("user-update"));
    await waitFor(() => expect(api.updateUser).toHaveBeenCalledWith(carlos.id, { role: "admin" }));
  });

  it("disables the 2FA switch with the reason when the DMS does not support 2FA", async () => {
    const company = { ...demoCompany, dms: { kind: "acme", supports_two_factor: false } };
    const { user } = await openEdit(carlos.display_name, company);
    await user.click(screen.getByTestId("tab-login"));
    const toggle = screen.getByTestId("user-two-factor");
    expect(toggle).toBeDisabled();
    const note = screen.getByTestId("two-factor-unavailable");
    expect(note).toHaveTextContent(TWO_FACTOR_UNAVAILABLE_MESSAGE);
    expect(toggle.getAttribute("aria-describedby"), "the reason is read with the switch").toContain(note.id);
  });

  it("a non-admin sees no edit controls", async () => {
    renderWithApi(<UsersPage company={demoCompany} canEdit={false} />, spyApi({ signedIn: true }));
    await screen.findAllByTestId("user-row");
    expect(screen.queryAllByTestId("user-edit")).toHaveLength(0);
    expect(screen.queryByRole("columnheader", { name: "Actions" })).toBeNull();
  });
});

describe("Edit dialog keyboard", () => {
  it("Esc cancels without a call and returns focus to the Edit button", async () => {
    const { api, user, edit } = await openEdit(carlos.display_name);
    await user.type(screen.getByTestId("user-name"), " typed");
    await user.keyboard("{Escape}");

    expect(screen.queryByTestId("user-dialog")).toBeNull();
    expect(api.updateUser).not.toHaveBeenCalled();
    expect(edit).toHaveFocus();
  });

  it("Enter in a field submits (Update)", async () => {
    const { api, user } = await openEdit(carlos.display_name);
    await user.type(screen.getByTestId("user-email"), "x{Enter}");
    await waitFor(() => expect(api.updateUser).toHaveBeenCalledWith(carlos.id, { email: `${carlos.email}x` }));
  });

  it("Tab and Shift+Tab stay inside the dialog", async () => {
    const { user, dialog } = await openEdit(carlos.display_name);
    for (let i = 0; i < 12; i += 1) {
      await user.tab();
      expect(dialog.contains(document.activeElement), `Tab #${i + 1} must stay inside the modal`).toBe(true);
    }
    for (let i = 0; i < 12; i += 1) {
      await user.tab({ shift: true });
      expect(dialog.contains(document.activeElement), `Shift+Tab #${i + 1} must stay inside the modal`).toBe(true);
    }
  });

  it("arrow keys move between the tabs", async () => {
    const { user } = await openEdit(carlos.display_name);
    screen.getByTestId("tab-general").focus();
    await user.keyboard("{ArrowRight}");
    expect(screen.getByTestId("tab-login")).toHaveFocus();
    expect(screen.getByTestId("tab-login")).toHaveAttribute("aria-selected", "true");
  });
});
