// History-API routing: links push a path, the app re-renders, no reload.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function notify() {
  for (const fn of listeners) fn();
}

if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

export function navigate(to, { replace = false } = {}) {
  const url = new URL(to, location.href);
  const same = url.pathname === location.pathname && url.search === location.search && url.hash === location.hash;
  if (replace) history.replaceState(null, '', url);
  else if (!same) history.pushState(null, '', url);
  notify();
  if (!replace && url.hash === '') window.scrollTo(0, 0);
}

/** Replaces the query string (filters kept in the URL) without a new history entry. */
export function setQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? `?${s}` : '') + location.hash);
}

/** { path, query, hash }, re-rendering on every navigation. */
export function useLocation() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((t) => t + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return {
    path: location.pathname,
    query: new URLSearchParams(location.search),
    hash: decodeURIComponent(location.hash.replace(/^#/, '')),
  };
}

/**
 * match('/templates/:name', '/templates/a%20b') → { name: 'a b' }; null when
 * it does not match.
 */
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      try {
        params[p[i].slice(1)] = decodeURIComponent(s[i]);
      } catch {
        return null;
      }
    } else if (p[i] !== s[i]) {
      return null;
    }
  }
  return params;
}

/** Whether a plain left click on a link should be handled in-app. */
export function isPlainClick(e) {
  return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey && !e.defaultPrevented;
}
