import { describe, expect, it } from "vitest";
import { dmsLabel, editCount, formatDate, formatPhone, formatRecoveryCode, formatSyncTime, initials, isRecoveryCode, normaliseRecoveryCode } from "./format";

describe("format", () => {
  it("shows a sync time as a clock reading today and with its date on another day", () => {
    const today = new Date(2026, 10, 28, 10, 42).getTime();
    const later = new Date(2026, 10, 28, 18, 5).getTime();
    expect(formatSyncTime(today, later, "en-GB"), "the status bar says 'Last synced 10:42'").toBe("10:42");
    expect(formatSyncTime(today, later, "en-US"), "12-hour locales keep their AM/PM").toMatch(/^10:42\sAM$/);
    const lastWeek = new Date(2026, 10, 21, 10, 42).getTime();
    const old = formatSyncTime(lastWeek, later, "en-GB");
    expect(old, "a sync from another day must show that day, not just '10:42'").toContain("21");
    expect(old).toContain("10:42");
  });

  it("shows a day without its time", () => {
    const when = new Date(2026, 11, 7, 15, 21).getTime();
    expect(formatDate(when, "en-US")).toBe("Dec 7, 2026");
    expect(formatDate(when, "en-GB")).toBe("7 Dec 2026");
  });

  it("counts edits in the singular and the plural", () => {
    expect(editCount(1)).toBe("1 edit");
    expect(editCount(2)).toBe("2 edits");
    expect(editCount(0)).toBe("0 edits");
  });

  it("formats North American numbers and leaves others as stored", () => {
    expect(formatPhone("+14805551234")).toBe("+1 (480) 555-1234");
    expect(formatPhone("+442071838750")).toBe("+442071838750");
    expect(formatPhone(null)).toBe("");
  });

  it("names known DMS kinds and falls back to the stored kind", () => {
    expect(dmsLabel({ kind: "CDK", supports_two_factor: true })).toBe("CDK Global");
    expect(dmsLabel({ kind: "homegrown", supports_two_factor: false })).toBe("homegrown");
  });

  it("makes avatar initials from first and last name", () => {
    expect(initials("Dana Whitfield")).toBe("DW");
    expect(initials("Cher")).toBe("C");
    expect(initials("  ")).toBe("?");
  });

  it("reads a recovery code typed in lower case, with spaces or dashes, and refuses other letters", () => {
    expect(normaliseRecoveryCode(" abcde-23456 ")).toBe("ABCDE23456");
    expect(normaliseRecoveryCode("abc de 234 56")).toBe("ABCDE23456");
    expect(isRecoveryCode("abcde-23456")).toBe(true);
    expect(isRecoveryCode("ABCDE-2345"), "9 characters").toBe(false);
    expect(isRecoveryCode("ABCDE-234567"), "11 characters").toBe(false);
    expect(isRecoveryCode("ABCDO-23456"), "O is not in the alphabet (read as 0)").toBe(false);
    expect(isRecoveryCode("ABCDE-23410"), "1 and 0 are not in the alphabet").toBe(false);
    expect(formatRecoveryCode("abcde23456")).toBe("ABCDE-23456");
  });
});
