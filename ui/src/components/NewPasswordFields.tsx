// A new password typed twice, with a strength meter and the rule it breaks
// shown as the person types. The judging is the core's (`checkNewPassword`,
// the rules the cloud enforces): this file only shows what it answers.
import { useEffect, useState } from "react";
import { useApi } from "../ApiContext";
import type { PasswordCheck } from "../types";
import { describedBy } from "./common";

const STRENGTH = ["Very weak", "Weak", "Fair", "Strong", "Very strong"] as const;

export const MISMATCH_MESSAGE = "The two passwords are not the same.";

/**
 * The core's verdict on `password` for `email`'s owner, refreshed as it
 * changes; null while nothing is typed or the first answer is awaited. A
 * slower answer for an older value never replaces a newer one.
 */
export function usePasswordCheck(password: string, email: string): PasswordCheck | null {
  const api = useApi();
  const [check, setCheck] = useState<{ password: string; result: PasswordCheck } | null>(null);
  useEffect(() => {
    if (!password) return;
    let current = true;
    api.checkNewPassword(password, email).then(
      (result) => {
        if (current) setCheck({ password, result });
      },
      () => {
        // No verdict to show; the cloud still judges at submit.
        if (current) setCheck(null);
      },
    );
    return () => {
      current = false;
    };
  }, [api, password, email]);
  return password && check?.password === password ? check.result : null;
}

/** Why a form may not send `password` yet (null: judged acceptable and typed twice alike). */
export function newPasswordProblem(check: PasswordCheck | null, password: string, confirm: string): string | null {
  if (check !== null && check.refusal === null && password === confirm) return null;
  return password !== confirm
    ? "Type the same new password in both fields."
    : (check?.refusal ?? "Choose a new password that meets the rules.");
}

interface Props {
  idPrefix: string;
  label: string;
  password: string;
  confirm: string;
  check: PasswordCheck | null;
  /** Show the mismatch even before the second field is left (after a submit). */
  showMismatch: boolean;
  disabled: boolean;
  onPasswordChange: (value: string) => void;
  onConfirmChange: (value: string) => void;
}

export function NewPasswordFields({
  idPrefix,
  label,
  password,
  confirm,
  check,
  showMismatch,
  disabled,
  onPasswordChange,
  onConfirmChange,
}: Props) {
  const [confirmLeft, setConfirmLeft] = useState(false);
  const mismatch = confirm !== "" && password !== confirm && (confirmLeft || showMismatch || confirm.length >= password.length);
  const score = check?.score ?? 0;
  const meterId = `${idPrefix}-strength`;
  const reasonId = `${idPrefix}-reason`;
  const mismatchId = `${idPrefix}-mismatch`;
  return (
    <>
      <div className="field">
        <label htmlFor={`${idPrefix}-new`}>{label}</label>
        <input
          id={`${idPrefix}-new`}
          data-testid={`${idPrefix}-new`}
          type="password"
          autoComplete="new-password"
          value={password}
          aria-invalid={check?.refusal ? true : undefined}
          aria-describedby={describedBy(`${idPrefix}-help`, password && meterId, check?.refusal && reasonId)}
          onChange={(e) => onPasswordChange(e.target.value)}
          disabled={disabled}
        />
        <p id={`${idPrefix}-help`} className="field-help">
          At least 15 characters; spaces and any characters are fine. A few unrelated words are easy to remember.
        </p>
        {password ? (
          <div className="strength" data-testid={`${idPrefix}-meter`} data-score={check ? score : undefined}>
            <meter
              className="strength-meter"
              min={0}
              max={4}
              low={2}
              high={3}
              optimum={4}
              value={check ? score : 0}
              aria-labelledby={meterId}
            />
            <span id={meterId} className="strength-label" aria-live="polite">
              Strength: {check ? STRENGTH[score] ?? STRENGTH[0] : "checking…"}
            </span>
          </div>
        ) : null}
        {check?.refusal ? (
          <p id={reasonId} className="field-error" data-testid={`${idPrefix}-reason`} aria-live="polite">
            {check.refusal}
          </p>
        ) : null}
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-confirm`}>Type it again</label>
        <input
          id={`${idPrefix}-confirm`}
          data-testid={`${idPrefix}-confirm`}
          type="password"
          autoComplete="new-password"
          value={confirm}
          aria-invalid={mismatch ? true : undefined}
          aria-describedby={describedBy(mismatch && mismatchId)}
          onChange={(e) => onConfirmChange(e.target.value)}
          onBlur={() => setConfirmLeft(true)}
          disabled={disabled}
        />
        {mismatch ? (
          <p id={mismatchId} className="field-error" data-testid={`${idPrefix}-mismatch`} role="alert">
            {MISMATCH_MESSAGE}
          </p>
        ) : null}
      </div>
    </>
  );
}
