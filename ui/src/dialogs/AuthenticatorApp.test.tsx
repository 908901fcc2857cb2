import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FAKE_TOTP_CODE, FAKE_TOTP_SECRET, demoUsers } from "../testing/fakeApi";
import { renderApp, spyApi } from "../testing/render";
import { APP_ADDED, APP_REMOVED, groupSecret, qrMatrix } from "./AuthenticatorApp";
import { APP_NEEDS_CONNECTION } from "./ProfileDialog";

const admin = demoUsers[0]!;

async function openProfile() {
  const user = userEvent.setup();
  await user.click(await screen.findByTestId("open-profile"));
  expect(await screen.findByTestId("profile-email")).toHaveTextContent(admin.email);
  return user;
}

describe("Authenticator app (from your profile)", () => {
  it("groups the key in fours for typing", () => {
    expect(groupSecret("JBSWY3DPEHPK3PXPJB")).toBe("JBSW Y3DP EHPK 3PXP JB");
    expect(groupSecret("")).toBe("");
  });

  it("shows a QR code of the otpauth URI and the key with Copy, and turns on with the first code", async () => {
    const api = spyApi({ signedIn: true, reauthenticated: true });
    renderApp(api);
    const user = await openProfile();
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off"));
    await user.click(screen.getByTestId("open-totp-setup"));

    const dialog = await screen.findByTestId("totp-setup-dialog");
    expect(dialog).toHaveAttribute("role", "dialog");
    const qr = await screen.findByTestId("totp-qr");
    expect(qr).toHaveAttribute("role", "img");
    // The drawing is the QR code of exactly the URI the core handed over.
    const enrollment = await api.beginTotp.mock.results[0]!.value;
    const matrix = qrMatrix(enrollment.otpauth_uri);
    expect(qr.getAttribute("viewBox")).toBe(`0 0 ${matrix.size + 8} ${matrix.size + 8}`);
    let dark = 0;
    for (let row = 0; row < matrix.size; row += 1) {
      for (let col = 0; col < matrix.size; col += 1) if (matrix.isDark(row, col)) dark += 1;
    }
    expect(matrix.size, "a QR code of the whole URI, not an empty one").toBeGreaterThan(21);
    expect(qr.querySelector("path")?.getAttribute("d")?.split("M").length).toBe(dark + 1);
    expect(screen.getByTestId("totp-secret")).toHaveTextContent(groupSecret(FAKE_TOTP_SECRET));

    await user.click(screen.getByTestId("totp-copy"));
    expect(await screen.findByTestId("totp-copied")).toHaveTextContent("Copied.");
    expect(await navigator.clipboard.readText(), "the key is copied without the spaces").toBe(FAKE_TOTP_SECRET);

    await user.type(screen.getByTestId("totp-code"), "000000");
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("totp-error")).toHaveTextContent("That code is not correct.");
    expect(screen.getByTestId("totp-attempts")).toHaveTextContent("4 attempts left");

    await user.type(screen.getByTestId("totp-code"), FAKE_TOTP_CODE);
    await user.click(screen.getByTestId("totp-confirm"));
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_ADDED);
    expect(api.confirmTotp).toHaveBeenLastCalledWith(enrollment.enrollment_id, FAKE_TOTP_CODE);
    expect(screen.getByTestId("profile-totp")).toHaveTextContent("On");
    expect(screen.queryByTestId("open-totp-setup")).toBeNull();
  });

  it("removes the app only after asking", async () => {
    const api = spyApi({ signedIn: true, totpUsers: [admin.email], reauthenticated: true });
    renderApp(api);
    const user = await openProfile();
    await waitFor(() => expect(screen.getByTestId("profile-totp")).toHaveTextContent("On"));
    await user.click(screen.getByTestId("totp-remove"));
    await user.click(screen.getByTestId("totp-remove-cancel"));
    expect(api.removeTotp).not.toHaveBeenCalled();
    await user.click(screen.getByTestId("totp-remove"));
    await user.click(screen.getByTestId("totp-remove-confirm"));
    expect(await screen.findByTestId("password-changed")).toHaveTextContent(APP_REMOVED);
    expect(api.removeTotp).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("profile-totp")).toHaveTextContent("Off");
  });

  it("offline, it says setting up needs the connection and asks nothing of the cloud", async () => {
    const api = spyApi({ signedIn: true, offlineSignIn: true });
    renderApp(api);
    await openProfile();
    expect(screen.getByTestId("totp-offline")).toHaveTextContent(APP_NEEDS_CONNECTION);
    expect(screen.queryByTestId("open-totp-setup")).toBeNull();
    expect(api.totpStatus).not.toHaveBeenCalled();
  });
});
