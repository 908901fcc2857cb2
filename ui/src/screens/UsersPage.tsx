import { useEffect, useState } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { ErrorAlert, Spinner } from "../components/common";
import { useDebouncedValue } from "../hooks";
import type { Company, SetupCodeGrant, User } from "../types";
import { UserEditDialog } from "../dialogs/UserEditDialog";
import { AddUserDialog } from "../dialogs/AddUserDialog";
import { SetupCodeDialog } from "../dialogs/SetupCodeDialog";
import { editColumn, userColumns, type UserColumn } from "../components/usersColumns";

export const PAGE_SIZE = 50;
export const SEARCH_DEBOUNCE_MS = 250;
export const ADD_USER_NEEDS_CONNECTION = "Adding users needs a connection";

interface PageData {
  users: User[];
  total: number;
  /** The offset these rows were loaded at (the request may already be newer). */
  offset: number;
}

type Load =
  | { status: "loading"; previous: PageData | null }
  | ({ status: "ready" } & PageData)
  | { status: "error"; message: string };

interface Props {
  company: Company;
  columns?: UserColumn[];
  /** Admins get an Edit button per row; everyone else sees no edit controls. */
  canEdit?: boolean;
  /** After an edit: the cloud's copy of the user (e.g. to refresh the top bar). */
  onUserSaved?: (user: User) => void;
  /** The cloud can't be reached now: a saved edit waits on this computer. */
  savesWaitForSync?: boolean;
  /** Called instead of showing the error when the session is gone. */
  onSessionLost?: (message: string) => void;
  /** A change re-reads the current page from the cache (a sync landed), keeping the rows shown meanwhile. */
  dataVersion?: number;
  /** This computer's first sync of the company is still bringing its users in (page by page). */
  downloading?: boolean;
  /** The cloud can be reached: adding users, resets and sign-outs need it (never queued). */
  connected?: boolean;
  /** The signed-in user's id (their own row offers no password reset). */
  currentUserId?: string;
}

export function UsersPage({
  company,
  columns = userColumns,
  canEdit = false,
  onUserSaved,
  onSessionLost,
  dataVersion = 0,
  savesWaitForSync = false,
  downloading = false,
  connected = true,
  currentUserId,
}: Props) {
  const api = useApi();
  const [search, setSearch] = useState("");
  const debouncedSearch = useDebouncedValue(search.trim(), SEARCH_DEBOUNCE_MS);
  // Query and offset change together so a new search never fetches a page
  // of the old query first.
  const [request, setRequest] = useState({ query: "", offset: 0 });
  const [reload, setReload] = useState(0);
  const [load, setLoad] = useState<Load>({ status: "loading", previous: null });
  const [editing, setEditing] = useState<User | null>(null);
  const [savedNotice, setSavedNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  // The one place a setup code is held: this state, until the dialog closes.
  const [setupCode, setSetupCode] = useState<{ grant: SetupCodeGrant; reason: "added" | "reset" } | null>(null);
  const shownColumns = canEdit
    ? [
        ...columns,
        editColumn((u) => {
          setSavedNotice(null);
          setEditing(u);
        }),
      ]
    : columns;

  /** The row shows the cloud's answer, not what was typed; the dialog closes. */
  function replaceRow(user: User) {
    const replace = (users: User[]) => users.map((u) => (u.id === user.id ? user : u));
    setLoad((prev) =>
      prev.status === "ready"
        ? { ...prev, users: replace(prev.users) }
        : prev.status === "loading" && prev.previous
          ? { ...prev, previous: { ...prev.previous, users: replace(prev.previous.users) } }
          : prev,
    );
    setEditing(null);
    // The edit may move the row (a new name sorts elsewhere): read the page again.
    setReload((n) => n + 1);
    onUserSaved?.(user);
  }

  function saved(user: User) {
    replaceRow(user);
    setSavedNotice(
      savesWaitForSync
        ? `Saved changes to ${user.display_name} on this computer. They sync when the connection returns.`
        : `Saved changes to ${user.display_name}.`,
    );
  }

  function factorReset(user: User) {
    replaceRow(user);
    setSavedNotice(
      `Reset ${user.display_name}’s two-step verification. They are signed out and set up a new factor at their next sign-in.`,
    );
  }

  function added(grant: SetupCodeGrant) {
    setAdding(false);
    setSavedNotice(`Added ${grant.user.display_name}.`);
    setSetupCode({ grant, reason: "added" });
    // The core cached the new user: read the page again so they are listed.
    setReload((n) => n + 1);
  }

  function reset(grant: SetupCodeGrant) {
    setEditing(null);
    setSetupCode({ grant, reason: "reset" });
    setReload((n) => n + 1);
  }

  useEffect(() => {
    setRequest((r) => (r.query === debouncedSearch ? r : { query: debouncedSearch, offset: 0 }));
  }, [debouncedSearch]);

  useEffect(() => {
    let current = true;
    setLoad((prev) => ({
      status: "loading",
      previous:
        prev.status === "ready"
          ? { users: prev.users, total: prev.total, offset: prev.offset }
          : prev.status === "loading"
            ? prev.previous
            : null,
    }));
    api.listUsers(request.query, request.offset, PAGE_SIZE).then(
      (page) => {
        if (current) setLoad({ status: "ready", users: page.users, total: page.total, offset: request.offset });
      },
      (reason: unknown) => {
        if (!current) return;
        const error = toApiError(reason);
        if (onSessionLost && isSessionLost(error)) onSessionLost(error.message);
        else setLoad({ status: "error", message: error.message });
      },
    );
    // A slower answer to an older query must not overwrite a newer one.
    return () => {
      current = false;
    };
  }, [api, request, reload, dataVersion, onSessionLost]);

  const shown = load.status === "ready" ? load : load.status === "loading" ? load.previous : null;
  const users = shown?.users ?? [];
  const total = shown?.total ?? 0;
  const shownOffset = shown?.offset ?? 0;
  const first = total === 0 ? 0 : shownOffset + 1;
  const last = shownOffset + users.length;
  const busy = load.status === "loading";

  return (
    <section className="page" aria-labelledby="users-title">
      <div className="page-header">
        <div>
          <h1 id="users-title">Users</h1>
          <p className="page-subtitle">Everyone who can sign in to SecureClose at {company.name}.</p>
        </div>
        {canEdit ? (
          <div className="page-actions">
            <button
              type="button"
              className="btn btn-primary"
              data-testid="add-user"
              disabled={!connected}
              aria-describedby={connected ? undefined : "add-user-offline"}
              onClick={() => {
                setSavedNotice(null);
                setAdding(true);
              }}
            >
              Add user
            </button>
            {!connected ? (
              <p id="add-user-offline" className="muted small" data-testid="add-user-offline">
                {ADD_USER_NEEDS_CONNECTION}
              </p>
            ) : null}
          </div>
        ) : null}
      </div>
      <div className="card table-card">
        <div className="toolbar">
          <div className="search">
            <label htmlFor="users-search" className="visually-hidden">
              Search users
            </label>
            <SearchIcon />
            <input
              id="users-search"
              data-testid="users-search"
              type="search"
              placeholder="Search by name or email"
              autoComplete="off"
              spellCheck={false}
              value={search}
              onChange={(e) => setSearch(e.target.value)}
            />
          </div>
          <div className="toolbar-meta" aria-live="polite">
            {busy ? (
              <Spinner label="Loading…" />
            ) : load.status === "ready" ? (
              `${total} user${total === 1 ? "" : "s"}`
            ) : null}
            {downloading ? (
              <span data-testid="users-downloading">
                {" "}
                · Downloading your company’s users from SecureClose…
              </span>
            ) : null}
          </div>
        </div>
        {savedNotice ? (
          <div className="card-section">
            <p className="success-note" role="status" data-testid="users-saved">
              {savedNotice}
            </p>
          </div>
        ) : null}
        {load.status === "error" ? (
          <div className="card-section">
            <ErrorAlert title="Users could not be loaded" message={load.message} onRetry={() => setReload((n) => n + 1)} />
          </div>
        ) : null}
        <div className="table-wrap">
          <table className="table" data-testid="users-table" aria-busy={busy}>
            <caption className="visually-hidden">Users of {company.name}</caption>
            <thead>
              <tr>
                {shownColumns.map((c) => (
                  <th key={c.key} scope="col" className={c.className}>
                    {c.headerHidden ? <span className="visually-hidden">{c.header}</span> : c.header}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id} data-testid="user-row" className={u.status === "disabled" ? "row-muted" : undefined}>
                  {shownColumns.map((c) => (
                    <td key={c.key} className={c.className}>
                      {c.render(u, company)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {load.status === "loading" && !load.previous ? (
          <div className="table-state">
            <Spinner label="Loading users…" />
          </div>
        ) : null}
        {load.status === "ready" && users.length === 0 ? (
          <div className="table-state" data-testid="users-empty">
            <p className="table-state-title">{request.query ? "No matching users" : "No users yet"}</p>
            <p className="muted">
              {request.query
                ? `No user’s name or email starts with “${request.query}”.`
                : "Users appear here after the first sync with the SecureClose cloud."}
            </p>
          </div>
        ) : null}
        {total > 0 ? (
          <div className="table-footer">
            <span>
              Showing {first}–{last} of {total}
            </span>
            <div className="pager">
              <button
                type="button"
                className="btn btn-secondary btn-small"
                disabled={busy || request.offset === 0}
                onClick={() => setRequest((r) => ({ ...r, offset: Math.max(0, r.offset - PAGE_SIZE) }))}
              >
                Previous
              </button>
              <button
                type="button"
                className="btn btn-secondary btn-small"
                disabled={busy || last >= total}
                onClick={() => setRequest((r) => ({ ...r, offset: r.offset + PAGE_SIZE }))}
              >
                Next
              </button>
            </div>
          </div>
        ) : null}
      </div>
      {editing ? (
        <UserEditDialog
          user={editing}
          company={company}
          onSaved={saved}
          onCancel={() => setEditing(null)}
          onSessionLost={onSessionLost}
          connected={connected}
          isSelf={editing.id === currentUserId}
          onSetupCode={reset}
          onFactorReset={factorReset}
        />
      ) : null}
      {adding ? (
        <AddUserDialog company={company} onAdded={added} onCancel={() => setAdding(false)} onSessionLost={onSessionLost} />
      ) : null}
      {setupCode ? (
        <SetupCodeDialog
          grant={setupCode.grant}
          reason={setupCode.reason}
          onClose={() => setSetupCode(null)}
          connected={connected}
          onSessionLost={onSessionLost}
        />
      ) : null}
    </section>
  );
}

function SearchIcon() {
  return (
    <svg className="search-icon" viewBox="0 0 20 20" aria-hidden="true" focusable="false">
      <circle cx="8.5" cy="8.5" r="5.5" />
      <path d="M13 13l4.5 4.5" />
    </svg>
  );
}
