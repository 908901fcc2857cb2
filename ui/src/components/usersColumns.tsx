import type { ReactNode } from "react";
import { Badge } from "./common";
import { formatPhone, roleLabel, statusLabel } from "../format";
import type { Company, User } from "../types";

/**
 * The Users table is driven by this list; admins get `editColumn` appended.
 */
export interface UserColumn {
  key: string;
  header: string;
  /** Visually hidden header text, e.g. for an icon-only actions column. */
  headerHidden?: boolean;
  className?: string;
  render: (user: User, company: Company) => ReactNode;
}

/** A colleague's phone and 2FA as a non-admin gets them: withheld, not "none". */
function Withheld() {
  return (
    <span className="muted" title="Only admins see colleagues' phones and sign-in settings">
      —
    </span>
  );
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
      u.security_withheld ? (
        <Withheld />
      ) : u.mobile_phone ? (
        <span className="nowrap">{formatPhone(u.mobile_phone)}</span>
      ) : (
        <span className="muted">Not set</span>
      ),
  },
  {
    key: "two_factor",
    header: "2FA",
    // What the next sign-in will ask for, not just the user's own switch: the
    // company-wide switch also requires it, and neither counts where the DMS
    // integration does not support 2FA (the cloud applies the same rule).
    render: (u, company) => {
      if (u.security_withheld) return <Withheld />;
      if (!company.dms.supports_two_factor) return <Badge tone="neutral">Off</Badge>;
      if (u.two_factor_enabled) return <Badge tone="success">On</Badge>;
      if (company.two_factor_required) return <Badge tone="success">Company</Badge>;
      return <Badge tone="neutral">Off</Badge>;
    },
  },
  {
    key: "status",
    header: "Status",
    render: (u) => <Badge tone={u.status === "active" ? "success" : "danger"}>{statusLabel(u.status)}</Badge>,
  },
];

/** The admin-only actions column: one Edit button per row. */
export function editColumn(onEdit: (user: User) => void): UserColumn {
  return {
    key: "actions",
    header: "Actions",
    headerHidden: true,
    className: "row-actions",
    render: (u) => (
      <button
        type="button"
        className="btn btn-secondary btn-small"
        data-testid="user-edit"
        aria-label={`Edit ${u.display_name}`}
        // Rows a non-admin's sync left on this computer lack the phone and
        // 2FA an edit starts from; the next sync brings them in full.
        disabled={u.security_withheld}
        title={u.security_withheld ? "This user's details are still being downloaded" : undefined}
        onClick={() => onEdit(u)}
      >
        Edit
      </button>
    ),
  };
}
