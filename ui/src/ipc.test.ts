import { beforeEach, describe, expect, it, vi } from "vitest";

// ipc.ts is the one module allowed to use @tauri-apps/api; here its `invoke`
// is replaced so the wrappers' command names, argument keys and error
// conversion are checked without a Tauri runtime.
const invoke = vi.fn();
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...args: unknown[]) => invoke(...args) }));

const { tauriApi } = await import("./ipc");
const { ApiCallError } = await import("./api");

beforeEach(() => {
  invoke.mockReset();
});

describe("ipc wrappers", () => {
  it("call the snake_case commands with camelCase argument objects", async () => {
    invoke.mockResolvedValue(null);
    await tauriApi.appInfo();
    await tauriApi.resetCache();
    await tauriApi.setCloudUrl("https://cloud.example.com");
    await tauriApi.login("a@b.c", "pw");
    await tauriApi.logout();
    await tauriApi.session();
    await tauriApi.listUsers("dan", 50, 50);
    await tauriApi.company();

    expect(invoke.mock.calls).toEqual([
      ["app_info", undefined],
      ["reset_cache", undefined],
      ["set_cloud_url", { url: "https://cloud.example.com" }],
      ["login", { email: "a@b.c", password: "pw" }],
      ["logout", undefined],
      ["session", undefined],
      ["list_users", { query: "dan", offset: 50, limit: 50 }],
      ["company", undefined],
    ]);
  });

  it("pass the command's result through", async () => {
    invoke.mockResolvedValueOnce({ users: [], total: 0 });
    await expect(tauriApi.listUsers("", 0, 50)).resolves.toEqual({ users: [], total: 0 });
  });

  it("turn a serialized ApiError rejection into ApiCallError with the same code and message", async () => {
    invoke.mockRejectedValueOnce({ code: "invalid_credentials", message: "The email or password is incorrect." });
    const error = await tauriApi.login("a@b.c", "bad").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiCallError);
    expect(error).toMatchObject({ code: "invalid_credentials", message: "The email or password is incorrect." });
  });

  it("turn unknown rejections into code 'internal' keeping the text", async () => {
    invoke.mockRejectedValueOnce("Command list_users not found");
    await expect(tauriApi.listUsers("", 0, 50)).rejects.toMatchObject({
      code: "internal",
      message: "Command list_users not found",
    });
    invoke.mockRejectedValueOnce(undefined);
    await expect(tauriApi.company(), "even a rejection with nothing still has a message to show").rejects.toMatchObject({
      code: "internal",
      message: expect.stringMatching(/.+/),
    });
  });
});
