/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Tauri serves the built files from ui/dist under a strict CSP: everything is
// bundled (no CDN, no inline script), and the dev server port is fixed because
// src-tauri's devUrl points at it.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  // Default host ("localhost") to match src-tauri's devUrl; never all interfaces.
  server: {
    port: 5173,
    strictPort: true,
  },
  preview: {
    port: 4173,
    strictPort: true,
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK / WKWebView (Safari 15+) and WebView2 (Chromium) all run ES2021.
    target: ["es2021", "safari15", "chrome105"],
    // The polyfill would be an extra inline-free module anyway, but every
    // webview we ship on supports modulepreload natively.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/testing/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
