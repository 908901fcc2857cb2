import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiCallError, type Api } from "../api";
import type { UpdateInfo, UpdateProgress } from "../types";
import { createFakeApi } from "../testing/fakeApi";
import { renderWithApi } from "../testing/render";
import { UPDATE_CHECK_INTERVAL_MS, UpdateBanner } from "./UpdateBanner";

const update: UpdateInfo = {
  version: "1.4.0",
  current_version: "1.3.2",
  notes: "Faster sync.\nFixes the login screen on small displays.",
  published_at: 1_764_000_000_000,
};

function withUpdater(checkUpdate: Api["checkUpdate"], installUpdate?: Api["installUpdate"]): Api {
  return { ...createFakeApi(), checkUpdate, installUpdate: installUpdate ?? vi.fn(() => new Promise<void>(() => {})) };
}

async function status() {
  return screen.findByTestId("update-status");
}

afterEach(() => {
  vi.useRealTimers();
});

describe("update banner", () => {
  it("says nothing visible when the app is up to date", async () => {
    renderWithApi(<UpdateBanner />, withUpdater(vi.fn(async () => null)));
    await waitFor(async () => expect(await status()).toHaveAttribute("data-state", "current"));
    expect(screen.queryByRole("button"), "an up-to-date app shows no update controls").toBeNull();
  });

  it("offers the update with its version and release notes", async () => {
    renderWithApi(<UpdateBanner />, withUpdater(vi.fn(async () => update)));
    expect(await screen.findByTestId("update-title")).toHaveTextContent("SecureClose 1.4.0 is available");
    expect(screen.getByText("You have 1.3.2.")).toBeInTheDocument();
    expect(screen.getByTestId("update-notes")).toHaveTextContent("Fixes the login screen on small displays.");
    expect(screen.getByTestId("update-install")).toHaveTextContent("Install and restart");
  });

  it("shows download progress, then installing, while the core installs", async () => {
    let report: (p: UpdateProgress) => void = () => {};
    const install = vi.fn((onProgress: (p: UpdateProgress) => void) => {
      report = onProgress;
      return new Promise<void>(() => {}); // the app restarts: it never settles
    });
    renderWithApi(<UpdateBanner />, withUpdater(vi.fn(async () => update), install));
    await userEvent.setup().click(await screen.findByTestId("update-install"));
    expect(install, "Install must go to the core (which verifies the signature)").toHaveBeenCalledTimes(1);
    act(() => report({ event: "downloading", downloaded: 2_500_000, total: 10_000_000 }));
    expect(await status()).toHaveAttribute("data-state", "downloading");
    expect(screen.getByText(/Downloading SecureClose 1\.4\.0 — 25%/)).toBeInTheDocument();
    expect(screen.getByTestId("update-progress")).toHaveAttribute("value", "25");
    act(() => report({ event: "installing" }));
    expect(await screen.findByText(/Installing SecureClose 1\.4\.0/)).toBeInTheDocument();
  });

  it("shows a refused install quietly and lets the person retry", async () => {
    const install = vi
      .fn<NonNullable<Api["installUpdate"]>>()
      .mockRejectedValueOnce(
        new ApiCallError("update_failed", "The update was refused: its signature does not match SecureClose's release key."),
      )
      .mockImplementation(() => new Promise<void>(() => {}));
    renderWithApi(<UpdateBanner />, withUpdater(vi.fn(async () => update), install));
    const user = userEvent.setup();
    await user.click(await screen.findByTestId("update-install"));
    expect(await screen.findByTestId("update-error")).toHaveTextContent("signature does not match");
    expect(screen.queryByRole("alert"), "a failed update is not an alarm: the app keeps working").toBeNull();
    await user.click(screen.getByTestId("update-install"));
    expect(install).toHaveBeenCalledTimes(2);
  });

  it("shows a failed check as one muted line", async () => {
    const check = vi.fn(async () => {
      throw new ApiCallError("update_failed", "Could not check for updates: connection refused");
    });
    renderWithApi(<UpdateBanner />, withUpdater(check));
    const line = await screen.findByText("Couldn't check for updates.");
    expect(line).toHaveAttribute("title", "Could not check for updates: connection refused");
    expect(screen.queryByRole("button"), "nothing to click: the next periodic check retries").toBeNull();
  });

  it("checks again every few hours and respects Later for the same version", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const check = vi.fn<NonNullable<Api["checkUpdate"]>>().mockResolvedValue(null);
    renderWithApi(<UpdateBanner />, withUpdater(check));
    await waitFor(() => expect(check).toHaveBeenCalledTimes(1));

    check.mockResolvedValue(update);
    await act(async () => {
      vi.advanceTimersByTime(UPDATE_CHECK_INTERVAL_MS);
    });
    expect(check, "a long-running app must still learn about new releases").toHaveBeenCalledTimes(2);
    await userEvent.setup().click(await screen.findByTestId("update-later"));
    expect(screen.queryByTestId("update-title")).toBeNull();

    await act(async () => {
      vi.advanceTimersByTime(UPDATE_CHECK_INTERVAL_MS);
    });
    expect(check).toHaveBeenCalledTimes(3);
    expect(screen.queryByTestId("update-title"), "Later holds for the version that was put off").toBeNull();

    check.mockResolvedValue({ ...update, version: "1.5.0" });
    await act(async () => {
      vi.advanceTimersByTime(UPDATE_CHECK_INTERVAL_MS);
    });
    expect(await screen.findByTestId("update-title")).toHaveTextContent("SecureClose 1.5.0 is available");
  });

  it("renders nothing where there is no updater (dev mock mode)", () => {
    const { container } = renderWithApi(<UpdateBanner />, createFakeApi());
    expect(container).toBeEmptyDOMElement();
  });
});
