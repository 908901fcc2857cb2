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
    expect(screen.getByTestId("company-offline")).toHaveTextContent("Up to 48 hours");
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
