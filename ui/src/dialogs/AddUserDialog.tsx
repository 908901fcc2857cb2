// Add user (admins): name, email, role, an optional mobile phone and the
// Two-Factor Authentication switch, checked by the same rules as the Edit
// dialog. The core sends it to the cloud at once (never queued); the answer's
// setup code goes straight to the setup code dialog and nowhere else.
import { useRef, useState, type FormEvent } from "react";
import { useApi } from "../ApiContext";
import { isSessionLost, toApiError } from "../api";
import { Dialog } from "../components/Dialog";
import { FieldError, describedBy } from "../components/common";
import { useFieldErrors } from "../hooks";
import type { Company, NewUserRequest, Role, SetupCodeGrant } from "../types";
import { TwoFactorField, checkUserForm, refusalField, refusalMessage, type UserField } from "./UserEditDialog";

/** This dialog has one page (no tabs): the phone field is just above the switch. */
export const ADD_USER_PHONE_FIRST_MESSAGE = "Enter a mobile phone number above first";

interface Props {
  company: Company;
  onAdded: (grant: SetupCodeGrant) => void;
  onCancel: () => void;
  onSessionLost?: ((message: string) => void) | undefined;
}

export function AddUserDialog({ company, onAdded, onCancel, onSessionLost }: Props) {
  const api = useApi();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("user");
  const [phone, setPhone] = useState("");
  const [twoFactor, setTwoFactor] = useState(false);
  const [errors, setErrors, clearError] = useFieldErrors<UserField>();
  const [dialogError, setDialogError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const refs = {
    name: useRef<HTMLInputElement>(null),
    email: useRef<HTMLInputElement>(null),
    phone: useRef<HTMLInputElement>(null),
  };
  const twoFactorAvailable = company.dms.supports_two_factor;

  function fieldError(field: UserField, message: string) {
    setErrors((e) => ({ ...e, [field]: message }));
    if (field === "two-factor") document.getElementById("add-user-two-factor")?.focus();
    else refs[field].current?.focus();
  }

  function toggleTwoFactor(on: boolean) {
    setDialogError(null);
    if (on && !phone.trim()) {
      setErrors((e) => ({ ...e, "two-factor": ADD_USER_PHONE_FIRST_MESSAGE }));
      return;
    }
    clearError("two-factor");
    setTwoFactor(on);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setDialogError(null);
    setErrors({});
    const problem = checkUserForm({ name, email, phone, twoFactor }, ADD_USER_PHONE_FIRST_MESSAGE);
    if (problem) return "field" in problem ? fieldError(problem.field, problem.message) : setDialogError(problem.dialog);
    const request: NewUserRequest = { display_name: name.trim(), email: email.trim(), role };
    if (phone.trim()) request.mobile_phone = phone.trim();
    if (twoFactor) request.two_factor_enabled = true;
    setBusy(true);
    try {
      onAdded(await api.createUser(request));
    } catch (reason) {
      setBusy(false);
      const e = toApiError(reason);
      if (onSessionLost && isSessionLost(e)) return onSessionLost(e.message);
      const field = refusalField(e.code);
      return field ? fieldError(field, e.message) : setDialogError(refusalMessage(e.code, e.message, ADD_USER_PHONE_FIRST_MESSAGE));
    }
  }

  return (
    <Dialog labelledBy="add-user-title" testId="add-user-dialog" onCancel={onCancel} initialFocus={refs.name} className="modal-wide">
      <h2 id="add-user-title" className="dialog-title">
        Add user
      </h2>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
        <div className="field">
          <label htmlFor="add-user-name">Name</label>
          <input
            id="add-user-name"
            ref={refs.name}
            data-testid="add-user-name"
            type="text"
            autoComplete="off"
            value={name}
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={describedBy(errors.name && "add-user-name-error")}
            onChange={(e) => setName(e.target.value)}
            disabled={busy}
          />
          <FieldError id="add-user-name-error" testId="add-user-name-error" message={errors.name ?? null} />
        </div>
        <div className="field">
          <label htmlFor="add-user-email">Email</label>
          <input
            id="add-user-email"
            ref={refs.email}
            data-testid="add-user-email"
            type="email"
            autoComplete="off"
            spellCheck={false}
            value={email}
            aria-invalid={errors.email ? true : undefined}
            aria-describedby={describedBy(errors.email && "add-user-email-error")}
            onChange={(e) => {
              setEmail(e.target.value);
              clearError("email");
            }}
            disabled={busy}
          />
          <FieldError id="add-user-email-error" testId="add-user-email-error" message={errors.email ?? null} />
        </div>
        <div className="field">
          <label htmlFor="add-user-role">Role</label>
          <select id="add-user-role" data-testid="add-user-role" value={role} onChange={(e) => setRole(e.target.value as Role)} disabled={busy}>
            <option value="user">User</option>
            <option value="admin">Admin</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="add-user-phone">Mobile Phone (optional)</label>
          <input
            id="add-user-phone"
            ref={refs.phone}
            data-testid="add-user-phone"
            type="tel"
            inputMode="tel"
            autoComplete="off"
            value={phone}
            aria-invalid={errors.phone ? true : undefined}
            aria-describedby={describedBy("add-user-phone-help", errors.phone && "add-user-phone-error")}
            onChange={(e) => {
              setPhone(e.target.value);
              clearError("phone");
              if (e.target.value.trim()) clearError("two-factor");
            }}
            disabled={busy}
          />
          <p id="add-user-phone-help" className="field-help">
            Receives the sign-in codes. US numbers like (480) 555-1234; other countries start with +.
          </p>
          <FieldError id="add-user-phone-error" testId="add-user-phone-error" message={errors.phone ?? null} />
        </div>
        <TwoFactorField
          idPrefix="add-user"
          checked={twoFactor}
          disabled={busy || !twoFactorAvailable}
          available={twoFactorAvailable}
          error={errors["two-factor"]}
          onChange={toggleTwoFactor}
        />
        {dialogError ? (
          <div className="alert alert-error" role="alert" data-testid="add-user-error">
            {dialogError}
          </div>
        ) : null}
        <div className="button-row">
          <button type="button" className="btn btn-secondary" data-testid="add-user-cancel" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="add-user-submit" disabled={busy}>
            {busy ? "Adding…" : "Add user"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
