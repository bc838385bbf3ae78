/** The OpenAPI security requirement of /v1 routes: a bearer key when API_KEYS is set. */
export const bearerSecurity = [{ bearer: [] }] as const satisfies readonly Record<string, readonly string[]>[];
