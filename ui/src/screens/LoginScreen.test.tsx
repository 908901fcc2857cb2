import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { DEMO_PASSWORD, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi, submitSignIn } from "../testing/render";

const admin = demoUsers[0]!;
const companies = [
  { id: "c-canyon", name: "Canyon Ridge Auto Group" },
  { id: "c-desert", name: "Desert Sun Motors" },
];

describe("an email with accounts at several dealerships", () => {
  it("asks which dealership, then signs in to the one picked", async () => {
    const api = spyApi({ sharedEmailCompanies: companies });
    renderApp(api);

    await submitSignIn(admin.email, DEMO_PASSWORD);

    expect(await screen.findByText("This email has accounts at several dealerships — choose one.")).toBeInTheDocument();
    const buttons = screen.getAllByTestId("company-choice");
    expect(buttons.map((b) => b.textContent)).toEqual(["Canyon Ridge Auto Group", "Desert Sun Motors"]);
    expect(screen.queryByTestId("login-password"), "the password stays in the core, not on screen").toBeNull();

    await userEvent.setup().click(buttons[1]!);

    expect(api.chooseCompany, "only the company's id crosses to the core").toHaveBeenCalledWith("c-desert");
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(admin.display_name);
  });

  it("goes on to the code when the chosen account needs one", async () => {
    const api = spyApi({ sharedEmailCompanies: companies });
    api.chooseCompany.mockResolvedValueOnce({
      state: "needs_second_factor",
      challenge: {
        challenge_id: "",
        phone_hint: "••• ••• 0123",
        code_sent: true,
        code_expires_at: Date.now() + 600_000,
        resend_available_at: Date.now() + 30_000,
        attempts_left: 5,
        expires_at: Date.now() + 900_000,
        methods: ["sms"],
        trusted_computer_days: 0,
      },
    });
    renderApp(api);
    await submitSignIn(admin.email, DEMO_PASSWORD);
    await userEvent.setup().click((await screen.findAllByTestId("company-choice"))[0]!);
    expect(await screen.findByTestId("code-dialog")).toBeInTheDocument();
  });

  it("cancel forgets the attempt and a refused choice asks for the password again", async () => {
    const api = spyApi({ sharedEmailCompanies: companies });
    renderApp(api);
    const user = userEvent.setup();
    await submitSignIn(admin.email, DEMO_PASSWORD);
    await user.click(await screen.findByTestId("company-choice-cancel"));
    expect(api.cancelLogin, "the core drops the held password").toHaveBeenCalled();
    expect(await screen.findByTestId("login-password")).toHaveValue("");

    expect(screen.getByTestId("login-email"), "the email is kept").toHaveValue(admin.email);

    api.chooseCompany.mockRejectedValueOnce(new ApiCallError("account_locked", "This account is locked."));
    await user.type(screen.getByTestId("login-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("login-submit"));
    await user.click((await screen.findAllByTestId("company-choice"))[0]!);
    expect(await screen.findByTestId("login-error")).toHaveTextContent("This account is locked.");
    expect(screen.getByTestId("login-email")).toHaveValue(admin.email);
  });
});
