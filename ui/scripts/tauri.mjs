// Runs the Tauri CLI for this repository's layout from any OS: the CLI does
// not find ../src-tauri from ui/ by itself, and setting the variables inline in
// an npm script is shell-specific (PowerShell vs sh).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const uiDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cli = createRequire(import.meta.url).resolve("@tauri-apps/cli/tauri.js");
const result = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], {
  stdio: "inherit",
  env: {
    ...process.env,
    TAURI_APP_PATH: resolve(uiDir, "..", "src-tauri"),
    TAURI_FRONTEND_PATH: uiDir,
  },
});
process.exit(result.status ?? 1);
