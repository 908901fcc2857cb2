import { useCallback, useEffect, useRef, useState, type ReactElement } from "react";
import { useApi } from "../ApiContext";
import { isSessionLocked, isSessionLost, toApiError } from "../api";
import { BrandMark, ErrorAlert } from "../components/common";
import { editCount, initials } from "../format";
import { useIdleLock, useNow } from "../hooks";
import { LockScreen } from "./LockScreen";
import type { AppInfo, RecoveryNotice, SessionView, SyncState, SyncStatus, User } from "../types";
import { UsersPage } from "./UsersPage";
import { CompanyPage } from "./CompanyPage";
import { ProfileDialog } from "../dialogs/ProfileDialog";
import { RecoveryCodesDialog, RecoveryUsedNotice } from "../dialogs/RecoveryCodes";
import { OFFLINE_SIGN_IN_MESSAGE, SyncNotices, SyncStatusLine, useSyncStatus } from "../components/SyncBar";

/** Sync states in which an edit stays on this computer for now. */
const WAITING_STATES: ReadonlySet<SyncState> = new Set<SyncState>(["offline", "waiting_to_retry", "needs_sign_in"]);

export type PortalTab = "users" | "company";

const TABS: { id: PortalTab; label: string; testId: string; icon: () => ReactElement }[] = [
  { id: "users", label: "Users", testId: "nav-users", icon: UsersIcon },
  { id: "company", label: "Company Profile", testId: "nav-company", icon: BuildingIcon },
];

interface Props {
  info: AppInfo;
  session: SessionView;
  /** What the sign-in said about recovery codes (null: nothing to say). */
  recovery?: RecoveryNotice | null;
  /** The fresh codes were shown and acknowledged: the caller drops them. */
  onRecoveryCodesShown?: () => void;
  onSignedOut: (notice?: string) => void;
}

export function Portal({ info, session: initialSession, recovery = null, onRecoveryCodesShown, onSignedOut }: Props) {
  const api = useApi();
  const [tab, setTab] = useState<PortalTab>("users");
  // Edits and "Sync now" update what the shell shows without a new login.
  const [session, setSession] = useState(initialSession);
  // Bumped when a sync lands: the pages re-read the cache in place (no
  // remount, so paging, search and open dialogs survive).
  const [dataVersion, setDataVersion] = useState(0);
  const [sync, setSync] = useState<SyncStatus | null>(null);
  // A first sign-in on this computer brings the company's users in through
  // the sync, page by page: until that first sync is done, the Users tab says so.
  const [firstSync, setFirstSync] = useState(initialSession.last_synced_at === null);
  const [syncBusy, setSyncBusy] = useState(false);
  const [signingOut, setSigningOut] = useState(false);
  // Read by the sync callback: a sign-out the person asked for also stops
  // the sync, and that must not read as "you have been signed out".
  const signingOutRef = useRef(false);
  const [shellError, setShellError] = useState<{ title: string; message: string } | null>(null);
  const [profileOpen, setProfileOpen] = useState(false);
  const profileButton = useRef<HTMLButtonElement>(null);
  // Signed in with a recovery code: how many are left, until dismissed.
  const [codesLeft, setCodesLeft] = useState<number | null>(recovery?.left ?? null);
  const [codesShown, setCodesShown] = useState(false);
  const freshCodes = codesShown ? [] : (recovery?.issued ?? []);
  const now = useNow(30_000);
  // Stable identity: the pages list it as an effect dependency.
  const sessionLost = useCallback(
    (message: string) => onSignedOut(`You have been signed out: ${message}`),
    [onSignedOut],
  );

  // The idle lock. The portal stays mounted under the lock screen (hidden
  // and inert), so an open dialog keeps what was typed; the core refuses
  // reads and edits meanwhile. Locked here first, then in the core: the
  // screen never waits for the data to be covered.
  const [locked, setLocked] = useState(false);
  const lockedRef = useRef(false);
  const focusBeforeLock = useRef<HTMLElement | null>(null);
  const showLock = useCallback(() => {
    if (lockedRef.current) return;
    lockedRef.current = true;
    focusBeforeLock.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    setLocked(true);
  }, []);
  const lockNow = useCallback(() => {
    showLock();
    api.lockSession().catch((reason: unknown) => {
      const error = toApiError(reason);
      if (isSessionLost(error)) sessionLost(error.message);
    });
  }, [api, showLock, sessionLost]);
  useIdleLock(session.idle_lock_minutes, !locked && !signingOut, lockNow);
  const unlocked = useCallback((fresh: SessionView) => {
    lockedRef.current = false;
    setSession(fresh);
    setLocked(false);
    // Whatever the sync brought meanwhile (the pages re-read in place).
    setDataVersion((v) => v + 1);
  }, []);
  useEffect(() => {
    if (locked) return;
    const previous = focusBeforeLock.current;
    focusBeforeLock.current = null;
    if (previous && previous.isConnected) previous.focus();
  }, [locked]);

  // What the last status said, to tell a landed sync from any other event.
  const seen = useRef({ lastSyncedAt: initialSession.last_synced_at, online: initialSession.online });
  const syncStatusChanged = useCallback(
    (next: SyncStatus) => {
      setSync(next);
      if (next.state === "idle" && next.last_synced_at !== null) setFirstSync(false);
      const landed = next.last_synced_at !== seen.current.lastSyncedAt;
      const sessionMayHaveChanged = landed || next.online !== seen.current.online || next.state === "stopped";
      seen.current = { lastSyncedAt: next.last_synced_at, online: next.online };
      // While locked the core refuses the pages' reads: the unlock re-reads.
      if (landed && !lockedRef.current) setDataVersion((v) => v + 1);
      if (!sessionMayHaveChanged || lockedRef.current) return;
      // The session view is read from the cache: the signed-in user and the
      // company may have changed, an offline sign-in may have resumed, and a
      // stopped sync may mean the core signed out (the cloud said 401).
      api.session().then(
        (fresh) => {
          if (fresh) setSession(fresh);
          else if (!signingOutRef.current) onSignedOut("You have been signed out. Sign in again to continue.");
        },
        (reason: unknown) => {
          const error = toApiError(reason);
          if (isSessionLost(error)) sessionLost(error.message);
          else if (isSessionLocked(error)) showLock();
        },
      );
    },
    [api, onSignedOut, sessionLost, showLock],
  );
  useSyncStatus(api, syncStatusChanged);

  async function signOut(notice?: string) {
    signingOutRef.current = true;
    setSigningOut(true);
    setShellError(null);
    try {
      await api.logout();
      onSignedOut(notice);
    } catch (reason) {
      setShellError({ title: "Could not sign out", message: toApiError(reason).message });
      signingOutRef.current = false;
      setSigningOut(false);
    }
  }

  /** Runs a sync action of the core and shows the status it returns. */
  async function syncAction(action: () => Promise<SyncStatus>, failure: string) {
    setSyncBusy(true);
    setShellError(null);
    try {
      syncStatusChanged(await action());
    } catch (reason) {
      const error = toApiError(reason);
      if (isSessionLost(error)) sessionLost(error.message);
      else setShellError({ title: failure, message: error.message });
    } finally {
      setSyncBusy(false);
    }
  }

  function signInAgain() {
    const pending = sync?.pending_edits ?? 0;
    void signOut(
      pending > 0
        ? `Sign in to sync the ${editCount(pending)} waiting on this computer.`
        : "Sign in to sync with SecureClose again.",
    );
  }

  const { user, company } = session;
  const isAdmin = user.role === "admin";
  // Account actions go to the cloud at once (never queued): an offline
  // sign-in has no cloud session, and the sync knows best whether it answers.
  const connected = !session.offline_sign_in && (sync ? sync.online : session.online);
  const userSaved = useCallback(
    (saved: User) => setSession((s) => (s.user.id === saved.id ? { ...s, user: saved } : s)),
    [],
  );

  return (
    <>
      <div className="portal-frame" data-testid="portal" hidden={locked} inert={locked}>
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
              <SyncStatusLine
                status={sync}
                online={session.online}
                now={now}
                busy={syncBusy || signingOut}
                onSyncNow={() => void syncAction(() => api.syncNow(), "Could not sync")}
                onSignInAgain={signInAgain}
              />
              <div className="topbar-user">
                <span className="avatar" aria-hidden="true">
                  {initials(user.display_name)}
                </span>
                <button
                  type="button"
                  ref={profileButton}
                  className="profile-button"
                  data-testid="open-profile"
                  aria-haspopup="dialog"
                  onClick={() => setProfileOpen(true)}
                >
                  {/* The name is the visible text (WCAG 2.5.3: what is seen is
                      what a voice user says) after a hidden prefix; the avatar's
                      initials stay outside, so they are not part of either. */}
                  <span className="visually-hidden">Your profile: </span>
                  <span className="signed-in-user" data-testid="signed-in-user">
                    <span className="signed-in-name">{user.display_name}</span>
                    <span className="signed-in-email">{user.email}</span>
                  </span>
                </button>
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
              {session.offline_sign_in ? (
                <p className="notice" data-testid="offline-banner">
                  {OFFLINE_SIGN_IN_MESSAGE}
                </p>
              ) : null}
              {codesLeft !== null ? <RecoveryUsedNotice left={codesLeft} onDismiss={() => setCodesLeft(null)} /> : null}
              <SyncNotices
                notices={sync?.notices ?? []}
                onDismiss={(id) => void syncAction(() => api.dismissSyncNotice(id), "Could not dismiss the notice")}
              />
              {shellError ? <ErrorAlert title={shellError.title} message={shellError.message} /> : null}
              {tab === "users" ? (
                <UsersPage
                  company={company}
                  canEdit={isAdmin}
                  dataVersion={dataVersion}
                  onUserSaved={userSaved}
                  onSessionLost={sessionLost}
                  savesWaitForSync={sync !== null && WAITING_STATES.has(sync.state)}
                  downloading={firstSync && sync?.state === "syncing"}
                  connected={connected}
                  currentUserId={user.id}
                />
              ) : (
                <CompanyPage
                  initial={company}
                  dataVersion={dataVersion}
                  canEdit={isAdmin}
                  onSaved={(saved) => setSession((s) => ({ ...s, company: saved }))}
                  onSessionLost={sessionLost}
                />
              )}
            </main>
          </div>
        </div>
        {/* Inside the frame: the idle lock hides and disables it with the rest. */}
        {profileOpen ? (
          <ProfileDialog
            user={user}
            company={company}
            online={(sync?.online ?? session.online) && !session.offline_sign_in}
            onClose={() => setProfileOpen(false)}
            onSessionLost={sessionLost}
          />
        ) : null}
        {freshCodes.length > 0 ? (
          <RecoveryCodesDialog
            codes={freshCodes}
            lead="Two-step verification is set up. Save these recovery codes now."
            // The sign-in form that had focus is gone: the profile is where new codes are made.
            returnFocus={() => profileButton.current?.focus()}
            onDone={() => {
              setCodesShown(true);
              onRecoveryCodesShown?.();
            }}
          />
        ) : null}
      </div>
      {locked ? (
        <LockScreen
          displayName={user.display_name}
          email={user.email}
          onUnlocked={unlocked}
          onSignedOut={(notice) => {
            signingOutRef.current = true;
            onSignedOut(notice);
          }}
        />
      ) : null}
    </>
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
