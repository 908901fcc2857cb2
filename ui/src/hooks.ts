import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";

type FieldErrors<F extends string> = Partial<Record<F, string>>;

/** A form's per-field messages, and clearing one (unchanged state when it had none). */
export function useFieldErrors<F extends string>(): [
  FieldErrors<F>,
  Dispatch<SetStateAction<FieldErrors<F>>>,
  (field: F) => void,
] {
  const [errors, setErrors] = useState<FieldErrors<F>>({});
  const clearError = useCallback((field: F) => {
    setErrors((e) => {
      if (!(field in e)) return e;
      const next = { ...e };
      delete next[field];
      return next;
    });
  }, []);
  return [errors, setErrors, clearError];
}

/** `value`, but only after it stopped changing for `delayMs`. */
export function useDebouncedValue<T>(value: T, delayMs: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return debounced;
}

/** Re-renders every `intervalMs` so relative times ("5 minutes ago") stay true. */
export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** The input that counts as someone at the desk. */
const ACTIVITY_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel", "focusin", "touchstart"] as const;
/** Activity is noted at most this often (pointer moves fire constantly). */
const ACTIVITY_THROTTLE_MS = 1_000;
/** How often the idle time is compared with the limit. */
const IDLE_CHECK_MS = 5_000;

/**
 * Calls `onIdle` once `minutes` pass with no pointer, key, wheel or focus
 * input anywhere in the window (the idle lock). Does nothing while
 * `enabled` is false; enabling again starts a fresh idle period.
 */
export function useIdleLock(minutes: number, enabled: boolean, onIdle: () => void): void {
  const onIdleRef = useRef(onIdle);
  onIdleRef.current = onIdle;
  useEffect(() => {
    if (!enabled || !(minutes > 0)) return;
    const limitMs = minutes * 60_000;
    let lastActivity = Date.now();
    let noted = lastActivity;
    let fired = false;
    const activity = () => {
      const now = Date.now();
      if (now - noted < ACTIVITY_THROTTLE_MS) return;
      noted = now;
      lastActivity = now;
    };
    const check = () => {
      if (fired || Date.now() - lastActivity < limitMs) return;
      fired = true;
      onIdleRef.current();
    };
    for (const name of ACTIVITY_EVENTS) window.addEventListener(name, activity, { capture: true, passive: true });
    const timer = window.setInterval(check, Math.min(IDLE_CHECK_MS, limitMs));
    return () => {
      window.clearInterval(timer);
      for (const name of ACTIVITY_EVENTS) window.removeEventListener(name, activity, { capture: true });
    };
  }, [minutes, enabled]);
}
