import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { demoCompany } from "../testing/fakeApi";
import { renderWithApi, spyApi } from "../testing/render";
import type { Company } from "../types";
import { CompanyPage } from "./CompanyPage";

describe("Company Profile", () => {
  it("shows name, DMS with its 2FA support, the company-wide 2FA state and offline policy", async () => {
    const company: Company = {
      ...demoCompany,
      name: "Desert Auto Group",
      two_factor_required: true,
      dms: { kind: "reynolds", supports_two_factor: true },
      offline_policy: { allowed: true, max_hours: 48 },
    };
    const api = spyApi({ company });
    renderWithApi(<CompanyPage />, api);

    expect(await screen.findByTestId("company-name")).toHaveTextContent("Desert Auto Group");
    expect(api.company).toHaveBeenCalledTimes(1);
    const dms = screen.getByTestId("company-dms");
    expect(dms, "the DMS kind is shown by its product name").toHaveTextContent("Reynolds & Reynolds");
    expect(dms).toHaveTextContent("Supported");
    const twoFactor = screen.getByTestId("company-two-factor");
    expect(twoFactor).toHaveTextContent("On");
    expect(twoFactor).toHaveTextContent("Every user enters a code");
    expect(screen.getByTestId("company-offline")).toHaveTextContent("up to 48 hours after their last code");
  });

  it("says when the DMS integration does not support 2FA and the toggle is off", async () => {
    const company: Company = {
      ...demoCompany,
      two_factor_required: false,
      dms: { kind: "acme-dms", supports_two_factor: false },
      offline_policy: { allowed: false, max_hours: 0 },
    };
    renderWithApi(<CompanyPage />, spyApi({ company }));

    const dms = await screen.findByTestId("company-dms");
    expect(dms, "an unknown DMS kind is shown as stored").toHaveTextContent("acme-dms");
    expect(dms).toHaveTextContent("Not supported");
    const twoFactor = screen.getByTestId("company-two-factor");
    expect(twoFactor).toHaveTextContent("Off");
    expect(screen.getByTestId("two-factor-unavailable")).toHaveTextContent(
      "Two-factor authentication is not available with your DMS integration",
    );
    expect(screen.getByTestId("company-offline")).toHaveTextContent("Not allowed");
  });

  it("shows the error from company() with a retry", async () => {
    const api = spyApi();
    api.company.mockRejectedValueOnce(new ApiCallError("internal", "Cache read failed"));
    renderWithApi(<CompanyPage />, api);

    expect(await screen.findByRole("alert")).toHaveTextContent("Cache read failed");
    expect(screen.queryByTestId("company-name"), "no stale or empty data next to an error").toBeNull();
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("company-name")).toHaveTextContent(demoCompany.name);
  });
});

describe("Company Profile: company-wide Two-Factor Authentication", () => {
  it("an admin turns it on and saves; the confirmation says when it takes effect", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();

    const toggle = await screen.findByRole("switch", { name: "Two-Factor Authentication" });
    expect(toggle).toHaveAttribute("data-testid", "company-two-factor-toggle");
    expect(toggle).not.toBeChecked();
    expect(screen.getByTestId("company-save"), "nothing to save before a change").toBeDisabled();
    expect(screen.getByText(/Takes effect at each user's next sign-in/)).toBeInTheDocument();

    await user.click(toggle);
    await user.click(screen.getByTestId("company-save"));

    expect(api.updateCompany).toHaveBeenCalledWith({ two_factor_required: true });
    const saved = await screen.findByTestId("company-saved");
    expect(saved).toHaveAttribute("role", "status");
    expect(saved).toHaveTextContent("Takes effect at each user's next sign-in.");
    expect(screen.getByTestId("company-two-factor"), "the shown state follows the saved company").toHaveTextContent("On");
    expect(toggle).toBeChecked();
  });

  it("shows the cloud's refusal in company-error and keeps the choice", async () => {
    const api = spyApi({ signedIn: true });
    api.updateCompany.mockRejectedValueOnce(new ApiCallError("forbidden", "Only administrators can change the company."));
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("company-two-factor-toggle"));
    await user.click(screen.getByTestId("company-save"));

    const error = await screen.findByTestId("company-error");
    expect(error).toHaveAttribute("role", "alert");
    expect(error).toHaveTextContent("Only administrators can change the company.");
    expect(screen.queryByTestId("company-saved")).toBeNull();
    expect(screen.getByTestId("company-two-factor"), "nothing was saved").toHaveTextContent("Off");
    expect(screen.getByTestId("company-save"), "the admin can retry").toBeEnabled();
  });

  it("a non-admin sees the switch disabled with the reason", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit={false} />, api);

    const toggle = await screen.findByTestId("company-two-factor-toggle");
    expect(toggle).toBeDisabled();
    expect(screen.getByTestId("company-save")).toBeDisabled();
    expect(screen.getByTestId("company-admin-only")).toHaveTextContent("Only administrators can change this setting.");
    expect(toggle.getAttribute("aria-describedby")).toContain("company-two-factor-admin-only");
  });

  it("disables the switch and Save with the DMS note when the DMS lacks 2FA", async () => {
    const company: Company = { ...demoCompany, dms: { kind: "acme", supports_two_factor: false } };
    const api = spyApi({ company, signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);

    const toggle = await screen.findByTestId("company-two-factor-toggle");
    expect(toggle, "an admin still cannot turn on what the DMS cannot do").toBeDisabled();
    expect(screen.getByTestId("company-save")).toBeDisabled();
    expect(screen.getByTestId("two-factor-unavailable")).toHaveTextContent(
      "Two-factor authentication is not available with your DMS integration",
    );
  });
});

describe("Company Profile: offline sign-in and sessions", () => {
  it("shows the company's policies in their fields", async () => {
    const company: Company = {
      ...demoCompany,
      offline_policy: { allowed: true, max_hours: 48 },
      session_policy: { idle_lock_minutes: 15, max_session_hours: 8, trusted_computer_days: 7 },
    };
    renderWithApi(<CompanyPage canEdit />, spyApi({ company, signedIn: true }));
    expect(await screen.findByRole("switch", { name: "Allow offline sign-in" })).toBeChecked();
    expect(screen.getByLabelText("Grace period (hours)")).toHaveValue(48);
    expect(screen.getByLabelText("Idle lock (minutes)")).toHaveValue(15);
    expect(screen.getByLabelText("Session limit (hours)")).toHaveValue(8);
    expect(screen.getByLabelText("Trusted computers: days without a code")).toHaveValue(7);
  });

  it("saves changed policies with the one Save, each as a whole", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    const hours = await screen.findByTestId("company-offline-hours");
    await user.clear(hours);
    await user.type(hours, "24");
    const idle = screen.getByTestId("company-idle-lock");
    await user.clear(idle);
    await user.type(idle, "10");
    await user.click(screen.getByTestId("company-save"));

    expect(api.updateCompany).toHaveBeenCalledWith({
      offline_policy: { allowed: true, max_hours: 24 },
      session_policy: {
        idle_lock_minutes: 10,
        max_session_hours: demoCompany.session_policy.max_session_hours,
        // Unchanged, but the policy goes as a whole.
        trusted_computer_days: 0,
      },
    });
    expect(await screen.findByTestId("company-saved")).toHaveTextContent("Saved");
    expect(screen.getByTestId("company-offline"), "the summary follows the saved company").toHaveTextContent("up to 24 hours");
    expect(screen.getByTestId("company-save"), "nothing left to save").toBeDisabled();
  });

  it("turning offline sign-in off sends allowed: false with the hours kept", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("company-offline-allowed"));
    expect(screen.getByTestId("company-offline-hours"), "no grace period without offline sign-in").toBeDisabled();
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).toHaveBeenCalledWith({ offline_policy: { allowed: false, max_hours: 72 } });
  });

  it("with offline sign-in off and no window stored, shows a grace period in range and sends only valid hours", async () => {
    const company: Company = { ...demoCompany, offline_policy: { allowed: false, max_hours: 0 } };
    const api = spyApi({ signedIn: true, company });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    const hours = await screen.findByTestId("company-offline-hours");
    expect(hours, "never the stored 0, outside 1 to 168").toHaveValue(72);
    expect(screen.queryByTestId("company-offline-hours-error")).toBeNull();
    expect(screen.getByTestId("company-save"), "nothing changed, nothing to save").toBeDisabled();

    // An invalid entry does not outlive turning offline sign-in off again.
    await user.click(screen.getByTestId("company-offline-allowed"));
    await user.clear(hours);
    await user.type(hours, "0");
    expect(screen.getByTestId("company-offline-hours-error")).toHaveTextContent("Enter 1 to 168 hours.");
    await user.click(screen.getByTestId("company-offline-allowed"));
    expect(hours).toHaveValue(72);
    expect(screen.queryByTestId("company-offline-hours-error")).toBeNull();
    expect(screen.getByTestId("company-save")).toBeDisabled();

    await user.click(screen.getByTestId("company-offline-allowed"));
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).toHaveBeenCalledWith({ offline_policy: { allowed: true, max_hours: 72 } });
  });

  it.each([
    ["company-offline-hours", "0", "Enter 1 to 168 hours."],
    ["company-offline-hours", "169", "Enter 1 to 168 hours."],
    ["company-idle-lock", "4", "Enter 5 to 60 minutes."],
    ["company-idle-lock", "61", "Enter 5 to 60 minutes."],
    ["company-session-limit", "0", "Enter 1 to 24 hours."],
    ["company-session-limit", "25", "Enter 1 to 24 hours."],
    ["company-session-limit", "", "Enter 1 to 24 hours."],
    ["company-trusted-days", "31", "Enter 0 to 30 days."],
    ["company-trusted-days", "", "Enter 0 to 30 days."],
  ])("%s = %j is pointed out before saving and blocks Save", async (testId, typed, message) => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    const input = await screen.findByTestId(testId);
    await user.clear(input);
    if (typed) await user.type(input, typed);
    expect(screen.getByTestId(`${testId}-error`)).toHaveTextContent(message);
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(expect.stringContaining(message));
    expect(screen.getByTestId("company-save")).toBeDisabled();
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).not.toHaveBeenCalled();
  });

  it("accepts the ends of each range", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    for (const [testId, value] of [
      ["company-offline-hours", "168"],
      ["company-idle-lock", "60"],
      ["company-session-limit", "1"],
      ["company-trusted-days", "30"],
    ] as const) {
      const input = await screen.findByTestId(testId);
      await user.clear(input);
      await user.type(input, value);
      expect(screen.queryByTestId(`${testId}-error`), `${value} is allowed`).toBeNull();
    }
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).toHaveBeenCalledWith({
      offline_policy: { allowed: true, max_hours: 168 },
      session_policy: { idle_lock_minutes: 60, max_session_hours: 1, trusted_computer_days: 30 },
    });
  });

  it("saves the trusted computers' days inside the session policy, and 0 turns them off", async () => {
    const api = spyApi({ signedIn: true });
    renderWithApi(<CompanyPage canEdit />, api);
    const user = userEvent.setup();
    const days = await screen.findByTestId("company-trusted-days");
    expect(days, "off by default").toHaveValue(0);
    expect(days).toHaveAccessibleDescription(expect.stringContaining("0 turns it off."));
    await user.clear(days);
    await user.type(days, "14");
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).toHaveBeenLastCalledWith({
      session_policy: { ...demoCompany.session_policy, trusted_computer_days: 14 },
    });
    expect(await screen.findByTestId("company-saved")).toHaveTextContent("Saved");
    expect(days, "the field follows the saved company").toHaveValue(14);

    await user.clear(days);
    await user.type(days, "0");
    expect(screen.queryByTestId("company-trusted-days-error"), "0 is allowed: it means off").toBeNull();
    await user.click(screen.getByTestId("company-save"));
    expect(api.updateCompany).toHaveBeenLastCalledWith({
      session_policy: { ...demoCompany.session_policy, trusted_computer_days: 0 },
    });
    expect(api.updateCompany).toHaveBeenCalledTimes(2);
  });

  it("a non-admin sees the policies but cannot change them", async () => {
    renderWithApi(<CompanyPage canEdit={false} />, spyApi({ signedIn: true }));
    expect(await screen.findByTestId("company-offline-allowed")).toBeDisabled();
    expect(screen.getByTestId("company-offline-hours")).toBeDisabled();
    expect(screen.getByTestId("company-idle-lock")).toBeDisabled();
    expect(screen.getByTestId("company-session-limit")).toBeDisabled();
    expect(screen.getByTestId("company-trusted-days")).toBeDisabled();
  });
});
