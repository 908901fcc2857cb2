import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiCallError } from "../api";
import { DEMO_RECOVERY_CODES, FAKE_RECOVERY_FILE } from "../testing/fakeApi";
import { renderWithApi, spyApi } from "../testing/render";
import { RECOVERY_EXPLANATION, RecoveryCodesDialog, recoveryLeftText } from "./RecoveryCodes";

afterEach(() => {
  vi.restoreAllMocks();
});

function showCodes(codes = DEMO_RECOVERY_CODES, api = spyApi({ signedIn: true })) {
  const onDone = vi.fn();
  renderWithApi(<RecoveryCodesDialog codes={codes} onDone={onDone} />, api);
  return { api, onDone, user: userEvent.setup() };
}

describe("recovery codes dialog", () => {
  it("lists the ten codes with the warning, in a labelled dialog", () => {
    showCodes();
    const dialog = screen.getByRole("dialog", { name: "Your recovery codes" });
    expect(dialog).toHaveAttribute("data-testid", "recovery-dialog");
    expect(dialog).toHaveAccessibleDescription(RECOVERY_EXPLANATION);
    const shown = screen.getAllByTestId("recovery-code").map((li) => li.textContent);
    expect(shown).toEqual(DEMO_RECOVERY_CODES);
    expect(screen.getByTestId("recovery-copy"), "focus moves into the dialog").toHaveFocus();
  });

  it("shows codes the cloud sends without the dash in the ABCDE-23456 form", () => {
    showCodes(["abcde23456", "FGHJK34567"]);
    expect(screen.getAllByTestId("recovery-code").map((li) => li.textContent)).toEqual(["ABCDE-23456", "FGHJK-34567"]);
  });

  it("enables Done only once 'I have saved these codes' is ticked; Esc does not close before", async () => {
    const { onDone, user } = showCodes();
    const done = screen.getByTestId("recovery-done");
    expect(done).toBeDisabled();
    await user.keyboard("{Escape}");
    expect(onDone, "Esc must not lose unsaved codes").not.toHaveBeenCalled();
    await user.click(screen.getByLabelText("I have saved these codes"));
    expect(screen.getByTestId("recovery-ack")).toBeChecked();
    expect(done).toBeEnabled();
    await user.click(screen.getByTestId("recovery-ack"));
    expect(done, "unticking disables it again").toBeDisabled();
    await user.click(screen.getByTestId("recovery-ack"));
    await user.click(done);
    expect(onDone).toHaveBeenCalledTimes(1);
  });

  it("Copy puts exactly the ten codes on the clipboard, one a line", async () => {
    const { user } = showCodes();
    await user.click(screen.getByTestId("recovery-copy"));
    expect(await screen.findByTestId("recovery-copied")).toHaveTextContent("Copied.");
    expect(await navigator.clipboard.readText()).toBe(DEMO_RECOVERY_CODES.join("\n"));
  });

  it("Save as text file hands the codes to the core and says where the file is", async () => {
    const { api, user } = showCodes();
    await user.click(screen.getByTestId("recovery-save"));
    expect(await screen.findByTestId("recovery-saved")).toHaveTextContent(`Saved to ${FAKE_RECOVERY_FILE}`);
    expect(api.saveRecoveryCodes).toHaveBeenCalledWith(DEMO_RECOVERY_CODES);
  });

  it("says so when the file could not be written", async () => {
    const api = spyApi({ signedIn: true });
    api.saveRecoveryCodes.mockRejectedValueOnce(new ApiCallError("internal", "The Downloads folder is not writable."));
    const { user } = showCodes(DEMO_RECOVERY_CODES, api);
    await user.click(screen.getByTestId("recovery-save"));
    await waitFor(() => expect(screen.getByTestId("recovery-saved")).toHaveTextContent("Could not save the file: The Downloads folder is not writable."));
  });

  it("Print opens the print dialog", async () => {
    const print = vi.spyOn(window, "print").mockImplementation(() => undefined);
    const { user } = showCodes();
    await user.click(screen.getByTestId("recovery-print"));
    expect(print).toHaveBeenCalledTimes(1);
  });

  it("words the codes left after a sign-in with one", () => {
    expect(recoveryLeftText(7)).toBe("You signed in with a recovery code. 7 left.");
    expect(recoveryLeftText(2)).toContain("2 left. Generate new ones in your profile");
    expect(recoveryLeftText(0)).toBe("You have no recovery codes left. Generate new ones in your profile.");
  });
});
