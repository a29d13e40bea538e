// HTTP half of the protocol (PROTOCOL.md §2–4): the session's tokens, kept in
// localStorage, refreshed before they run out and serialised across tabs
// (a refresh token is single use: two tabs refreshing at once would look
// like theft and sign the device out). localStorage reaches other tabs
// late, so the refresh token of record is the copy in IndexedDB, read and
// written under the same Web Lock as the refresh.
import { openDB } from 'idb';

const SESSION_KEY = 'natter.session';
const DEVICE_KEY = 'natter.devices'; // username -> device_id, so a sign-in resumes the device
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || (status === 0 ? 'network' : 'error');
    this.retryAfterMs = retryAfterMs;
  }
}

// Refresh a minute before expiry, or at two thirds of a short lifetime.
function margin(s) {
  return Math.min(REFRESH_MARGIN_MS, ((s.expires_in || 900) * 1000) / 3);
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

export function loadSession() {
  const s = readJson(SESSION_KEY);
  return s && s.user_id && s.device_id && s.refresh_token ? s : null;
}

function saveSession(s) {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  return authDb().then((db) => (s ? db.put('kv', s, 'session') : db.delete('kv', 'session'))).catch(() => {});
}

let authDbPromise = null;
function authDb() {
  authDbPromise ??= openDB('natter-auth', 1, { upgrade(db) { db.createObjectStore('kv'); } });
  return authDbPromise;
}

// The session as IndexedDB has it (consistent across tabs), else localStorage.
async function storedSession() {
  try {
    const s = await (await authDb()).get('kv', 'session');
    if (s !== undefined) return s && s.refresh_token ? s : null;
  } catch {
    // No IndexedDB (a private mode): localStorage is all there is.
  }
  return loadSession();
}

function rememberedDevice(username) {
  return (readJson(DEVICE_KEY) || {})[username];
}

function rememberDevice(username, deviceId) {
  const all = readJson(DEVICE_KEY) || {};
  all[username] = deviceId;
  localStorage.setItem(DEVICE_KEY, JSON.stringify(all));
}

async function call(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error || {};
    throw new ApiError(res.status, err.code, err.message, err.retry_after_ms); // inside `error` (PROTOCOL.md §1)
  }
  return data;
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return `${browser}${os ? ` on ${os}` : ''} (web)`;
}

export class Api {
  constructor() {
    this.session = loadSession();
    this.onSignedOut = () => {};
    this.refreshing = null;
  }

  get userId() {
    return this.session?.user_id;
  }

  get deviceId() {
    return this.session?.device_id;
  }

  static async register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    return call('POST', '/v1/accounts', body);
  }

  async signIn(username, password) {
    const body = { username, password, device_name: deviceName() };
    const known = rememberedDevice(username);
    if (known) body.device_id = known;
    const r = await call('POST', '/v1/sessions', body);
    rememberDevice(username, r.device_id);
    this.session = { ...r, username, expires_at: Date.now() + r.expires_in * 1000 };
    await saveSession(this.session);
    return this.session;
  }

  // Logout: the server revokes the device's tokens, and the session ends
  // here; the device stays remembered so the next sign-in resumes its inbox.
  async signOut() {
    if (this.session) {
      try {
        await this.request('DELETE', '/v1/sessions/current');
      } catch {
        // Signed out here regardless; the server revokes on its own terms.
      }
    }
    this.session = null;
    await saveSession(null);
  }

  // One refresh at a time per device, across tabs: under a Web Lock, re-read
  // the stored session first, since another tab may have refreshed already.
  async refresh() {
    if (this.refreshing) return this.refreshing;
    const run = async () => {
      const stored = await storedSession();
      if (!stored || stored.device_id !== this.session?.device_id) {
        this.expire('You were signed out in another tab.');
        throw new ApiError(401, 'unauthorized', 'signed out');
      }
      if (stored.refresh_token !== this.session.refresh_token && stored.expires_at - Date.now() > margin(stored)) {
        this.session = stored;
        return;
      }
      try {
        const r = await call('POST', '/v1/tokens/refresh', { refresh_token: stored.refresh_token });
        this.session = { ...stored, access_token: r.access_token, refresh_token: r.refresh_token, expires_in: r.expires_in, expires_at: Date.now() + r.expires_in * 1000 };
        await saveSession(this.session);
      } catch (e) {
        if (e.status === 401) this.expire('This device was signed out. Sign in again.');
        throw e;
      }
    };
    const locked = navigator.locks ? () => navigator.locks.request(`natter-refresh-${this.session?.device_id}`, run) : run;
    this.refreshing = locked().finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  expire(reason) {
    if (!this.session) return;
    this.session = null;
    saveSession(null);
    this.onSignedOut(reason || 'Your session ended: sign in again.');
  }

  async token() {
    if (!this.session) throw new ApiError(401, 'unauthorized', 'signed out');
    const stored = loadSession();
    if (stored && stored.device_id === this.session.device_id && stored.expires_at > this.session.expires_at) this.session = stored;
    if (this.session.expires_at - Date.now() < margin(this.session)) await this.refresh();
    return this.session.access_token;
  }

  async request(method, path, body) {
    let token = await this.token();
    try {
      return await call(method, path, body, token);
    } catch (e) {
      if (e.status !== 401 || !this.session) throw e;
      // The access token may have been refused as expired: refresh once.
      await this.refresh();
      token = this.session.access_token;
      try {
        return await call(method, path, body, token);
      } catch (e2) {
        if (e2.status === 401) this.expire('This device was signed out. Sign in again.');
        throw e2;
      }
    }
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body) {
    return this.request('POST', path, body ?? {});
  }

  patch(path, body) {
    return this.request('PATCH', path, body);
  }

  del(path) {
    return this.request('DELETE', path);
  }

  // PUT to a pre-signed upload URL with progress (fetch has no upload progress).
  upload(upload, blob, onProgress, signal) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(upload.method || 'PUT', new URL(upload.url, location.href).href);
      for (const [k, v] of Object.entries(upload.headers || {})) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve('stored');
        else if (xhr.status === 409 || xhr.status === 412) resolve('already');
        else {
          let message = `upload failed (HTTP ${xhr.status})`;
          try {
            message = JSON.parse(xhr.responseText).error.message || message;
          } catch {
            // S3 answers XML: keep the status.
          }
          reject(new ApiError(xhr.status, xhr.status === 403 ? 'expired' : 'upload', message));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload was cut off'));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'upload cancelled'));
      signal?.addEventListener('abort', () => xhr.abort(), { once: true });
      xhr.send(blob);
    });
  }
}
