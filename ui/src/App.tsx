import { useCallback, useEffect, useState } from "react";
import { useApi } from "./ApiContext";
import { isSessionLost, toApiError } from "./api";
import type { AppInfo, LockedSession, RecoveryNotice, SessionView } from "./types";
import { LockScreen } from "./screens/LockScreen";
import { LoginScreen } from "./screens/LoginScreen";
import { Portal } from "./screens/Portal";
import { CacheUnreadableScreen } from "./screens/CacheUnreadableScreen";
import { StartupErrorScreen, StartingScreen } from "./screens/StartupScreens";
import { UpdateBanner } from "./components/UpdateBanner";

/**
 * The app's top-level states. The login step is its own state machine in the
 * core; the second factor (code or phone enrolment) is a dialog on the login
 * screen, so it stays `signed_out` until the core says `signed_in`.
 */
export type AppState =
  | { kind: "starting" }
  | { kind: "startup_error"; code: string; message: string }
  | { kind: "cache_unreadable"; info: AppInfo }
  | { kind: "signed_out"; info: AppInfo; notice?: string }
  /** A session restored locked (the lock outlives a restart). */
  | { kind: "locked"; info: AppInfo; who: LockedSession }
  /** `recovery`: what the sign-in said about recovery codes (codes to show once, dropped after). */
  | { kind: "signed_in"; info: AppInfo; session: SessionView; recovery?: RecoveryNotice | null };

export function App() {
  // Outside the state switch: an update can be offered (and installed) on
  // any screen, including a broken cache or a failed start.
  return (
    <>
      <Screens />
      <UpdateBanner />
    </>
  );
}

function Screens() {
  const api = useApi();
  const [state, setState] = useState<AppState>({ kind: "starting" });

  const start = useCallback(async () => {
    setState({ kind: "starting" });
    try {
      const info = await api.appInfo();
      if (info.cache_status === "unreadable") {
        setState({ kind: "cache_unreadable", info });
        return;
      }
      if (info.locked) {
        setState({ kind: "locked", info, who: info.locked });
        return;
      }
      let session: SessionView | null;
      try {
        session = await api.session();
      } catch (reason) {
        const error = toApiError(reason);
        // The core ended the session at start (its time limit): say why.
        if (!isSessionLost(error)) throw error;
        setState({ kind: "signed_out", info, notice: `You have been signed out: ${error.message}` });
        return;
      }
      setState(session ? { kind: "signed_in", info, session } : { kind: "signed_out", info });
    } catch (reason) {
      const error = toApiError(reason);
      setState({ kind: "startup_error", code: error.code, message: error.message });
    }
  }, [api]);

  useEffect(() => {
    void start();
  }, [start]);

  // Stable identity so the portal's pages don't refetch when App re-renders.
  const signedOut = useCallback((notice?: string) => {
    setState((s) => (s.kind === "signed_in" || s.kind === "locked" ? { kind: "signed_out", info: s.info, notice } : s));
  }, []);

  // Fresh codes are kept no longer than the dialog showing them.
  const recoveryCodesShown = useCallback(() => {
    setState((s) => (s.kind === "signed_in" && s.recovery ? { ...s, recovery: { ...s.recovery, issued: [] } } : s));
  }, []);

  switch (state.kind) {
    case "starting":
      return <StartingScreen />;
    case "startup_error":
      return <StartupErrorScreen code={state.code} message={state.message} onRetry={() => void start()} />;
    case "cache_unreadable":
      return (
        <CacheUnreadableScreen
          info={state.info}
          onReset={(info) =>
            setState({
              kind: "signed_out",
              info,
              notice: "A fresh encrypted cache was started. Your data will sync again when you sign in.",
            })
          }
        />
      );
    case "signed_out":
      return (
        <LoginScreen
          info={state.info}
          notice={state.notice}
          onInfoChange={(info) => setState({ kind: "signed_out", info, notice: state.notice })}
          onSignedIn={(session, recovery) => setState({ kind: "signed_in", info: state.info, session, recovery })}
        />
      );
    case "locked":
      return (
        <LockScreen
          displayName={state.who.display_name}
          email={state.who.email}
          onUnlocked={(session) => setState({ kind: "signed_in", info: { ...state.info, locked: null }, session })}
          onSignedOut={signedOut}
        />
      );
    case "signed_in":
      return (
        <Portal
          info={state.info}
          session={state.session}
          recovery={state.recovery ?? null}
          onRecoveryCodesShown={recoveryCodesShown}
          onSignedOut={signedOut}
        />
      );
  }
}
