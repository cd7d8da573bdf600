import { useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { formatTime } from '../format.js';
import { useDebouncedEffect } from '../hooks.js';

/** The next 5 fire times of a cron expression, from the server's own scheduler; or its complaint. */
export function CronPreview({ cron, errorId }) {
  const [state, setState] = useState({ next: null, error: null });
  const seq = useRef(0);
  useDebouncedEffect(
    async () => {
      const mine = ++seq.current;
      if (!cron.trim()) {
        setState({ next: null, error: null });
        return;
      }
      try {
        const r = await get('/schedule/preview', { cron: cron.trim(), count: 5 });
        if (mine === seq.current) setState(r.error ? { next: null, error: r.error } : { next: r.next || [], error: null });
      } catch (e) {
        if (mine === seq.current) setState({ next: null, error: e.message });
      }
    },
    [cron],
    300,
  );
  if (state.error) {
    return (
      <small id={errorId} class="error" role="alert">
        {state.error}
      </small>
    );
  }
  if (!state.next) return null;
  return (
    <div class="preview" aria-live="polite">
      <small class="hint">Next runs (your local time):</small>
      {state.next.length === 0 ? (
        <small class="hint"> never fires again.</small>
      ) : (
        <ol class="plain small">
          {state.next.map((t) => (
            <li key={t}>{formatTime(t)}</li>
          ))}
        </ol>
      )}
    </div>
  );
}
