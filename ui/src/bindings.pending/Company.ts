// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { DmsIntegration } from "./DmsIntegration";
import type { OfflinePolicy } from "./OfflinePolicy";

export type Company = { id: string, name: string, two_factor_required: boolean, dms: DmsIntegration, offline_policy: OfflinePolicy, version: number, };
