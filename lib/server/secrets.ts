/**
 * Keeping passwords out of logs, job details and /job_status_all. NOVA sends dbPassword with every job; modules
 * may take tokens as options. Redaction is by field name (anything named like a password, secret, token, key or
 * credential, at any depth, also inside the JSON-valued form fields and optStr), plus scrubbing of the secret
 * values themselves from any text we write, in case a module echoes them.
 */

export const MASK = "****";

/**
 * The usual secret words (pass, pwd, auth, key, token, secret, credential, cookie), matched against the words of
 * a name (camelCase, snake_case, kebab-case), so `dbPass`, `sessionKey`, `auth`, `x-api-key` are secret but
 * `keypoints`, `author` or `monkey` are not. Words that start with pass/auth/secret/token/credential/cookie count
 * too (password, authorization, tokens).
 */
const SECRET_WORD = /^(pass|pwd|auth(?!or)|secret|token|credential|cookie|key$|keys$|apikey|privatekey|sessionkey|passphrase)/;

function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Names the NOVA protocol itself uses that contain a secret word but hold none. */
const NOT_SECRET = new Set(["job key"]);

export function isSecretName(name: string): boolean {
  const words = nameWords(name);
  if (NOT_SECRET.has(words.join(" "))) return false;
  return words.some((w) => SECRET_WORD.test(w)) || SECRET_WORD.test(words.join(""));
}

/** `scheme://user:pass@host` -> `scheme://user:****@host`. */
function maskUrlCredentials(text: string): string {
  return text.replace(/(\/\/[^/\s:@]+:)[^@/\s]+@/g, `$1${MASK}@`);
}

/** A copy of `value` with every secret-named field masked, at any depth. */
export function redactValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactValue);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = isSecretName(k) ? MASK : redactValue(v);
    return out;
  }
  if (typeof value === "string") return maskUrlCredentials(value);
  return value;
}

/** `k=v;k2=v2` with secret-named keys masked. */
export function redactOptStr(optStr: string): string {
  return optStr
    .split(";")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq > 0 && isSecretName(pair.slice(0, eq).trim()) ? `${pair.slice(0, eq)}=${MASK}` : pair;
    })
    .join(";");
}

/** Form fields whose values are JSON documents (NOVA sends these as JSON text). */
const JSON_FIELDS = new Set(["data", "options", "sessions"]);

/** A form as it may be shown: secret fields masked, JSON fields redacted inside (kept as JSON text). */
export function redactForm(form: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(form)) {
    if (isSecretName(k)) out[k] = MASK;
    else if (k === "optStr") out[k] = redactOptStr(v);
    else if (JSON_FIELDS.has(k)) {
      try {
        out[k] = JSON.stringify(redactValue(JSON.parse(v)));
      } catch {
        out[k] = maskUrlCredentials(v);
      }
    } else out[k] = maskUrlCredentials(v);
  }
  return out;
}

/** The secret values in a form (top level, inside JSON fields, inside optStr), for scrubbing free text. */
export function collectSecretValues(form: Record<string, string>): string[] {
  const found = new Set<string>();
  const walk = (value: unknown, secret: boolean) => {
    if (Array.isArray(value)) value.forEach((v) => walk(v, secret));
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, secret || isSecretName(k));
    } else if (secret && value !== undefined && value !== null) found.add(String(value));
  };
  for (const [k, v] of Object.entries(form)) {
    if (isSecretName(k)) found.add(v);
    else if (k === "optStr") {
      for (const pair of v.split(";")) {
        const eq = pair.indexOf("=");
        if (eq > 0 && isSecretName(pair.slice(0, eq).trim())) found.add(pair.slice(eq + 1).trim());
      }
    } else if (JSON_FIELDS.has(k)) {
      try {
        walk(JSON.parse(v), false);
      } catch {
        /* not JSON: nothing nested to find */
      }
    }
  }
  // Very short values ("", "1") would mask ordinary text everywhere; names already hide them in structured data.
  return [...found].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of the given secret values (and URL credentials) in free text. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(MASK);
  return maskUrlCredentials(out);
}
