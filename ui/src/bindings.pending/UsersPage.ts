// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
import type { User } from "./User";

export type UsersPage = { users: Array<User>, total: number, };
