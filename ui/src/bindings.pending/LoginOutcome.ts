// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { SessionView } from "./SessionView";

export type LoginOutcome = { "state": "signed_in", session: SessionView, };
