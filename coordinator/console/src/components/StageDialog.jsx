import { useEffect, useRef } from 'preact/hooks';
import { formatBytes, formatDuration } from '../format.js';
import { StatusBadge } from './StatusBadge.jsx';

/** One stage record in a modal <dialog>: counts, bytes, error, attempts, messages and logs. */
export function StageDialog({ title, status, record, task, onClose }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    }
  }, []);

  const counts = record && record.counts ? Object.entries(record.counts) : [];
  return (
    <dialog ref={ref} class="stage-dialog" aria-labelledby="stage-dialog-h" onClose={onClose}>
      <div class="card-head">
        <h2 id="stage-dialog-h">{title}</h2>
        <StatusBadge status={status} />
      </div>
      {!record ? (
        <p>No record for this stage yet: {status === 'n/a' ? 'the stage does not serve this task’s operation.' : 'it has not run for this artifact.'}</p>
      ) : (
        <>
          <dl class="facts">
            <dt>Function</dt>
            <dd>
              <code>{record.function}</code>
            </dd>
            <dt>Outcome</dt>
            <dd>{record.outcome}</dd>
            <dt>Attempts</dt>
            <dd>{record.attempts}</dd>
            <dt>Duration</dt>
            <dd>{formatDuration(record.duration_ms)}</dd>
            <dt>Bytes</dt>
            <dd>{formatBytes(record.bytes)}</dd>
            <dt>Counts</dt>
            <dd>{counts.length ? counts.map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'}</dd>
          </dl>
          {record.error && (
            <>
              <h3>Error</h3>
              <p class="error">{record.error}</p>
            </>
          )}
          {record.messages && record.messages.length > 0 && (
            <>
              <h3>Messages</h3>
              <ul>
                {record.messages.map((m, i) => (
                  <li key={i}>{m}</li>
                ))}
              </ul>
            </>
          )}
          <h3>Logs</h3>
          <pre class="logs">{record.logs && record.logs.length ? record.logs.join('\n') : '(no logs)'}</pre>
        </>
      )}
      {task && (task.error || task.reason) && (
        <p class="muted">
          Task {task.status}: {task.error || task.reason}
        </p>
      )}
      <div class="row">
        <button type="button" autofocus onClick={() => ref.current && ref.current.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}
