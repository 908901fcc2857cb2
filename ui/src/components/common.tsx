import type { ReactNode } from "react";

export function BrandMark({ size = 32 }: { size?: number }) {
  return (
    <svg className="brand-mark" width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="7" className="brand-mark-bg" />
      <path d="M16 6l8 3v6c0 5-3.4 9.2-8 11-4.6-1.8-8-6-8-11V9z" className="brand-mark-line" />
      <path d="M12.5 16l2.5 2.5 4.5-5" className="brand-mark-line" />
    </svg>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="spinner-wrap" role="status">
      <span className="spinner" aria-hidden="true" />
      {label ? <span>{label}</span> : <span className="visually-hidden">Loading</span>}
    </span>
  );
}

export type BadgeTone = "neutral" | "success" | "warning" | "danger" | "brand";

export function Badge({ tone = "neutral", children }: { tone?: BadgeTone; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function ErrorAlert({
  title,
  message,
  onRetry,
  testId,
}: {
  title: string;
  message: string;
  onRetry?: () => void;
  testId?: string;
}) {
  return (
    <div className="alert alert-error" role="alert" data-testid={testId}>
      <div>
        <strong className="alert-title">{title}</strong>
        <p className="alert-message">{message}</p>
      </div>
      {onRetry ? (
        <button type="button" className="btn btn-secondary btn-small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/**
 * An on/off switch: a real checkbox (so forms, WebDriver and screen readers
 * all see a native control) announced as a switch and styled as one in CSS.
 */
export function Switch({
  id,
  testId,
  label,
  checked,
  disabled,
  describedBy,
  invalid,
  onChange,
}: {
  id: string;
  testId: string;
  label: string;
  checked: boolean;
  disabled?: boolean;
  describedBy?: string | undefined;
  invalid?: boolean;
  onChange: (checked: boolean) => void;
}) {
  return (
    <div className="switch-row">
      <label htmlFor={id} className="switch-label">
        {label}
      </label>
      <input
        id={id}
        data-testid={testId}
        type="checkbox"
        role="switch"
        className="switch"
        checked={checked}
        disabled={disabled}
        aria-describedby={describedBy}
        aria-invalid={invalid ? true : undefined}
        onChange={(e) => onChange(e.target.checked)}
      />
    </div>
  );
}

/** Inline error under a field: announced, and pointed at by the field's aria-describedby. */
export function FieldError({ id, testId, message }: { id: string; testId?: string; message: string | null }) {
  if (!message) return null;
  return (
    <p id={id} className="field-error" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}

/** Joins ids for aria-describedby, skipping absent ones; undefined if none. */
export function describedBy(...ids: (string | false | null | undefined)[]): string | undefined {
  const present = ids.filter((x): x is string => typeof x === "string" && x.length > 0);
  return present.length ? present.join(" ") : undefined;
}
