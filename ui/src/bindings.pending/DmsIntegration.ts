// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
export type DmsIntegration = { kind: string, supports_two_factor: boolean, };
