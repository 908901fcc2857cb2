import { describe, expect, it } from "vitest";
import { dmsLabel, formatPhone, formatSyncedAt, initials } from "./format";

describe("format", () => {
  const now = Date.UTC(2026, 10, 28, 12, 0, 0);

  it("describes the last sync relative to now, and says when there was none", () => {
    expect(formatSyncedAt(null, now)).toBe("Not synced yet");
    expect(formatSyncedAt(now - 10_000, now)).toBe("Last synced just now");
    expect(formatSyncedAt(now - 60_000, now)).toBe("Last synced 1 minute ago");
    expect(formatSyncedAt(now - 5 * 60_000, now)).toBe("Last synced 5 minutes ago");
    expect(formatSyncedAt(now - 3 * 3_600_000, now)).toBe("Last synced 3 hours ago");
    expect(formatSyncedAt(now - 3 * 86_400_000, now), "old syncs show a date, not '72 hours ago'").toMatch(/^Last synced \D*\d/);
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
});
