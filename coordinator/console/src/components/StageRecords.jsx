import { useState } from 'preact/hooks';
import { formatBytes, formatDuration } from '../format.js';
import { StageDialog } from './StageDialog.jsx';
import { StatusBadge } from './StatusBadge.jsx';

/** The execution-scoped stages' records (listing, prepare, post actions), in template order. */
export function StageRecords({ records }) {
  const [open, setOpen] = useState(null);
  if (!records || records.length === 0) {
    return <p class="empty">No execution-scoped stage records yet: they are kept once the execution ends.</p>;
  }
  return (
    <>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Stage</th>
              <th scope="col">Function</th>
              <th scope="col">Outcome</th>
              <th scope="col">Counts</th>
              <th scope="col">Bytes</th>
              <th scope="col">Duration</th>
              <th scope="col">Attempts</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r, i) => (
              <tr key={`${r.stage}-${i}`}>
                <th scope="row">
                  <button type="button" class="linkish" onClick={() => setOpen(r)} aria-label={`Details of stage ${r.stage}`}>
                    {r.stage}
                  </button>
                </th>
                <td>
                  <code>{r.function}</code>
                </td>
                <td>
                  <StatusBadge status={r.outcome} />
                </td>
                <td>
                  {Object.entries(r.counts || {})
                    .map(([k, v]) => `${k}: ${v}`)
                    .join(', ') || '—'}
                </td>
                <td>{formatBytes(r.bytes)}</td>
                <td>{formatDuration(r.duration_ms)}</td>
                <td>{r.attempts}</td>
                <td class="error-cell">{r.error || ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {open && <StageDialog title={`Stage ${open.stage}`} status={open.outcome} record={open} onClose={() => setOpen(null)} />}
    </>
  );
}
