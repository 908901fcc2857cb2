// Trusted computers ("Don't ask for a code on this computer"): the person's
// own list in their profile and an admin's in the Edit dialog, each with
// Revoke; both live in the cloud, so offline there is only a note.
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiCallError } from "../api";
import { TRUSTED_NONE } from "../components/TrustedComputers";
import { DEMO_PASSWORD, demoCompany, demoUsers } from "../testing/fakeApi";
import { formatDate } from "../format";
import { renderApp, renderWithApi, spyApi, submitSignIn } from "../testing/render";
import type { TrustedComputer } from "../types";
import { TRUSTED_NEEDS_CONNECTION } from "./ProfileDialog";
import { UserEditDialog } from "./UserEditDialog";

const admin = demoUsers[0]!;
const carlos = demoUsers[1]!;
const marcus = demoUsers[5]!; // 2FA on, verified phone
const DAY = 24 * 60 * 60_000;
const NOW = Date.now();

const here: TrustedComputer = {
  id: "t-here",
  label: "DESKTOP-4F2A (Windows)",
  created_at: NOW - 3 * DAY,
  last_used_at: NOW - DAY,
  expires_at: NOW + 27 * DAY,
  this_computer: true,
};
const office: TrustedComputer = {
  id: "t-office",
  label: "FRONT-DESK-2 (Windows)",
  created_at: NOW - 10 * DAY,
  last_used_at: null,
  expires_at: NOW + 20 * DAY,
  this_computer: false,
};

async function openProfile() {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-profile"));
  await screen.findByTestId("profile-dialog");
  return user;
}

describe("Trusted computers in your profile", () => {
  it("lists each with its name, This computer, when added, last used and until when", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [admin.email]: [here, office] } });
    renderApp(api);
    await openProfile();
    const rows = await screen.findAllByTestId("trusted-computer");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent(here.label);
    expect(within(rows[0]!).getByText("This computer")).toBeInTheDocument();
    expect(rows[0]).toHaveTextContent(`Added ${formatDate(here.created_at)}`);
    expect(rows[0]).toHaveTextContent("Last used");
    expect(rows[0]).toHaveTextContent(`until ${formatDate(here.expires_at)}`);
    expect(rows[1]).toHaveTextContent(office.label);
    expect(rows[1], "only the computer in use is marked").not.toHaveTextContent("This computer");
    expect(rows[1]).toHaveTextContent("Not used yet");
    expect(api.trustedComputers).toHaveBeenCalled();
    expect(screen.queryByTestId("trusted-none")).toBeNull();
  });

  it("Revoke removes the row at once and the cloud forgets it", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [admin.email]: [here, office] } });
    renderApp(api);
    const user = await openProfile();
    const rows = await screen.findAllByTestId("trusted-computer");
    const revoke = within(rows[1]!).getByTestId("trusted-revoke");
    expect(revoke).toHaveAccessibleDescription(office.label);
    await user.click(revoke);
    expect(api.revokeTrustedComputer).toHaveBeenCalledWith(office.id);
    await waitFor(() => expect(screen.getAllByTestId("trusted-computer")).toHaveLength(1));
    expect(screen.getByTestId("trusted-computer")).toHaveTextContent(here.label);
    expect(screen.getByTestId("trusted-revoked")).toHaveTextContent(`${office.label} asks for a code again`);
    await expect(api.trustedComputers(), "gone in the cloud too").resolves.toEqual([here]);

    await user.click(screen.getByTestId("trusted-revoke"));
    expect(await screen.findByTestId("trusted-none")).toHaveTextContent(TRUSTED_NONE);
  });

  it("a refused revoke keeps the row and says why, inline", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [admin.email]: [here] } });
    api.revokeTrustedComputer.mockRejectedValueOnce(new ApiCallError("offline", "Cannot reach the SecureClose cloud."));
    renderApp(api);
    const user = await openProfile();
    await user.click(await screen.findByTestId("trusted-revoke"));
    expect(await screen.findByTestId("trusted-revoke-error")).toHaveTextContent("Cannot reach the SecureClose cloud.");
    expect(screen.getByTestId("trusted-computer")).toHaveTextContent(here.label);
    expect(screen.getByTestId("profile-dialog"), "the profile stays open").toBeInTheDocument();
  });

  it("says so when there are none", async () => {
    renderApp(spyApi({ signedIn: true }));
    await openProfile();
    expect(await screen.findByTestId("trusted-none")).toHaveTextContent("No trusted computers.");
    expect(screen.queryByTestId("trusted-computer")).toBeNull();
  });

  it("offline, shows a note instead and asks nothing of the cloud", async () => {
    const api = spyApi({
      signedIn: true,
      offlineSignIn: true,
      sync: { online: false, state: "offline" },
      trustedComputers: { [admin.email]: [here] },
    });
    renderApp(api);
    await openProfile();
    expect(await screen.findByTestId("trusted-offline")).toHaveTextContent(TRUSTED_NEEDS_CONNECTION);
    expect(screen.queryByTestId("trusted-computer")).toBeNull();
    expect(screen.queryByTestId("trusted-revoke")).toBeNull();
    expect(api.trustedComputers).not.toHaveBeenCalled();
  });

  it("a load that fails shows the cloud's words", async () => {
    const api = spyApi({ signedIn: true });
    api.trustedComputers.mockRejectedValueOnce(new ApiCallError("internal", "The list could not be read."));
    renderApp(api);
    await openProfile();
    expect(await screen.findByTestId("trusted-error")).toHaveTextContent("The list could not be read.");
  });
});

describe("the fake ends trusted computers like the cloud", () => {
  it("revoking this computer in the profile makes the next sign-in ask for the code", async () => {
    const company = { ...demoCompany, session_policy: { ...demoCompany.session_policy, trusted_computer_days: 7 } };
    const api = spyApi({ company, trustedComputers: { [marcus.email]: [here] } });
    renderApp(api);
    const user = await submitSignIn(marcus.email);
    expect(await screen.findByTestId("signed-in-user"), "trusted: no code").toHaveTextContent(marcus.display_name);
    await user.click(screen.getByTestId("open-profile"));
    await user.click(await screen.findByTestId("trusted-revoke"));
    await screen.findByTestId("trusted-none");
    await user.click(screen.getByTestId("profile-close"));
    await user.click(screen.getByTestId("sign-out"));
    await submitSignIn(marcus.email);
    expect(await screen.findByTestId("code-dialog")).toBeInTheDocument();
  });

  it("an expired one is neither listed nor skips the code", async () => {
    const company = { ...demoCompany, session_policy: { ...demoCompany.session_policy, trusted_computer_days: 7 } };
    const api = spyApi({ company, trustedComputers: { [marcus.email]: [{ ...here, expires_at: Date.now() - 1 }] } });
    renderApp(api);
    await submitSignIn(marcus.email);
    expect(await screen.findByTestId("code-dialog")).toBeInTheDocument();
  });

  it("a password change ends them", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [admin.email]: [here] } });
    await expect(api.trustedComputers()).resolves.toHaveLength(1);
    await api.changePassword(DEMO_PASSWORD, "violet tractor umbrella seventeen");
    await expect(api.trustedComputers()).resolves.toEqual([]);
  });

  it("a new phone or disabling the user ends them; an admin sees and revokes them, others may not", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [carlos.email]: [office, { ...here, id: "t2" }] } });
    await expect(api.userTrustedComputers(carlos.id)).resolves.toHaveLength(2);
    await api.revokeUserTrustedComputer(carlos.id, office.id);
    await expect(api.userTrustedComputers(carlos.id)).resolves.toHaveLength(1);
    await api.updateUser(carlos.id, { mobile_phone: "+14805550199" });
    await expect(api.userTrustedComputers(carlos.id)).resolves.toEqual([]);

    const disabling = spyApi({ signedIn: true, trustedComputers: { [carlos.email]: [office] } });
    await disabling.updateUser(carlos.id, { status: "disabled" });
    await expect(disabling.userTrustedComputers(carlos.id)).resolves.toEqual([]);

    const asCarlos = spyApi({ signedIn: true, sessionUserId: carlos.id });
    await expect(asCarlos.userTrustedComputers(admin.id)).rejects.toMatchObject({ code: "forbidden" });
  });
});

describe("Trusted computers in the admin's Edit dialog", () => {
  function renderEdit(api = spyApi({ signedIn: true, trustedComputers: { [carlos.email]: [office] } }), connected = true) {
    renderWithApi(
      <UserEditDialog user={carlos} company={demoCompany} onSaved={() => undefined} onCancel={() => undefined} connected={connected} />,
      api,
    );
    return { api, user: userEvent.setup() };
  }

  it("lists the user's on the Login Info tab, loaded when the tab is shown", async () => {
    const { api, user } = renderEdit();
    await screen.findByTestId("user-dialog");
    expect(api.userTrustedComputers, "nothing asked while General Info shows").not.toHaveBeenCalled();
    await user.click(screen.getByTestId("tab-login"));
    const row = await screen.findByTestId("user-trusted-computer");
    expect(row).toHaveTextContent(office.label);
    expect(row).toHaveTextContent(`until ${formatDate(office.expires_at)}`);
    expect(api.userTrustedComputers).toHaveBeenCalledWith(carlos.id);
  });

  it("Revoke ends one for that user and removes the row; the Edit form is not sent", async () => {
    const { api, user } = renderEdit();
    await user.click(await screen.findByTestId("tab-login"));
    await user.click(await screen.findByTestId("user-trusted-revoke"));
    expect(api.revokeUserTrustedComputer).toHaveBeenCalledWith(carlos.id, office.id);
    expect(await screen.findByTestId("user-trusted-none")).toHaveTextContent(TRUSTED_NONE);
    expect(screen.queryByTestId("user-trusted-computer")).toBeNull();
    expect(api.updateUser, "Revoke is not the dialog's Update").not.toHaveBeenCalled();
    expect(screen.getByTestId("user-dialog")).toBeInTheDocument();
  });

  it("a refused revoke is shown inline and the row stays", async () => {
    const api = spyApi({ signedIn: true, trustedComputers: { [carlos.email]: [office] } });
    api.revokeUserTrustedComputer.mockRejectedValueOnce(new ApiCallError("forbidden", "Only administrators can do that."));
    const { user } = renderEdit(api);
    await user.click(await screen.findByTestId("tab-login"));
    await user.click(await screen.findByTestId("user-trusted-revoke"));
    expect(await screen.findByTestId("user-trusted-revoke-error")).toHaveTextContent("Only administrators can do that.");
    expect(screen.getByTestId("user-trusted-computer")).toHaveTextContent(office.label);
  });

  it("says so when the user has none", async () => {
    const { user } = renderEdit(spyApi({ signedIn: true }));
    await user.click(await screen.findByTestId("tab-login"));
    expect(await screen.findByTestId("user-trusted-none")).toHaveTextContent(TRUSTED_NONE);
  });

  it("without the connection, shows a note and asks nothing", async () => {
    const { api, user } = renderEdit(undefined, false);
    await user.click(await screen.findByTestId("tab-login"));
    expect(await screen.findByTestId("user-trusted-offline")).toHaveTextContent("needs a connection");
    expect(screen.queryByTestId("user-trusted-revoke")).toBeNull();
    expect(api.userTrustedComputers).not.toHaveBeenCalled();
  });
});
