import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ApiProvider } from "./ApiContext";
import type { Api } from "./api";
import { tauriApi } from "./ipc";
import "./styles.css";

async function pickApi(): Promise<Api> {
  // Dev-only: `npm run dev` then open /?mock to see the UI with demo data in a
  // plain browser. `import.meta.env.DEV` is false in `vite build`, so this
  // branch and the fake are removed from the shipped bundle.
  if (import.meta.env.DEV && new URLSearchParams(window.location.search).has("mock")) {
    const { createFakeApi, DEMO_RECOVERY_CODES } = await import("./testing/fakeApi");
    const mode = new URLSearchParams(window.location.search).get("mock");
    if (mode === "offline") {
      // Signed in offline: edits count up as "waiting to sync"; Sync now changes nothing.
      return createFakeApi({ signedIn: true, offlineSignIn: true, sync: { state: "offline", online: false } });
    }
    return createFakeApi({
      signedIn: mode === "signed-in",
      // Marcus (2FA, texted codes) can also sign in with a recovery code.
      recoveryCodes: { "marcus.lee@sunrise-motors.example": DEMO_RECOVERY_CODES },
      appInfo: mode === "unreadable" ? { cache_status: "unreadable" } : {},
    });
  }
  return tauriApi;
}

const container = document.getElementById("root");
if (container) {
  void pickApi().then((api) => {
    createRoot(container).render(
      <StrictMode>
        <ApiProvider api={api}>
          <App />
        </ApiProvider>
      </StrictMode>,
    );
  });
}
