import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiCallError } from "../api";
import { formatSyncTime } from "../format";
import { DEMO_PASSWORD, demoCompany, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi } from "../testing/render";
import type { SyncNotice, SyncStatus, User } from "../types";
import { OFFLINE_SIGN_IN_MESSAGE, SYNC_POLL_MS, syncStatusText } from "./SyncBar";

const admin = demoUsers[0]!;
// Today, so the clock reading has no date in front of it.
const at = (hours: number, minutes: number) => {
  const d = new Date();
  d.setHours(hours, minutes, 0, 0);
  return d.getTime();
};
const T1042 = at(10, 42);
const T1043 = at(10, 43);
const clock = (ms: number) => formatSyncTime(ms);

function status(patch: Partial<SyncStatus>): SyncStatus {
  return {
    state: "idle",
    online: true,
    pending_edits: 0,
    last_synced_at: T1042,
    next_retry_at: null,
    notices: [],
    ...patch,
  };
}

const tomNotice: SyncNotice = {
  id: 7,
  subject: "Tom Baker",
  code: "conflict",
  message: "Someone changed the mobile phone in the meantime.",
  at: T1043,
};

describe("sync status text", () => {
  it("online and idle: synced, with the last sync time", () => {
    expect(syncStatusText(status({}))).toBe(`Online · All changes synced · Last synced ${clock(T1042)}`);
    expect(syncStatusText(status({ last_synced_at: null })), "no time is invented before the first sync").toBe(
      "Online · All changes synced",
    );
  });

  it("online with edits not yet pushed says how many, singular and plural", () => {
    expect(syncStatusText(status({ pending_edits: 1 }))).toBe(`Online · 1 edit waiting to sync · Last synced ${clock(T1042)}`);
    expect(syncStatusText(status({ pending_edits: 3 }))).toBe(`Online · 3 edits waiting to sync · Last synced ${clock(T1042)}`);
  });

  it("syncing", () => {
    expect(syncStatusText(status({ state: "syncing", pending_edits: 2 }))).toBe("Syncing…");
  });

  it("offline: the edits waiting, singular and plural, else how fresh the data is", () => {
    expect(syncStatusText(status({ state: "offline", online: false, pending_edits: 2 }))).toBe("Offline — 2 edits waiting to sync");
    expect(syncStatusText(status({ state: "offline", online: false, pending_edits: 1 }))).toBe("Offline — 1 edit waiting to sync");
    expect(syncStatusText(status({ state: "offline", online: false }))).toBe(`Offline — Last synced ${clock(T1042)}`);
    expect(syncStatusText(status({ state: "offline", online: false, last_synced_at: null }))).toBe("Offline — Not synced yet");
  });

  it("waiting to retry: when the next try is", () => {
    expect(syncStatusText(status({ state: "waiting_to_retry", next_retry_at: T1043 }))).toBe(
      `Can't reach SecureClose — retrying at ${clock(T1043)}`,
    );
    expect(syncStatusText(status({ state: "waiting_to_retry", next_retry_at: T1043, pending_edits: 1 }))).toBe(
      `Can't reach SecureClose — retrying at ${clock(T1043)} · 1 edit waiting to sync`,
    );
    expect(syncStatusText(status({ state: "waiting_to_retry", next_retry_at: null }))).toBe(
      "Can't reach SecureClose — retrying soon",
    );
  });

  it("needs sign-in: how many edits wait for it, singular and plural", () => {
    expect(syncStatusText(status({ state: "needs_sign_in", pending_edits: 2 }))).toBe("Sign in again to sync 2 edits");
    expect(syncStatusText(status({ state: "needs_sign_in", pending_edits: 1 }))).toBe("Sign in again to sync 1 edit");
    expect(syncStatusText(status({ state: "needs_sign_in" }))).toBe("Sign in again to sync");
  });

  it("stopped", () => {
    expect(syncStatusText(status({ state: "stopped" }))).toBe("Sync paused");
  });
});

async function openPortal(options: Parameters<typeof spyApi>[0] = {}) {
  const api = spyApi({ signedIn: true, ...options });
  renderApp(api);
  await screen.findAllByTestId("user-row");
  const bar = screen.getByTestId("sync-status");
  await waitFor(() => expect(bar, "the bar shows the core's state once it answered").toHaveAttribute("data-state"));
  return { api, bar, user: userEvent.setup() };
}

describe("status bar in the portal", () => {
  it("is a status region whose text and data-state follow every sync-status event", async () => {
    const { api, bar } = await openPortal({ sync: { last_synced_at: T1042 } });
    expect(bar, "screen readers hear status changes").toHaveAttribute("role", "status");
    expect(bar).toHaveAttribute("data-state", "idle");
    expect(bar).toHaveTextContent(`Online · All changes synced · Last synced ${clock(T1042)}`);

    api.emitSyncStatus({ state: "offline", online: false, pending_edits: 2 });
    expect(bar).toHaveAttribute("data-state", "offline");
    expect(bar).toHaveTextContent("Offline — 2 edits waiting to sync");

    api.emitSyncStatus({ state: "waiting_to_retry", online: false, next_retry_at: T1043, pending_edits: 0 });
    expect(bar).toHaveAttribute("data-state", "waiting_to_retry");
    expect(bar).toHaveTextContent(`Can't reach SecureClose — retrying at ${clock(T1043)}`);

    api.emitSyncStatus({ state: "syncing", online: true, next_retry_at: null });
    expect(bar).toHaveAttribute("data-state", "syncing");
    expect(bar).toHaveTextContent("Syncing…");
    expect(screen.getByTestId("sync-now"), "no second pass while one runs").toBeDisabled();

    api.emitSyncStatus({ state: "idle", last_synced_at: T1043 });
    expect(bar).toHaveAttribute("data-state", "idle");
    expect(bar).toHaveTextContent(`Online · All changes synced · Last synced ${clock(T1043)}`);
    expect(screen.getByTestId("sync-now")).toBeEnabled();
  });

  it("asks for the status at start and listens for the event", async () => {
    const { api } = await openPortal();
    expect(api.syncStatus).toHaveBeenCalled();
    expect(api.onSyncStatus, "the bar must follow the core's pushes, not only its first answer").toHaveBeenCalled();
  });

  it("an edit made offline shows up as waiting", async () => {
    const { api, bar, user } = await openPortal({ sync: { state: "offline", online: false } });
    expect(bar).toHaveTextContent(`Offline — Last synced`);
    await user.click((await screen.findAllByTestId("user-edit"))[3]!);
    await user.clear(screen.getByTestId("user-name"));
    await user.type(screen.getByTestId("user-name"), "Tom Baker{Enter}");
    await waitFor(() => expect(bar).toHaveTextContent("Offline — 1 edit waiting to sync"));
    expect(api.updateUser).toHaveBeenCalledTimes(1);
    expect(await screen.findByTestId("users-saved"), "the person must learn the edit has not reached the cloud yet").toHaveTextContent(
      "Saved changes to Tom Baker on this computer. They sync when the connection returns.",
    );
  });

  it("an edit made online is simply saved", async () => {
    const { user } = await openPortal({ sync: { state: "idle", online: true } });
    await user.click((await screen.findAllByTestId("user-edit"))[3]!);
    await user.clear(screen.getByTestId("user-name"));
    await user.type(screen.getByTestId("user-name"), "Tom Baker{Enter}");
    const saved = await screen.findByTestId("users-saved");
    expect(saved).toHaveTextContent("Saved changes to Tom Baker.");
    expect(saved).not.toHaveTextContent("on this computer");
  });

  it("Sync now runs a pass, shows its result and reloads the users in place", async () => {
    const { api, bar, user } = await openPortal({ sync: { state: "offline", online: true, pending_edits: 2, last_synced_at: T1042 } });
    const before = api.listUsers.mock.calls.length;

    await user.click(screen.getByTestId("sync-now"));

    expect(api.syncNow).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(bar).toHaveAttribute("data-state", "idle"));
    expect(bar).toHaveTextContent(/^Online · All changes synced · Last synced /);
    await waitFor(() =>
      expect(api.listUsers.mock.calls.length, "a landed sync re-reads the cache").toBeGreaterThan(before),
    );
    expect(screen.getAllByTestId("user-row"), "no remount: the rows never went away").toHaveLength(demoUsers.length);
  });

  it("shows why Sync now failed", async () => {
    const { api, user } = await openPortal();
    api.syncNow.mockRejectedValueOnce(new ApiCallError("internal", "The cache is busy."));
    await user.click(screen.getByTestId("sync-now"));
    expect(await screen.findByRole("alert")).toHaveTextContent("The cache is busy.");
  });

  it("needs sign-in: the text is a button that signs out and says why; no Sync now", async () => {
    const { api, bar, user } = await openPortal();
    api.emitSyncStatus({ state: "needs_sign_in", pending_edits: 2 });
    expect(bar).toHaveAttribute("data-state", "needs_sign_in");
    const button = within(bar).getByRole("button", { name: "Sign in again to sync 2 edits" });
    expect(screen.queryByTestId("sync-now"), "syncing cannot work until the person signs in").toBeNull();

    await user.click(button);

    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.getByRole("status"), "the login screen says what signing in is for").toHaveTextContent(
      "Sign in to sync the 2 edits waiting on this computer.",
    );
  });

  it("a sync that lands reloads the current page of users, keeping the page", async () => {
    const users: User[] = Array.from({ length: 120 }, (_, i) => ({
      ...demoUsers[1]!,
      id: `id-${i}`,
      display_name: `User ${String(i).padStart(3, "0")}`,
      email: `user${i}@example.com`,
    }));
    const { api, user } = await openPortal({ users: [{ ...admin }, ...users], sync: { last_synced_at: T1042 } });
    await user.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(api.listUsers).toHaveBeenLastCalledWith("", 50, 50));
    const calls = api.listUsers.mock.calls.length;

    api.emitSyncStatus({ state: "syncing" });
    expect(api.listUsers.mock.calls.length, "a state change alone reads nothing").toBe(calls);

    api.emitSyncStatus({ state: "idle", last_synced_at: T1043 });
    await waitFor(() => expect(api.listUsers.mock.calls.length).toBe(calls + 1));
    expect(api.listUsers, "the reload keeps the page the admin is on").toHaveBeenLastCalledWith("", 50, 50);
  });

  it("a first sign-in says the users are still downloading until the first sync is done", async () => {
    const { api } = await openPortal({ sync: { last_synced_at: null, state: "syncing" } });
    expect(await screen.findByTestId("users-downloading")).toHaveTextContent("Downloading your company’s users");

    api.emitSyncStatus({ state: "syncing", last_synced_at: T1042 });
    await waitFor(() => expect(api.listUsers.mock.calls.length).toBeGreaterThan(1));
    expect(screen.getByTestId("users-downloading"), "one page landed, more are coming").toBeInTheDocument();

    api.emitSyncStatus({ state: "idle", last_synced_at: T1043 });
    await waitFor(() => expect(screen.queryByTestId("users-downloading")).not.toBeInTheDocument());
  });

  it("a computer that synced before shows no download note while it syncs", async () => {
    const { api } = await openPortal({ sync: { last_synced_at: T1042 } });
    api.emitSyncStatus({ state: "syncing" });
    await waitFor(() => expect(screen.getByTestId("sync-status")).toHaveTextContent("Syncing…"));
    expect(screen.queryByTestId("users-downloading")).not.toBeInTheDocument();
  });

  it("a sync that lands reloads the company profile and the session", async () => {
    const { api, user } = await openPortal({ sync: { last_synced_at: T1042 } });
    await user.click(screen.getByTestId("nav-company"));
    expect(await screen.findByTestId("company-name")).toHaveTextContent(demoCompany.name);

    const renamed = { ...demoCompany, name: "Sunset Motors", version: 2 };
    api.company.mockResolvedValueOnce(renamed);
    api.session.mockResolvedValueOnce({
      idle_lock_minutes: 30,
      user: { ...admin, display_name: "Dana W." },
      company: renamed,
      online: true,
      offline_sign_in: false,
      last_synced_at: T1043,
    });
    api.emitSyncStatus({ last_synced_at: T1043 });

    await waitFor(() => expect(screen.getByTestId("company-name")).toHaveTextContent("Sunset Motors"));
    await waitFor(() => expect(screen.getByTestId("signed-in-user"), "the top bar follows the cache").toHaveTextContent("Dana W."));
  });

  it("a stopped sync with no session left returns to sign-in", async () => {
    const { api } = await openPortal();
    api.session.mockResolvedValueOnce(null);
    api.emitSyncStatus({ state: "stopped" });
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("You have been signed out.");
  });

  it("a deliberate sign-out is not reported as being signed out by the sync", async () => {
    const { api, user } = await openPortal();
    api.session.mockResolvedValue(null);
    api.logout.mockImplementationOnce(async () => {
      // The core stops the sync while signing out, before logout returns.
      api.emitSyncStatus({ state: "stopped" });
      await Promise.resolve();
    });
    await user.click(screen.getByTestId("sign-out"));
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.queryByRole("status"), "no 'you have been signed out' notice after choosing to sign out").toBeNull();
  });

  it("stops listening when the portal closes", async () => {
    const stop = vi.fn();
    const api = spyApi({ signedIn: true });
    api.onSyncStatus.mockResolvedValue(stop);
    renderApp(api);
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("sign-out"));
    await screen.findByTestId("login-email");
    expect(stop, "a listener left behind would act on a signed-out UI").toHaveBeenCalled();
  });
});

describe("status bar without the event", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks for the status every few seconds when the event can't be listened to", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const api = spyApi({ signedIn: true });
    api.onSyncStatus.mockRejectedValue(new ApiCallError("internal", "event.listen not allowed"));
    renderApp(api);
    const bar = await screen.findByTestId("sync-status");
    await waitFor(() => expect(bar).toHaveAttribute("data-state", "idle"));
    api.syncStatus.mockResolvedValue(status({ state: "offline", online: false, pending_edits: 1 }));

    await act(async () => {
      vi.advanceTimersByTime(SYNC_POLL_MS);
    });

    await waitFor(() => expect(bar).toHaveTextContent("Offline — 1 edit waiting to sync"));
  });
});

describe("sync notices", () => {
  it("shows each refused edit with its reason, and Dismiss removes it in the core", async () => {
    const other: SyncNotice = { ...tomNotice, id: 8, subject: "Company profile", code: "forbidden", message: "Only administrators can do that." };
    const { api, user } = await openPortal({ sync: { notices: [tomNotice, other] } });
    const notices = await screen.findAllByTestId("sync-notice");
    expect(notices.map((n) => n.querySelector("p")?.textContent)).toEqual([
      "Your change to Tom Baker was not saved: Someone changed the mobile phone in the meantime.",
      "Your change to Company profile was not saved: Only administrators can do that.",
    ]);

    await user.click(within(notices[0]!).getByRole("button", { name: "Dismiss" }));

    expect(api.dismissSyncNotice, "the core forgets the notice, not just this window").toHaveBeenCalledWith(7);
    await waitFor(() => expect(screen.getAllByTestId("sync-notice")).toHaveLength(1));
    expect(screen.getByTestId("sync-notice")).toHaveTextContent("Company profile");
  });

  it("a notice pushed by the core appears without any action", async () => {
    const { api } = await openPortal();
    expect(screen.queryByTestId("sync-notice")).toBeNull();
    api.emitSyncStatus({ notices: [tomNotice] });
    expect(screen.getByTestId("sync-notice")).toHaveTextContent(
      "Your change to Tom Baker was not saved: Someone changed the mobile phone in the meantime.",
    );
  });

  it("says so when dismissing fails and keeps the notice", async () => {
    const { api, user } = await openPortal({ sync: { notices: [tomNotice] } });
    api.dismissSyncNotice.mockRejectedValueOnce(new ApiCallError("internal", "The cache is locked."));
    await user.click(await screen.findByRole("button", { name: "Dismiss" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The cache is locked.");
    expect(screen.getByTestId("sync-notice")).toBeInTheDocument();
  });
});

describe("offline sign-in", () => {
  it("shows the banner when the session was opened offline, and not otherwise", async () => {
    await openPortal({ offlineSignIn: true, sync: { state: "offline", online: false } });
    expect(screen.getByTestId("offline-banner")).toHaveTextContent(OFFLINE_SIGN_IN_MESSAGE);
    expect(OFFLINE_SIGN_IN_MESSAGE).toBe("Signed in offline. Changes will sync when the connection returns.");
  });

  it("has no banner for an online sign-in", async () => {
    await openPortal();
    expect(screen.queryByTestId("offline-banner")).toBeNull();
  });

  it("drops the banner once the session resumed online", async () => {
    const { api } = await openPortal({ offlineSignIn: true, sync: { state: "offline", online: false, last_synced_at: T1042 } });
    api.session.mockResolvedValueOnce({
      idle_lock_minutes: 30,
      user: admin,
      company: demoCompany,
      online: true,
      offline_sign_in: false,
      last_synced_at: T1043,
    });
    api.emitSyncStatus({ state: "idle", online: true, last_synced_at: T1043 });
    await waitFor(() => expect(screen.queryByTestId("offline-banner")).toBeNull());
  });

  it("signing in while offline opens the portal with the banner and the offline status", async () => {
    const api = spyApi({ offlineSignIn: true, sync: { state: "offline", online: false, pending_edits: 0 } });
    renderApp(api);
    const user = userEvent.setup();
    await user.type(await screen.findByTestId("login-email"), admin.email);
    await user.type(screen.getByTestId("login-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("offline-banner")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("sync-status")).toHaveAttribute("data-state", "offline"));
  });

  it.each([
    ["offline_unknown_user", "This account has not signed in on this computer yet. Connect to the internet to sign in."],
    ["offline_locked", "Too many attempts. Connect to the internet to sign in."],
    ["offline_not_allowed", "Your company does not allow signing in offline. Connect to the internet to sign in."],
    ["offline_grace_expired", "Connect to the internet to receive your code."],
    ["account_disabled", "This account is disabled."],
    ["invalid_credentials", "The email or password is incorrect."],
  ])("the login screen shows the core's message for %s and clears the password", async (code, message) => {
    const api = spyApi();
    api.login.mockRejectedValueOnce({ code, message });
    renderApp(api);
    const user = userEvent.setup();
    await user.type(await screen.findByTestId("login-email"), admin.email);
    await user.type(screen.getByTestId("login-password"), "typed offline");
    await user.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("login-error"), "the refusal says exactly what to do").toHaveTextContent(message);
    expect(screen.getByTestId("login-password")).toHaveValue("");
    expect(screen.getByTestId("login-submit")).toBeEnabled();
  });
});
