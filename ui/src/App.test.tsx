import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "./api";
import { DEMO_PASSWORD, demoUsers } from "./testing/fakeApi";
import { renderApp, spyApi, submitSignIn } from "./testing/render";

const admin = demoUsers[0]!;


describe("login", () => {
  it("signs in with the typed email and password and shows the portal", async () => {
    const api = spyApi();
    renderApp(api);

    await submitSignIn(admin.email, DEMO_PASSWORD);

    expect(api.login, "login must receive exactly what the user typed").toHaveBeenCalledWith(admin.email, DEMO_PASSWORD);
    const who = await screen.findByTestId("signed-in-user");
    expect(who, "the portal must show who is signed in").toHaveTextContent(admin.display_name);
    expect(who).toHaveTextContent(admin.email);
    expect(screen.getByRole("navigation", { name: "Main" })).toBeInTheDocument();
    expect(screen.getByTestId("nav-users")).toHaveAttribute("aria-current", "page");
    expect(await screen.findAllByTestId("user-row"), "the Users tab is the landing page").toHaveLength(demoUsers.length);
    expect(screen.queryByTestId("login-password"), "no password field may stay on screen after sign-in").toBeNull();
  });

  it("shows the core's error message, keeps the email and clears the password", async () => {
    const api = spyApi();
    api.login.mockRejectedValueOnce(new ApiCallError("invalid_credentials", "The email or password is incorrect."));
    renderApp(api);

    await submitSignIn(admin.email, "wrong password");

    const error = await screen.findByTestId("login-error");
    expect(error, "the error must be announced to screen readers").toHaveAttribute("role", "alert");
    expect(error).toHaveTextContent("The email or password is incorrect.");
    expect(screen.getByTestId("login-email"), "retyping the email is needless friction").toHaveValue(admin.email);
    expect(screen.getByTestId("login-password"), "a rejected password must not linger in the form").toHaveValue("");
    expect(screen.getByTestId("login-submit"), "the form must be usable again after a failure").toBeEnabled();
    expect(screen.queryByTestId("signed-in-user")).toBeNull();
  });

  it("shows a readable message when the core rejects with something unexpected", async () => {
    const api = spyApi();
    api.login.mockRejectedValueOnce("command login not allowed");
    renderApp(api);

    await submitSignIn(admin.email, DEMO_PASSWORD);

    expect(await screen.findByTestId("login-error"), "a raw string rejection is still shown, never swallowed").toHaveTextContent(
      "command login not allowed",
    );
  });

  it("does not call the core when a field is empty", async () => {
    const api = spyApi();
    renderApp(api);
    const user = userEvent.setup();
    await user.type(await screen.findByTestId("login-email"), admin.email);
    await user.click(screen.getByTestId("login-submit"));

    expect(await screen.findByTestId("login-error")).toHaveTextContent("Enter your email and password.");
    expect(api.login, "an empty password must not reach the cloud").not.toHaveBeenCalled();
  });

  it("shows a busy button while the login is in flight", async () => {
    const api = spyApi();
    let finish: () => void = () => {};
    api.login.mockImplementationOnce(
      () =>
        new Promise((_, reject) => {
          finish = () => reject(new ApiCallError("server_busy", "The server is busy."));
        }),
    );
    renderApp(api);

    await submitSignIn(admin.email, DEMO_PASSWORD);

    const button = screen.getByTestId("login-submit");
    expect(button, "double submits must be impossible while signing in").toBeDisabled();
    expect(button).toHaveTextContent("Signing in…");
    finish();
    expect(await screen.findByTestId("login-error")).toHaveTextContent("The server is busy.");
  });

  it("shows the app version on the login screen", async () => {
    renderApp(spyApi({ appInfo: { version: "9.8.7" } }));
    expect(await screen.findByText("Version 9.8.7")).toBeInTheDocument();
  });
});

describe("forgot password", () => {
  it("explains that an admin resets the password, and that there is no reset by text message", async () => {
    renderApp(spyApi());
    const user = userEvent.setup();
    const toggle = await screen.findByRole("button", { name: "Forgot your password?" });
    expect(toggle, "closed at first, and says so to screen readers").toHaveAttribute("aria-expanded", "false");
    expect(screen.queryByRole("region", { name: "Forgot your password?" }), "the explanation waits for the click").toBeNull();
    const controlled = toggle.getAttribute("aria-controls");
    expect(controlled && document.getElementById(controlled), "aria-controls names an element in the page").toBeTruthy();

    await user.click(toggle);

    expect(toggle).toHaveAttribute("aria-expanded", "true");
    const help = screen.getByRole("region", { name: "Forgot your password?" });
    expect(help.id, "the button controls this region").toBe(controlled);
    expect(help, "who can reset it and where").toHaveTextContent("admin of your company");
    expect(help).toHaveTextContent("open Users, choose Edit on your row and click Reset password");
    expect(help, "no self-service reset by text message, and why").toHaveTextContent(
      "no self-service reset by text message: NIST SP 800-63B-4 classes text messages as a restricted authenticator",
    );

    await user.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    expect(screen.queryByRole("region", { name: "Forgot your password?" })).toBeNull();
  });

  it("is offered when the server address is locked too", async () => {
    renderApp(
      spyApi({
        appInfo: { cloud_url: "https://cloud.dealer.example", default_cloud_url: "https://cloud.dealer.example", cloud_url_locked: true },
      }),
    );
    await userEvent.setup().click(await screen.findByRole("button", { name: "Forgot your password?" }));
    expect(screen.getByRole("region", { name: "Forgot your password?" })).toHaveTextContent("Reset password");
  });
});

describe("session", () => {
  it("opens the portal directly when the core already has a session", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(admin.email);
    expect(api.login, "a restored session must not ask for the password").not.toHaveBeenCalled();
  });

  it("sign out calls logout and returns to the login screen", async () => {
    const api = spyApi({ signedIn: true });
    renderApp(api);
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("sign-out"));

    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(await screen.findByTestId("login-email"), "after sign-out the login form must be shown").toHaveValue("");
    expect(screen.queryByTestId("signed-in-user")).toBeNull();
  });

  it("keeps every character typed into the sign-in form right after sign-out", async () => {
    const api = spyApi({ signedIn: true });
    // As the real core does: signing out stops the sync, which reports
    // "stopped", and the session is gone before logout returns.
    const logout = api.logout.getMockImplementation()!;
    api.logout.mockImplementation(async () => {
      await logout();
      api.emitSyncStatus({ state: "stopped", online: false, last_synced_at: null });
    });
    renderApp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("sign-out"));

    // The person types the moment the field is there, into whatever has focus.
    await screen.findByTestId("login-email");
    await user.keyboard("tom.becker@desertsun.example");

    const email = screen.getByTestId("login-email");
    expect(email, "the email field must have the focus when the sign-in form appears").toHaveFocus();
    expect(email, "nothing typed may be dropped").toHaveValue("tom.becker@desertsun.example");
    // Whatever settles after the form appeared must not reset or replace it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(screen.getByTestId("login-email"), "a late reset or remount would empty the field").toHaveValue(
      "tom.becker@desertsun.example",
    );
  });

  it("stays in the portal and says so when sign-out fails", async () => {
    const api = spyApi({ signedIn: true });
    api.logout.mockRejectedValueOnce(new ApiCallError("internal", "Could not clear the session."));
    renderApp(api);
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("sign-out"));

    expect(await screen.findByRole("alert")).toHaveTextContent("Could not clear the session.");
    expect(screen.getByTestId("signed-in-user"), "a failed sign-out must not pretend to have worked").toBeInTheDocument();
  });

  it("returns to sign-in with the reason when the core reports the session is gone", async () => {
    const api = spyApi({ signedIn: true });
    api.listUsers.mockRejectedValueOnce(new ApiCallError("session_expired", "Your session has expired."));
    renderApp(api);

    expect(await screen.findByTestId("login-email"), "an expired session must lead to the login form").toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Your session has expired.");
  });

  it("shows a start-up error with a retry when app_info fails", async () => {
    const api = spyApi();
    api.appInfo.mockRejectedValueOnce(new ApiCallError("internal", "Keychain unavailable"));
    renderApp(api);

    expect(await screen.findByRole("alert")).toHaveTextContent("Keychain unavailable");
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("login-email"), "retry must run the start-up again").toBeInTheDocument();
  });

  it("an unusable machine policy blocks sign-in and says who can fix it", async () => {
    const api = spyApi();
    const reason =
      "The SecureClose settings your organisation installed on this computer cannot be used " +
      "(/etc/secureclose/policy.json: expected value at line 1 column 1). Contact your IT administrator.";
    api.appInfo.mockRejectedValue(new ApiCallError("cloud_policy_invalid", reason));
    renderApp(api);

    expect(await screen.findByRole("heading", { level: 1 })).toHaveTextContent("SecureClose is blocked on this computer");
    expect(screen.getByRole("alert")).toHaveTextContent("Contact your IT administrator");
    expect(screen.queryByTestId("login-email"), "no sign-in past a policy IT installed").toBeNull();
    expect(
      screen.queryByRole("button", { name: "Try again" }),
      "retrying cannot help: the policy is read at start",
    ).toBeNull();
    expect(api.session, "nothing else is asked of a core that did not open").not.toHaveBeenCalled();
  });
});

describe("navigation", () => {
  it("switches between Users and Company Profile", async () => {
    renderApp(spyApi({ signedIn: true }));
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("nav-company"));
    expect(await screen.findByRole("heading", { level: 1, name: "Company Profile" })).toBeInTheDocument();
    expect(screen.getByTestId("nav-company")).toHaveAttribute("aria-current", "page");
    expect(screen.getByTestId("nav-users")).not.toHaveAttribute("aria-current");

    await user.click(screen.getByTestId("nav-users"));
    expect(await screen.findByTestId("users-table")).toBeInTheDocument();
  });
});

describe("cache recovery", () => {
  it("offers a fresh cache when the local cache is unreadable, and calls reset_cache", async () => {
    const api = spyApi({ appInfo: { cache_status: "unreadable" } });
    renderApp(api);

    const screenEl = await screen.findByTestId("cache-unreadable");
    expect(screenEl).toHaveTextContent("can’t be opened");
    expect(api.session, "an unreadable cache holds no usable session").not.toHaveBeenCalled();
    expect(screen.queryByTestId("login-email"), "login must wait until the cache is usable").toBeNull();

    await userEvent.setup().click(within(screenEl).getByTestId("cache-reset"));

    expect(api.resetCache).toHaveBeenCalledTimes(1);
    expect(await screen.findByTestId("login-email"), "after the reset the user signs in to re-sync").toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("sync again when you sign in");
  });

  it("keeps the recovery screen and shows why when reset_cache fails", async () => {
    const api = spyApi({ appInfo: { cache_status: "unreadable" } });
    api.resetCache.mockRejectedValueOnce(new ApiCallError("internal", "The keychain refused the new key."));
    renderApp(api);

    await userEvent.setup().click(await screen.findByTestId("cache-reset"));

    expect(await screen.findByRole("alert")).toHaveTextContent("The keychain refused the new key.");
    expect(screen.getByTestId("cache-unreadable")).toBeInTheDocument();
    expect(screen.getByTestId("cache-reset")).toBeEnabled();
  });
});

describe("server settings", () => {
  it("shows the validation error from set_cloud_url", async () => {
    const api = spyApi();
    renderApp(api);
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("open-settings"));
    const input = screen.getByTestId("settings-cloud-url");
    expect(input, "the field starts with the current address").toHaveValue("http://127.0.0.1:8787");
    await user.clear(input);
    await user.type(input, "http://cloud.example.com");
    await user.click(screen.getByTestId("settings-save"));

    expect(api.setCloudUrl).toHaveBeenCalledWith("http://cloud.example.com");
    const error = await screen.findByRole("alert");
    expect(error).toHaveTextContent("must use https://");
    expect(screen.getByLabelText("Cloud address"), "the invalid field is marked").toHaveAttribute("aria-invalid", "true");
  });

  it("saves a valid address and returns to sign-in showing it", async () => {
    const api = spyApi();
    renderApp(api);
    const user = userEvent.setup();

    await user.click(await screen.findByTestId("open-settings"));
    await user.clear(screen.getByTestId("settings-cloud-url"));
    await user.type(screen.getByTestId("settings-cloud-url"), "https://cloud.example.com");
    await user.click(screen.getByTestId("settings-save"));

    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("https://cloud.example.com");
    expect(screen.getByText("Server: https://cloud.example.com"), "the footer shows the address now in use").toBeInTheDocument();
  });
});

describe("cloud address warnings (a relay must never look like the real cloud)", () => {
  it("warns on the sign-in screen when the address is not the usual one", async () => {
    renderApp(spyApi({ appInfo: { cloud_url: "https://relay.example", default_cloud_url: "https://cloud.secureclose.net" } }));

    const warning = await screen.findByTestId("cloud-url-warning");
    expect(warning, "names the address in use").toHaveTextContent("https://relay.example");
    expect(warning, "and the usual one").toHaveTextContent("https://cloud.secureclose.net");
    expect(warning, "says what is at stake").toHaveTextContent("receives your password");
  });

  it("shows no warning on the usual address, and one right after switching away from it", async () => {
    const api = spyApi();
    renderApp(api);
    const user = userEvent.setup();

    await screen.findByTestId("login-email");
    expect(screen.queryByTestId("cloud-url-warning"), "the default address needs no warning").toBeNull();
    await user.click(screen.getByTestId("open-settings"));
    await user.clear(screen.getByTestId("settings-cloud-url"));
    await user.type(screen.getByTestId("settings-cloud-url"), "https://cloud.example.com");
    await user.click(screen.getByTestId("settings-save"));

    expect(await screen.findByTestId("cloud-url-warning")).toHaveTextContent("https://cloud.example.com");
  });

  it("a locked address hides Server settings and says who set it", async () => {
    renderApp(
      spyApi({
        appInfo: { cloud_url: "https://cloud.dealer.example", default_cloud_url: "https://cloud.dealer.example", cloud_url_locked: true },
      }),
    );

    await screen.findByTestId("login-email");
    expect(screen.queryByTestId("open-settings"), "nobody at the sign-in screen can change a locked address").toBeNull();
    expect(screen.getByText("Server: https://cloud.dealer.example (set by your organisation)")).toBeInTheDocument();
    expect(screen.queryByTestId("cloud-url-warning")).toBeNull();
  });
});

describe("accessibility", () => {
  it("labels every login input", async () => {
    renderApp(spyApi());
    expect(await screen.findByLabelText("Email")).toHaveAttribute("data-testid", "login-email");
    expect(screen.getByLabelText("Password")).toHaveAttribute("type", "password");
    expect(screen.getByRole("button", { name: "Sign in" })).toHaveAttribute("type", "submit");
    expect(screen.getByRole("main")).toBeInTheDocument();
  });

  it("renders the portal with banner, navigation and main landmarks", async () => {
    renderApp(spyApi({ signedIn: true }));
    await screen.findByTestId("signed-in-user");
    await waitFor(() => expect(screen.getByRole("banner")).toBeInTheDocument());
    expect(screen.getByRole("navigation", { name: "Main" })).toBeInTheDocument();
    expect(screen.getByRole("main")).toBeInTheDocument();
  });
});

describe("admin rights in the portal", () => {
  const carlos = demoUsers[1]!;

  it("a non-admin sees no Edit buttons and a disabled company toggle", async () => {
    const api = spyApi({ signedIn: true, sessionUserId: carlos.id });
    renderApp(api);
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(carlos.email);
    await screen.findAllByTestId("user-row");
    expect(screen.queryAllByTestId("user-edit"), "only admins edit users").toHaveLength(0);

    await userEvent.setup().click(screen.getByTestId("nav-company"));
    expect(await screen.findByTestId("company-two-factor-toggle")).toBeDisabled();
    expect(screen.getByTestId("company-save")).toBeDisabled();
    expect(screen.getByTestId("company-admin-only")).toBeInTheDocument();
  });

  it("an admin sees an Edit button on every row", async () => {
    renderApp(spyApi({ signedIn: true }));
    const rows = await screen.findAllByTestId("user-row");
    expect(await screen.findAllByTestId("user-edit")).toHaveLength(rows.length);
  });

  it("editing yourself updates the name in the top bar", async () => {
    renderApp(spyApi({ signedIn: true }));
    const user = userEvent.setup();
    await user.click((await screen.findAllByTestId("user-edit"))[0]!);
    await user.clear(screen.getByTestId("user-name"));
    await user.type(screen.getByTestId("user-name"), "Dana W.{Enter}");
    await waitFor(() => expect(screen.getByTestId("signed-in-user")).toHaveTextContent("Dana W."));
  });
});

describe("login with a second factor", () => {
  it("never shows the portal before the code is verified", async () => {
    const marcus = demoUsers[5]!;
    const api = spyApi();
    renderApp(api);
    await submitSignIn(marcus.email, DEMO_PASSWORD);
    expect(await screen.findByTestId("code-dialog")).toBeInTheDocument();
    expect(screen.queryByTestId("signed-in-user"), "a password alone must not open the portal").toBeNull();
    expect(api.verifyCode).not.toHaveBeenCalled();
  });
});
