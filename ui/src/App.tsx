import { useCallback, useEffect, useState } from "react";
import { useApi } from "./ApiContext";
import { toApiError } from "./api";
import type { AppInfo, LoginOutcome, SessionView } from "./types";
import { LoginScreen } from "./screens/LoginScreen";
import { Portal } from "./screens/Portal";
import { CacheUnreadableScreen } from "./screens/CacheUnreadableScreen";
import { assertNever } from "./format";
import { StartupErrorScreen, StartingScreen } from "./screens/StartupScreens";

/**
 * The app's top-level states. The login step is its own state machine in the
 * core; the UI mirrors the outcome. The 2FA issue adds states here for
 * `needs_second_factor` / `needs_phone_enrollment`.
 */
export type AppState =
  | { kind: "starting" }
  | { kind: "startup_error"; message: string }
  | { kind: "cache_unreadable"; info: AppInfo }
  | { kind: "signed_out"; info: AppInfo; notice?: string }
  | { kind: "signed_in"; info: AppInfo; session: SessionView };

export function App() {
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
      const session = await api.session();
      setState(session ? { kind: "signed_in", info, session } : { kind: "signed_out", info });
    } catch (reason) {
      setState({ kind: "startup_error", message: toApiError(reason).message });
    }
  }, [api]);

  useEffect(() => {
    void start();
  }, [start]);

  // Stable identity so the portal's pages don't refetch when App re-renders.
  const signedOut = useCallback((notice?: string) => {
    setState((s) => (s.kind === "signed_in" ? { kind: "signed_out", info: s.info, notice } : s));
  }, []);

  switch (state.kind) {
    case "starting":
      return <StartingScreen />;
    case "startup_error":
      return <StartupErrorScreen message={state.message} onRetry={() => void start()} />;
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
          onOutcome={(outcome: LoginOutcome) => {
            // Exhaustive on purpose: a new login state from Rust (2FA) is a
            // compile error here until the UI handles it.
            switch (outcome.state) {
              case "signed_in":
                setState({ kind: "signed_in", info: state.info, session: outcome.session });
                break;
              default:
                assertNever(outcome.state);
            }
          }}
        />
      );
    case "signed_in":
      return (
        <Portal
          info={state.info}
          session={state.session}
          onSignedOut={signedOut}
        />
      );
  }
}
