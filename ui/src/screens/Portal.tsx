import { useCallback, useState, type ReactElement } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { BrandMark, ErrorAlert } from "../components/common";
import { formatSyncedAt, initials } from "../format";
import { useNow } from "../hooks";
import type { AppInfo, SessionView, User } from "../types";
import { UsersPage } from "./UsersPage";
import { CompanyPage } from "./CompanyPage";

export type PortalTab = "users" | "company";

const TABS: { id: PortalTab; label: string; testId: string; icon: () => ReactElement }[] = [
  { id: "users", label: "Users", testId: "nav-users", icon: UsersIcon },
  { id: "company", label: "Company Profile", testId: "nav-company", icon: BuildingIcon },
];

interface Props {
  info: AppInfo;
  session: SessionView;
  onSignedOut: (notice?: string) => void;
}

export function Portal({ info, session: initialSession, onSignedOut }: Props) {
  const api = useApi();
  const [tab, setTab] = useState<PortalTab>("users");
  // Edits and "Sync now" update what the shell shows without a new login.
  const [session, setSession] = useState(initialSession);
  const [pageKey, setPageKey] = useState(0);
  const [syncing, setSyncing] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  const [shellError, setShellError] = useState<{ title: string; message: string } | null>(null);
  const now = useNow(30_000);
  // Stable identity: the pages list it as an effect dependency.
  const sessionLost = useCallback(
    (message: string) => onSignedOut(`You have been signed out: ${message}`),
    [onSignedOut],
  );

  async function signOut() {
    setSigningOut(true);
    setShellError(null);
    try {
      await api.logout();
      onSignedOut();
    } catch (reason) {
      setShellError({ title: "Could not sign out", message: toApiError(reason).message });
      setSigningOut(false);
    }
  }

  async function syncNow() {
    setSyncing(true);
    setShellError(null);
    try {
      setSession(await api.refresh());
      // Remount the page so it reads the refreshed cache.
      setPageKey((k) => k + 1);
    } catch (reason) {
      const error = toApiError(reason);
      if (isSessionLost(error)) sessionLost(error.message);
      else setShellError({ title: "Could not sync", message: error.message });
    } finally {
      setSyncing(false);
    }
  }

  const { user, company } = session;
  const isAdmin = user.role === "admin";
  const userSaved = useCallback(
    (saved: User) => setSession((s) => (s.user.id === saved.id ? { ...s, user: saved } : s)),
    [],
  );

  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="sidebar-brand">
          <BrandMark size={30} />
          <span className="sidebar-product">SecureClose</span>
        </div>
        <nav aria-label="Main" className="sidebar-nav">
          <ul>
            {TABS.map((t) => (
              <li key={t.id}>
                <button
                  type="button"
                  className="nav-item"
                  data-testid={t.testId}
                  aria-current={tab === t.id ? "page" : undefined}
                  onClick={() => setTab(t.id)}
                >
                  <t.icon />
                  <span>{t.label}</span>
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-footer">
          <span className="sidebar-company">{company.name}</span>
          <span className="app-version">Version {info.version}</span>
        </div>
      </aside>
      <div className="shell-body">
        <header className="topbar">
          <p className="sync-status" aria-live="polite">
            <span className={`status-dot ${session.online ? "status-online" : "status-offline"}`} aria-hidden="true" />
            <span>{session.online ? "Online" : "Offline"}</span>
            <span className="sync-sep" aria-hidden="true">
              ·
            </span>
            <span>{formatSyncedAt(session.last_synced_at, now)}</span>
            <button
              type="button"
              className="link-button sync-now"
              data-testid="sync-now"
              onClick={() => void syncNow()}
              disabled={syncing}
            >
              {syncing ? "Syncing…" : "Sync now"}
            </button>
          </p>
          <div className="topbar-user">
            <span className="avatar" aria-hidden="true">
              {initials(user.display_name)}
            </span>
            <div className="signed-in-user" data-testid="signed-in-user">
              <span className="signed-in-name">{user.display_name}</span>
              <span className="signed-in-email">{user.email}</span>
            </div>
            <button
              type="button"
              className="btn btn-secondary btn-small"
              data-testid="sign-out"
              onClick={() => void signOut()}
              disabled={signingOut}
            >
              {signingOut ? "Signing out…" : "Sign out"}
            </button>
          </div>
        </header>
        <main className="content" id="main">
          {shellError ? <ErrorAlert title={shellError.title} message={shellError.message} /> : null}
          {tab === "users" ? (
            <UsersPage key={pageKey} company={company} canEdit={isAdmin} onUserSaved={userSaved} onSessionLost={sessionLost} />
          ) : (
            <CompanyPage
              key={pageKey}
              initial={company}
              canEdit={isAdmin}
              onSaved={(saved) => setSession((s) => ({ ...s, company: saved }))}
              onSessionLost={sessionLost}
            />
          )}
        </main>
      </div>
    </div>
  );
}

function UsersIcon() {
  return (
    <svg className="nav-icon" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
      <circle cx="8" cy="7" r="3" />
      <path d="M2.5 16c.6-3 2.8-4.5 5.5-4.5s4.9 1.5 5.5 4.5" />
      <path d="M13.5 4.3a3 3 0 0 1 0 5.4M15.5 11.8c1.1.7 1.8 2 2 4.2" />
    </svg>
  );
}

function BuildingIcon() {
  return (
    <svg className="nav-icon" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
      <path d="M3.5 17V4.5l7-2v14.5M10.5 7.5l6 2V17M2 17h16" />
      <path d="M6 7h2M6 10h2M6 13h2M13 11.5h1.5M13 14h1.5" />
    </svg>
  );
}
