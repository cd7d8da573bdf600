// Data hooks: load once, poll, debounce. Each ignores answers that arrive
// after its component moved on (unmounted, or newer inputs).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Loads `fn()` when deps change; { data, error, loading, reload, setData }.
 * With `intervalMs`, loads again that long after each answer, while
 * `active` (default true); a hidden tab waits until it shows again.
 */
export function useApi(fn, deps = [], { intervalMs = 0, active = true } = {}) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const epoch = useRef(0); // bumped when deps change or on unmount
  const seq = useRef(0); // the latest request wins

  const load = useCallback(async (forEpoch = epoch.current) => {
    const mine = ++seq.current;
    const fresh = () => mine === seq.current && forEpoch === epoch.current;
    try {
      const data = await fnRef.current();
      if (fresh()) setState({ data, error: null, loading: false });
    } catch (error) {
      if (fresh()) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, []);

  useEffect(() => {
    const mine = ++epoch.current;
    let timer = null;
    const tick = async () => {
      if (mine !== epoch.current) return;
      const hidden = intervalMs && typeof document !== 'undefined' && document.hidden;
      if (!hidden) await load(mine);
      if (mine === epoch.current && intervalMs && active) timer = setTimeout(tick, intervalMs);
    };
    tick();
    return () => {
      epoch.current++;
      clearTimeout(timer);
    };
  }, [...deps, intervalMs, active]);

  const setData = useCallback(
    (update) => setState((s) => ({ ...s, data: typeof update === 'function' ? update(s.data) : update })),
    [],
  );
  const reload = useCallback(() => load(), [load]);
  return { ...state, reload, setData };
}

/** Runs `fn` `ms` after deps stop changing; stale runs are dropped by the caller's own checks. */
export function useDebouncedEffect(fn, deps, ms) {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    const t = setTimeout(() => fnRef.current(), ms);
    return () => clearTimeout(t);
  }, deps);
}

/**
 * An action's state for a button: run(...) sets busy, keeps the error to
 * show beside the button, and returns the result (undefined on error).
 */
export function useAction(fn) {
  const [state, setState] = useState({ busy: false, error: null, result: undefined });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const mounted = useRef(true);
  useEffect(() => () => (mounted.current = false), []);
  const run = useCallback(async (...args) => {
    setState({ busy: true, error: null, result: undefined });
    try {
      const result = await fnRef.current(...args);
      if (mounted.current) setState({ busy: false, error: null, result });
      return result;
    } catch (error) {
      if (mounted.current) setState({ busy: false, error, result: undefined });
      return undefined;
    }
  }, []);
  const reset = useCallback(() => setState({ busy: false, error: null, result: undefined }), []);
  return { ...state, run, reset };
}

/** Whether the system asks for dark colours, following its changes. */
export function usePrefersDark() {
  const query = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  const [dark, setDark] = useState(query ? query.matches : false);
  useEffect(() => {
    if (!query) return undefined;
    const fn = (e) => setDark(e.matches);
    query.addEventListener('change', fn);
    return () => query.removeEventListener('change', fn);
  }, []);
  return dark;
}
