// An in-memory implementation of `Api` for unit tests and the dev-only
// `?mock` mode. Behaviour mirrors the core's contract closely enough for the
// screens (prefix search, paging, {code,message} errors), nothing more.
import { ApiCallError, type Api } from "../api";
import type { AppInfo, Company, SessionView, User } from "../types";

export const demoCompany: Company = {
  id: "c0000000-0000-4000-8000-000000000001",
  name: "Sunrise Motors",
  two_factor_required: false,
  dms: { kind: "cdk", supports_two_factor: true },
  offline_policy: { allowed: true, max_hours: 72 },
  version: 1,
};

function user(n: number, name: string, email: string, extra: Partial<User> = {}): User {
  return {
    id: `u0000000-0000-4000-8000-00000000000${n}`,
    company_id: demoCompany.id,
    email,
    display_name: name,
    role: "user",
    status: "active",
    mobile_phone: null,
    phone_verified_at: null,
    two_factor_enabled: false,
    version: 1,
    updated_at: 1_764_000_000_000,
    ...extra,
  };
}

export const demoUsers: User[] = [
  user(1, "Dana Whitfield", "admin@sunrise-motors.example", {
    role: "admin",
    mobile_phone: "+14805551234",
    phone_verified_at: 1_764_000_000_000,
    two_factor_enabled: true,
  }),
  user(2, "Carlos Mendez", "carlos.mendez@sunrise-motors.example", { mobile_phone: "+14805550101" }),
  user(3, "Priya Raman", "priya.raman@sunrise-motors.example", { two_factor_enabled: true }),
  user(4, "Tom O'Brien", "tom.obrien@sunrise-motors.example"),
  user(5, "Alicia Grant", "alicia.grant@sunrise-motors.example", { status: "disabled" }),
  user(6, "Marcus Lee", "marcus.lee@sunrise-motors.example", { mobile_phone: "+16025550199" }),
  user(7, "Jenna Kowalski", "jenna.kowalski@sunrise-motors.example"),
  user(8, "Samuel Osei", "samuel.osei@sunrise-motors.example", { two_factor_enabled: true }),
];

export const DEMO_PASSWORD = "correct horse battery staple";

export interface FakeApiOptions {
  appInfo?: Partial<AppInfo>;
  users?: User[];
  company?: Company;
  signedIn?: boolean;
}

/** Case-insensitive prefix match on name, any word of the name, or email. */
export function matchesPrefix(u: User, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  const name = u.display_name.toLowerCase();
  return (
    name.startsWith(q) ||
    name.split(/\s+/).some((word) => word.startsWith(q)) ||
    u.email.toLowerCase().startsWith(q)
  );
}

export function createFakeApi(options: FakeApiOptions = {}): Api {
  let info: AppInfo = {
    version: "0.1.0",
    cloud_url: "http://127.0.0.1:8787",
    cache_status: "ready",
    ...options.appInfo,
  };
  const users = options.users ?? demoUsers;
  const company = options.company ?? demoCompany;
  const admin = users[0] ?? demoUsers[0]!;
  const sessionView = (): SessionView => ({
    user: admin,
    company,
    online: true,
    last_synced_at: Date.now() - 2 * 60_000,
  });
  let signedIn = options.signedIn ?? false;

  return {
    appInfo: async () => info,
    resetCache: async () => {
      info = { ...info, cache_status: "ready" };
      return info;
    },
    setCloudUrl: async (url) => {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ApiCallError("validation", "Enter a full address, e.g. https://cloud.example.com");
      }
      const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
      if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)) {
        throw new ApiCallError("validation", "The server address must use https:// (http:// is only allowed for this computer)");
      }
      info = { ...info, cloud_url: url };
      return info;
    },
    login: async (email, password) => {
      if (email.trim().toLowerCase() !== admin.email || password !== DEMO_PASSWORD) {
        throw new ApiCallError("invalid_credentials", "The email or password is incorrect.");
      }
      signedIn = true;
      return { state: "signed_in", session: sessionView() };
    },
    logout: async () => {
      signedIn = false;
    },
    session: async () => (signedIn ? sessionView() : null),
    listUsers: async (query, offset, limit) => {
      const matching = users.filter((u) => matchesPrefix(u, query));
      return { users: matching.slice(offset, offset + limit), total: matching.length };
    },
    company: async () => company,
  };
}
