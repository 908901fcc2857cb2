import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiCallError } from "../api";
import { DEMO_PASSWORD, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi } from "../testing/render";

const admin = demoUsers[0]!;
const carlos = demoUsers[1]!;
const MINUTE = 60_000;

beforeEach(() => {
  // Only the clock and intervals: testing-library's waits use real timeouts.
  vi.useFakeTimers({ toFake: ["Date", "setInterval", "clearInterval"], now: 1_800_000_000_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

async function idleFor(ms: number) {
  await act(async () => {
    vi.advanceTimersByTime(ms);
  });
}

async function openPortal(options: Parameters<typeof spyApi>[0] = {}) {
  const api = spyApi({ signedIn: true, ...options });
  renderApp(api);
  await screen.findAllByTestId("user-row");
  return { api, user: userEvent.setup() };
}

describe("idle lock", () => {
  it("covers the portal after the company's idle time, showing nothing of it", async () => {
    const { api } = await openPortal({ idleLockMinutes: 15 });
    await idleFor(14 * MINUTE);
    expect(screen.queryByTestId("lock-screen"), "not before the idle time").toBeNull();
    // Someone at the desk: the idle time starts again.
    fireEvent.keyDown(window, { key: "Shift" });
    await idleFor(14 * MINUTE);
    expect(screen.queryByTestId("lock-screen"), "input resets the idle time").toBeNull();

    await idleFor(2 * MINUTE);
    const lock = await screen.findByTestId("lock-screen");
    expect(api.lockSession, "the core is locked too, not only the screen").toHaveBeenCalledTimes(1);
    expect(lock).toHaveTextContent(admin.display_name);
    expect(screen.getByTestId("lock-password")).toHaveFocus();
    const portal = screen.getByTestId("portal");
    expect(portal, "the portal stays mounted but hidden").not.toBeVisible();
    expect(portal).toHaveAttribute("inert");
    for (const row of screen.getAllByTestId("user-row")) expect(row).not.toBeVisible();
    expect(screen.getByTestId("signed-in-user")).not.toBeVisible();
    for (const other of demoUsers.slice(1)) {
      expect(lock, "no data of the portal on the lock screen").not.toHaveTextContent(other.display_name);
    }
    expect(screen.queryAllByRole("row"), "no table reachable by assistive technology").toHaveLength(0);
  });

  it("unlocks to the same screen with a half-typed dialog field intact", async () => {
    const { api, user } = await openPortal();
    const row = screen.getAllByTestId("user-row").find((r) => r.textContent?.includes(carlos.display_name))!;
    await user.click(within(row).getByTestId("user-edit"));
    const name = screen.getByTestId("user-name");
    await user.clear(name);
    await user.type(name, "Carlos Mend");

    await idleFor(31 * MINUTE);
    await screen.findByTestId("lock-screen");
    expect(screen.getByTestId("user-dialog")).not.toBeVisible();

    await user.type(screen.getByTestId("lock-password"), "not my password");
    await user.click(screen.getByTestId("lock-unlock"));
    expect(await screen.findByTestId("lock-error")).toHaveTextContent("That password is not correct.");
    expect(screen.getByTestId("lock-password"), "a refused password does not linger").toHaveValue("");
    expect(screen.getByTestId("portal")).not.toBeVisible();

    await user.type(screen.getByTestId("lock-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("lock-unlock"));
    await waitFor(() => expect(screen.queryByTestId("lock-screen")).toBeNull());
    expect(api.unlockSession).toHaveBeenLastCalledWith(DEMO_PASSWORD);
    expect(screen.getByTestId("user-dialog"), "the same dialog, still open").toBeVisible();
    expect(screen.getByTestId("user-name"), "what was typed is still there").toHaveValue("Carlos Mend");
    expect(api.updateUser, "nothing was saved on the way").not.toHaveBeenCalled();
  });

  it("Not you? Sign out ends the session and shows the sign-in screen", async () => {
    const { api, user } = await openPortal();
    await idleFor(30 * MINUTE);
    await screen.findByTestId("lock-screen");
    await user.click(screen.getByTestId("lock-sign-out"));
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("lock-screen")).toBeNull();
    expect(screen.queryByTestId("portal"), "nothing of the last person's portal is left").toBeNull();
  });

  it("a session the core ends at the lock screen goes to sign-in with the reason", async () => {
    const { api, user } = await openPortal();
    await idleFor(30 * MINUTE);
    await screen.findByTestId("lock-screen");
    api.unlockSession.mockRejectedValueOnce(
      new ApiCallError("session_ended", "Too many wrong passwords. You have been signed out; sign in again to continue."),
    );
    await user.type(screen.getByTestId("lock-password"), "guess");
    await user.click(screen.getByTestId("lock-unlock"));
    expect(await screen.findByTestId("login-email")).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("Too many wrong passwords.");
  });

  it("an app restarted while locked opens on the lock screen, not the portal", async () => {
    const api = spyApi({ signedIn: true, locked: true });
    renderApp(api);
    const lock = await screen.findByTestId("lock-screen");
    expect(lock).toHaveTextContent(admin.display_name);
    expect(screen.queryByTestId("portal")).toBeNull();
    expect(api.session, "the session's data is not read while locked").not.toHaveBeenCalled();

    const user = userEvent.setup();
    await user.type(screen.getByTestId("lock-password"), DEMO_PASSWORD);
    await user.click(screen.getByTestId("lock-unlock"));
    expect(await screen.findByTestId("signed-in-user")).toHaveTextContent(admin.display_name);
  });
});
