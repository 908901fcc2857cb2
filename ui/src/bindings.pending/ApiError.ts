// TEMPORARY hand copy of what ts-rs will generate into ../bindings/; deleted once they exist.
export type ApiError = { code: string, message: string, };
