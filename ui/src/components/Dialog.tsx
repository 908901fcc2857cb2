import { useLayoutEffect, useRef, type KeyboardEvent, type ReactNode, type RefObject } from "react";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]';

/** Elements Tab can reach inside `root`, in DOM order (hidden panels excluded). */
export function tabbables(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => el.tabIndex >= 0 && !el.closest("[hidden]") && !(el as HTMLButtonElement).disabled,
  );
}

interface Props {
  /** id of the element naming the dialog (its heading). */
  labelledBy: string;
  describedBy?: string;
  testId: string;
  /** Esc, and whatever the dialog's own Cancel does. */
  onCancel: () => void;
  /** Where focus goes on open; the first tabbable element otherwise. */
  initialFocus?: RefObject<HTMLElement | null>;
  /**
   * Where focus goes on close. Default: the element focused when the dialog
   * opened (the button that opened it).
   */
  returnFocus?: () => void;
  className?: string;
  children: ReactNode;
}

/**
 * A modal dialog usable from the keyboard alone: focus moves in on open,
 * Tab/Shift+Tab cycle inside (focus trap), Esc cancels, and focus returns to
 * the opener on close. Enter submits because the content is a <form>.
 */
export function Dialog({ labelledBy, describedBy, testId, onCancel, initialFocus, returnFocus, className, children }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  // Latest callbacks without re-running the open/close effect on each render.
  const returnFocusRef = useRef(returnFocus);
  returnFocusRef.current = returnFocus;

  useLayoutEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = ref.current;
    if (root) {
      const target = initialFocus?.current ?? tabbables(root)[0] ?? root;
      target.focus();
    }
    // A mouse click or screen-reader jump outside must not leave focus behind
    // the modal: bring it back to the dialog. Not while the dialog itself is
    // hidden (the idle lock covers the portal, the lock screen has focus).
    function onFocusIn(event: FocusEvent) {
      if (
        root &&
        root.isConnected &&
        !root.closest("[hidden], [inert]") &&
        event.target instanceof Node &&
        !root.contains(event.target)
      ) {
        (tabbables(root)[0] ?? root).focus();
      }
    }
    document.addEventListener("focusin", onFocusIn);
    return () => {
      // Stop guarding first, or returning focus to the opener is undone.
      document.removeEventListener("focusin", onFocusIn);
      const custom = returnFocusRef.current;
      if (custom) custom();
      else if (opener && opener.isConnected) opener.focus();
    };
    // Open/close only: the initial target is read once, on open.
  }, []);

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    // A dialog opened inside this one (re-authentication) handles its own keys.
    if (event.target instanceof Element && event.target.closest('[role="dialog"]') !== ref.current) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onCancel();
      return;
    }
    if (event.key !== "Tab" || !ref.current) return;
    const items = tabbables(ref.current);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) {
      event.preventDefault();
      return;
    }
    const active = document.activeElement;
    if (event.shiftKey && (active === first || active === ref.current)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }

  return (
    <div className="modal-backdrop">
      <div
        ref={ref}
        className={`modal card${className ? ` ${className}` : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={labelledBy}
        aria-describedby={describedBy}
        data-testid={testId}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        {children}
      </div>
    </div>
  );
}
