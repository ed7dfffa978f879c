// The server's HTTP API as the console uses it: the token from sessionStorage as a Bearer header, errors as the server
// sent them.

const tokenKey = 'arc-native.token';

export const session = {
  get token() {
    return sessionStorage.getItem(tokenKey);
  },
  set token(value) {
    if (value) sessionStorage.setItem(tokenKey, value);
    else sessionStorage.removeItem(tokenKey);
  },
};

/** An error response: the HTTP status and the server's own message (its JSON `error`, else the body's text). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** fetch() with the token; a non-2xx answer throws an ApiError carrying the server's message. */
export async function request(path, { method = 'GET', body, signal, headers = {} } = {}) {
  const all = { ...headers };
  if (session.token) all.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) all['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!response.ok) {
    if (response.status === 401 && session.token) {
      // The token was revoked or expired while signed in: the console goes back to its sign-in form.
      window.dispatchEvent(new Event('arc-token-refused'));
    }
    const text = await response.text();
    let message = text;
    try {
      message = JSON.parse(text).error ?? text;
    } catch {
      // not JSON: the text as it came
    }
    throw new ApiError(response.status, message || `${response.status} ${response.statusText}`);
  }
  return response;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

/** Runs SQL through the JSON endpoint (small answers: the browser's details). */
export async function queryJson(sql, database, signal) {
  return getJson('/api/v1/query', { method: 'POST', body: { sql, database }, signal });
}

/** Runs SQL through the Arrow endpoint and returns the IPC stream's bytes. */
export async function queryArrow(sql, database, signal) {
  const response = await request('/api/v1/query/arrow', { method: 'POST', body: { sql, database }, signal });
  return new Uint8Array(await response.arrayBuffer());
}

/** Names in SQL: double-quoted, quotes doubled. */
export function quoteIdentifier(name) {
  return `"${name.replaceAll('"', '""')}"`;
}
