// The one way the console talks to ferry: JSON under /api/v1, the session
// cookie (same-origin), and the session's CSRF token on every write. The
// token lives only in this module's variable: never in web storage.

const BASE = '/api/v1';
const SAFE = new Set(['GET', 'HEAD']);

let csrfToken = null;
let onUnauthorized = () => {};

export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** Called on any 401: the session ended, so the app shows the sign-in page. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  /** `at`: where in a text body (a template's YAML) the problem is, if the server said. */
  constructor(status, code, message, at = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.line = at.line;
    this.column = at.column;
  }
}

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function errorFrom(res) {
  let code = `HTTP_${res.status}`;
  let message = `${res.status} ${res.statusText || 'error'}`;
  let at = {};
  try {
    const body = await res.json();
    const first = body && Array.isArray(body.errors) && body.errors[0];
    if (first) {
      code = first.code || code;
      message = first.message || message;
      at = { line: first.line, column: first.column };
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  return new ApiError(res.status, code, message, at);
}

/**
 * request('GET', '/registries') → parsed JSON (null for an empty body).
 * opts: { json, text, body, contentType, params, withHeaders, quiet401 }
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    headers['Content-Type'] = opts.contentType || 'application/yaml';
    body = opts.text;
  } else if (opts.body !== undefined) {
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    body = opts.body;
  }
  if (!SAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  let res;
  try {
    res = await fetch(BASE + path + query(opts.params), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `Could not reach ferry (${e.message}). Check that it is running.`);
  }
  if (res.status === 401) {
    const err = await errorFrom(res);
    if (!opts.quiet401) onUnauthorized(err);
    throw err;
  }
  // A sign-in in another tab replaces the session cookie, and with it the
  // CSRF token: fetch the current one and try the write once more.
  if (res.status === 403 && !SAFE.has(method) && !opts.retried && (method === 'DELETE' || !path.startsWith('/session'))) {
    const err = await errorFrom(res);
    const current = await request('GET', '/session', { quiet401: true }).catch(() => null);
    if (!current) {
      onUnauthorized(err);
      throw err;
    }
    if (current.csrf_token === csrfToken) throw err;
    csrfToken = current.csrf_token;
    return request(method, path, { ...opts, retried: true });
  }
  if (!res.ok) throw await errorFrom(res);

  const raw = res.status === 204 ? '' : await res.text();
  let data = null;
  if (raw) {
    try {
      data = JSON.parse(raw);
    } catch {
      throw new ApiError(res.status, 'BAD_RESPONSE', `ferry answered ${path} with something that is not JSON`);
    }
  }
  return opts.withHeaders ? { data, headers: res.headers } : data;
}

export const get = (path, params, opts = {}) => request('GET', path, { ...opts, params });
export const post = (path, json, opts = {}) => request('POST', path, { ...opts, json });
export const put = (path, json, opts = {}) => request('PUT', path, { ...opts, json });
export const del = (path, opts = {}) => request('DELETE', path, opts);
export const postYaml = (path, text) => request('POST', path, { text, contentType: 'application/yaml' });
export const putYaml = (path, text) => request('PUT', path, { text, contentType: 'application/yaml' });

/** A list endpoint's page plus its X-Total-Count. */
export async function getPage(path, params) {
  const { data, headers } = await request('GET', path, { params, withHeaders: true });
  const total = Number(headers.get('X-Total-Count'));
  return { items: data || [], total: Number.isFinite(total) ? total : (data || []).length };
}

// Sessions: the only calls that may answer 401 without it meaning "signed out somewhere else".
export const session = {
  current: () => request('GET', '/session', { quiet401: true }),
  signIn: (token) => request('POST', '/session', { json: { token }, quiet401: true }),
  signOut: () => request('DELETE', '/session', { quiet401: true }),
};

export const enc = encodeURIComponent;
