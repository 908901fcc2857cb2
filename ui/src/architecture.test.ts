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

// Relative imports (`from "./x"`, `from "../dir/x"`, `import("./x")`), resolved to a path under src/.
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']*)["']/g;

function importsOf(file: { path: string; text: string }): string[] {
  const dir = file.path.includes("/") ? file.path.slice(0, file.path.lastIndexOf("/")) : "";
  return [...file.text.matchAll(RELATIVE_IMPORT)].map((m) =>
    relative(srcDir, resolve(srcDir, dir, m[1] ?? "")).split("\\").join("/"),
  );
}

// Whole screens use dialogs and components, dialogs use components, components use neither:
// a folder may import only the folders after it in this list (and itself, and the shared modules).
const LAYERS = ["screens", "dialogs", "components"];

function layerOf(path: string): number {
  return LAYERS.indexOf(path.split("/")[0] ?? "");
}

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

  it("components never import dialogs or screens, dialogs never import screens", () => {
    // Tests are left out: a dialog's test opens it from the screen that hosts it.
    const offenders = files
      .filter((f) => layerOf(f.path) >= 0 && !/\.test\.tsx?$/.test(f.path))
      .flatMap((f) =>
        importsOf(f)
          .filter((target) => layerOf(target) >= 0 && layerOf(target) < layerOf(f.path))
          .map((target) => `${f.path} -> ${target}`),
      );
    expect(offenders, "a piece must not depend on the screens or dialogs that use it").toEqual([]);
    const portal = files.find((f) => f.path === "screens/Portal.tsx");
    expect(importsOf(portal ?? { path: "", text: "" }), "the import pattern must see Portal's imports or it checks nothing").toContain(
      "components/SyncBar",
    );
    for (const layer of LAYERS) {
      expect(files.some((f) => f.path.startsWith(`${layer}/`)), `src/${layer}/ must hold files`).toBe(true);
    }
  });
});
