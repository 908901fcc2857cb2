import { beforeEach, describe, expect, it, vi } from "vitest";

// ipc.ts is the one module allowed to use @tauri-apps/api; here its `invoke`
// is replaced so the wrappers' command names, argument keys and error
// conversion are checked without a Tauri runtime.
const invoke = vi.fn();
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
const listen = vi.fn();
vi.mock("@tauri-apps/api/event", () => ({ listen: (...args: unknown[]) => listen(...args) }));

const { tauriApi } = await import("./ipc");
const { ApiCallError } = await import("./api");

beforeEach(() => {
  invoke.mockReset();
  listen.mockReset();
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
    await tauriApi.activate("a@b.c", "ABCD-EFGH-JKMN", "new pw");
    await tauriApi.checkNewPassword("new pw", "a@b.c");
    await tauriApi.changePassword("old pw", "new pw");
    await tauriApi.verifyCode("123456", "sms");
    await tauriApi.verifyCode("654321", "totp");
    await tauriApi.resendCode();
    await tauriApi.enrollPhone("+14805551234");
    await tauriApi.enrollTotp();
    await tauriApi.chooseCompany("c2");
    await tauriApi.cancelLogin();
    await tauriApi.updateUser("u1", { mobile_phone: null, two_factor_enabled: false });
    await tauriApi.updateCompany({ two_factor_required: true });
    await tauriApi.createUser({ display_name: "Ana", email: "ana@x.example", role: "user" });
    await tauriApi.resetPassword("u2");
    await tauriApi.revokeSessions("u3");
    await tauriApi.resetTwoFactor("u4", "lost phone");
    await tauriApi.totpStatus();
    await tauriApi.beginTotp();
    await tauriApi.confirmTotp("e1", "654321");
    await tauriApi.removeTotp();
    await tauriApi.verifyCode("ABCDE-23456", "recovery");
    await tauriApi.recoveryStatus();
    await tauriApi.regenerateRecoveryCodes();
    await tauriApi.reauthenticate("my password");
    await tauriApi.verifyReauth("123456", "sms");
    await tauriApi.verifyReauth("ABCDE-23456", "recovery");
    await tauriApi.resendReauthCode();
    await tauriApi.saveRecoveryCodes(["ABCDE-23456", "FGHJK-78923"]);
    await tauriApi.refresh();
    await tauriApi.syncStatus();
    await tauriApi.syncNow();
    await tauriApi.dismissSyncNotice(7);
    await tauriApi.verifyCode("123456", "sms", true);
    await tauriApi.trustedComputers();
    await tauriApi.revokeTrustedComputer("t1");
    await tauriApi.userTrustedComputers("u5");
    await tauriApi.revokeUserTrustedComputer("u5", "t2");

    expect(invoke.mock.calls).toEqual([
      ["app_info", undefined],
      ["reset_cache", undefined],
      ["set_cloud_url", { url: "https://cloud.example.com" }],
      ["login", { email: "a@b.c", password: "pw" }],
      ["logout", undefined],
      ["session", undefined],
      ["list_users", { query: "dan", offset: 50, limit: 50 }],
      ["company", undefined],
      ["activate", { email: "a@b.c", setupCode: "ABCD-EFGH-JKMN", newPassword: "new pw" }],
      ["check_new_password", { password: "new pw", email: "a@b.c" }],
      ["change_password", { currentPassword: "old pw", newPassword: "new pw" }],
      // Not remembered unless asked: the core never trusts a computer by default.
      ["verify_code", { code: "123456", method: "sms", remember: false }],
      ["verify_code", { code: "654321", method: "totp", remember: false }],
      ["resend_code", undefined],
      ["enroll_phone", { mobilePhone: "+14805551234" }],
      ["enroll_totp", undefined],
      ["choose_company", { companyId: "c2" }],
      ["cancel_login", undefined],
      // null must reach Rust as null: it means "remove the phone".
      ["update_user", { userId: "u1", update: { mobile_phone: null, two_factor_enabled: false } }],
      ["update_company", { update: { two_factor_required: true } }],
      ["create_user", { request: { display_name: "Ana", email: "ana@x.example", role: "user" } }],
      ["reset_password", { userId: "u2" }],
      ["revoke_sessions", { userId: "u3" }],
      ["reset_two_factor", { userId: "u4", reason: "lost phone" }],
      ["totp_status", undefined],
      ["begin_totp", undefined],
      ["confirm_totp", { enrollmentId: "e1", code: "654321" }],
      ["remove_totp", undefined],
      ["verify_code", { code: "ABCDE-23456", method: "recovery", remember: false }],
      ["recovery_status", undefined],
      // No password any more: the re-authentication before it replaces it.
      ["regenerate_recovery_codes", undefined],
      ["reauthenticate", { password: "my password" }],
      ["verify_reauth", { code: "123456", method: "sms" }],
      ["verify_reauth", { code: "ABCDE-23456", method: "recovery" }],
      ["resend_reauth_code", undefined],
      ["save_recovery_codes", { codes: ["ABCDE-23456", "FGHJK-78923"] }],
      ["refresh", undefined],
      ["sync_status", undefined],
      ["sync_now", undefined],
      ["dismiss_sync_notice", { id: 7 }],
      ["verify_code", { code: "123456", method: "sms", remember: true }],
      ["trusted_computers", undefined],
      ["revoke_trusted_computer", { id: "t1" }],
      ["user_trusted_computers", { userId: "u5" }],
      ["revoke_user_trusted_computer", { userId: "u5", id: "t2" }],
    ]);
  });

  it("listen to the sync-status event, hand its payload over and return the unlisten", async () => {
    const unlisten = vi.fn();
    listen.mockResolvedValueOnce(unlisten);
    const received: unknown[] = [];
    const stop = await tauriApi.onSyncStatus((status) => received.push(status));
    expect(listen.mock.calls[0]?.[0], "the event name the core emits").toBe("sync-status");
    const handler = listen.mock.calls[0]?.[1] as (event: { payload: unknown }) => void;
    handler({ payload: { state: "offline", pending_edits: 2 } });
    expect(received, "the listener gets the SyncStatus, not Tauri's event wrapper").toEqual([{ state: "offline", pending_edits: 2 }]);
    stop();
    expect(unlisten).toHaveBeenCalledTimes(1);
  });

  it("turn a refused listen (missing permission) into ApiCallError", async () => {
    listen.mockRejectedValueOnce("event.listen not allowed");
    await expect(tauriApi.onSyncStatus(() => undefined)).rejects.toMatchObject({ code: "internal", message: "event.listen not allowed" });
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

  it("keep the second-factor extras (attempts_left, retry_at) of a serialized ApiError", async () => {
    invoke.mockRejectedValueOnce({ code: "invalid_code", message: "That code is not correct.", attempts_left: 3 });
    const wrong = await tauriApi.verifyCode("000000", "sms").catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiCallError);
    expect(wrong, "the code dialog shows how many tries are left").toMatchObject({ code: "invalid_code", attempts_left: 3 });

    invoke.mockRejectedValueOnce({ code: "resend_too_soon", message: "Wait.", retry_at: 1_764_000_030_000 });
    await expect(tauriApi.resendCode(), "the resend countdown follows the cloud's time").rejects.toMatchObject({
      code: "resend_too_soon",
      retry_at: 1_764_000_030_000,
    });

    invoke.mockRejectedValueOnce({ code: "sms_limit", message: "Too many codes.", retry_at: "soon", attempts_left: null });
    const malformed = await tauriApi.resendCode().catch((e: unknown) => e);
    expect(malformed, "non-numeric extras are dropped, not shown as NaN").not.toHaveProperty("retry_at");
    expect(malformed).not.toHaveProperty("attempts_left");
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
