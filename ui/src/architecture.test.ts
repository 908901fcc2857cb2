import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// Vitest runs from ui/ (where vite.config.ts is); jsdom hides a file: import.meta.url.
const srcDir = resolve(process.cwd(), "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|js|jsx|mjs)$/.test(name) ? [path] : [];
  });
}

const files = sourceFiles(srcDir).map((path) => ({
  path: relative(srcDir, path).split("\\").join("/"),
  text: readFileSync(path, "utf8"),
}));

// Static `import ... from`, `export ... from`, bare `import "..."`, dynamic
// `import("...")` and `require("...")` of @tauri-apps/api or a subpath.
const TAURI_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']@tauri-apps\/api(?:\/[^"']*)?["']/;

describe("architecture", () => {
  it("finds the source files it checks", () => {
    expect(files.map((f) => f.path), "the scan must see the real sources or it proves nothing").toContain("ipc.ts");
  });

  it("only src/ipc.ts imports @tauri-apps/api", () => {
    const offenders = files.filter((f) => f.path !== "ipc.ts" && TAURI_IMPORT.test(f.text)).map((f) => f.path);
    expect(offenders, "every call into Tauri must go through the typed wrappers in ipc.ts").toEqual([]);
    const ipc = files.find((f) => f.path === "ipc.ts");
    expect(TAURI_IMPORT.test(ipc?.text ?? ""), "the pattern must match ipc.ts's own import or it matches nothing").toBe(true);
  });

  it("no UI code uses web storage", () => {
    const storage = /\b(localStorage|sessionStorage|indexedDB)\b/;
    const offenders = files
      .filter((f) => !f.path.endsWith(".test.ts") && !f.path.endsWith(".test.tsx"))
      .filter((f) => storage.test(f.text))
      .map((f) => f.path);
    expect(offenders, "secrets must never reach the web view's storage; the UI keeps none").toEqual([]);
  });
});
