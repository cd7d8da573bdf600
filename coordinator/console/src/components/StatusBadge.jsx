// A status or outcome as a coloured word: the colour is never the only cue.

const TONES = {
  succeeded: 'ok',
  healthy: 'ok',
  enabled: 'ok',
  copy: 'info',
  failed: 'bad',
  unhealthy: 'bad',
  delete: 'warn',
  running: 'info',
  pending: 'wait',
  stopped: 'warn',
  skipped: 'muted',
  skip: 'muted',
  disabled: 'muted',
  'not run': 'muted',
  'not-run': 'muted',
};

export function StatusBadge({ status, label }) {
  const s = String(status || 'unknown');
  return <span class={`badge badge-${TONES[s] || 'muted'}`}>{label || s.replace(/_/g, ' ')}</span>;
}

export const FINAL = new Set(['succeeded', 'failed', 'stopped', 'skipped']);
export const isFinal = (status) => FINAL.has(status);
