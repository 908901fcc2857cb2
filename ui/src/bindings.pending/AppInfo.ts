// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { CacheStatus } from "./CacheStatus";

export type AppInfo = { version: string, cloud_url: string, cache_status: CacheStatus, };
