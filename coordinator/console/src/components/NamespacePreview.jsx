import { useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { useDebouncedEffect } from '../hooks.js';

/** Where a sample source repository lands at the destination, as the server maps it. */
export function NamespacePreview({ repository, namespace, replaceCount }) {
  const [state, setState] = useState({ target: null, error: null });
  const seq = useRef(0);
  useDebouncedEffect(
    async () => {
      const mine = ++seq.current;
      if (!repository.trim() || !/^-?\d+$/.test(String(replaceCount).trim())) {
        setState({ target: null, error: null });
        return;
      }
      try {
        const r = await get('/namespace/preview', { repository: repository.trim(), namespace: namespace.trim(), replace_count: String(replaceCount).trim() });
        if (mine === seq.current) setState(r.error ? { target: null, error: r.error } : { target: r.target, error: null });
      } catch (e) {
        if (mine === seq.current) setState({ target: null, error: e.message });
      }
    },
    [repository, namespace, replaceCount],
    300,
  );
  if (state.error) {
    return (
      <small class="error" role="alert">
        {state.error}
      </small>
    );
  }
  if (state.target == null) return null;
  return (
    <p class="preview" aria-live="polite" data-testid="namespace-preview">
      <code>{repository.trim()}</code> → <code>{state.target}</code>
    </p>
  );
}
