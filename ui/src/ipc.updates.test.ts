import { beforeEach, describe, expect, it, vi } from "vitest";

// The updater wrappers of ipc.ts, with Tauri's invoke and Channel replaced:
// the progress callback must be wired to the channel the command receives.
const invoke = vi.fn();
class FakeChannel<T> {
  onmessage: (message: T) => void = () => {};
}
vi.mock("@tauri-apps/api/core", () => ({
  invoke: (...args: unknown[]) => invoke(...args),
  Channel: FakeChannel,
}));

const { tauriApi } = await import("./ipc");

beforeEach(() => {
  invoke.mockReset();
});

describe("updater ipc", () => {
  it("checks through our own command, not the plugin's JS API", async () => {
    invoke.mockResolvedValue(null);
    await expect(tauriApi.checkUpdate?.()).resolves.toBeNull();
    expect(invoke).toHaveBeenCalledWith("check_update", undefined);
  });

  it("passes a channel whose messages reach the progress callback", async () => {
    const seen: unknown[] = [];
    invoke.mockImplementation(async (_command: string, args: { onProgress: FakeChannel<unknown> }) => {
      args.onProgress.onmessage({ event: "downloading", downloaded: 10, total: 100 });
      args.onProgress.onmessage({ event: "installing" });
      return null;
    });
    await tauriApi.installUpdate?.((p) => seen.push(p));
    expect(invoke.mock.calls[0]?.[0]).toBe("install_update");
    expect(seen).toEqual([{ event: "downloading", downloaded: 10, total: 100 }, { event: "installing" }]);
  });

  it("turns a refused update into an ApiCallError", async () => {
    invoke.mockRejectedValueOnce({ code: "update_failed", message: "The update was refused." });
    await expect(tauriApi.installUpdate?.(() => {})).rejects.toMatchObject({ code: "update_failed" });
  });
});
