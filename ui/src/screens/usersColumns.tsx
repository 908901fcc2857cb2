import type { ReactNode } from "react";
import { Badge } from "../components/common";
import { formatPhone, roleLabel, statusLabel } from "../format";
import type { User } from "../types";

/**
 * The Users table is driven by this list so the next issue can append an
 * "Actions" column (Edit button) without touching the table component.
 */
export interface UserColumn {
  key: string;
  header: string;
  /** Visually hidden header text, e.g. for an icon-only actions column. */
  headerHidden?: boolean;
  className?: string;
  render: (user: User) => ReactNode;
}

export const userColumns: UserColumn[] = [
  {
    key: "name",
    header: "Name",
    className: "col-name",
    render: (u) => <span className="cell-strong">{u.display_name}</span>,
  },
  {
    key: "email",
    header: "Email",
    className: "col-email",
    render: (u) => u.email,
  },
  {
    key: "role",
    header: "Role",
    render: (u) => <Badge tone={u.role === "admin" ? "brand" : "neutral"}>{roleLabel(u.role)}</Badge>,
  },
  {
    key: "mobile_phone",
    header: "Mobile phone",
    className: "col-phone",
    render: (u) =>
      u.mobile_phone ? (
        <span className="nowrap">{formatPhone(u.mobile_phone)}</span>
      ) : (
        <span className="muted">Not set</span>
      ),
  },
  {
    key: "two_factor",
    header: "2FA",
    render: (u) =>
      u.two_factor_enabled ? <Badge tone="success">On</Badge> : <Badge tone="neutral">Off</Badge>,
  },
  {
    key: "status",
    header: "Status",
    render: (u) => <Badge tone={u.status === "active" ? "success" : "danger"}>{statusLabel(u.status)}</Badge>,
  },
];
