import { formatBytes, formatDuration, formatTime } from '../format.js';
import { Link } from './Link.jsx';
import { StatusBadge } from './StatusBadge.jsx';

/** Tasks done of all, as a <progress> with its words beside it. */
export function ExecutionProgress({ execution: e }) {
  const done = (e.succeed || 0) + (e.failed || 0) + (e.stopped || 0);
  const total = e.total || 0;
  return (
    <span class="progress">
      <progress max={Math.max(total, 1)} value={total ? done : 0} aria-label={`Execution ${e.id} progress`} />
      <span>
        {done}/{total} tasks
        {e.failed ? `, ${e.failed} failed` : ''}
      </span>
    </span>
  );
}

export function executionDuration(e, now = Date.now()) {
  if (!e.start_time) return '—';
  return formatDuration((e.end_time || now) - e.start_time);
}

/** Executions as rows; `policies` maps id → policy for names. */
export function ExecutionTable({ executions, policies, caption, showProgress = true }) {
  const name = (id) => (policies && policies.get(id) ? policies.get(id).name : `policy ${id}`);
  return (
    <div class="table-wrap">
      <table>
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            <th scope="col">Execution</th>
            <th scope="col">Policy</th>
            <th scope="col">Status</th>
            <th scope="col">Trigger</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            {showProgress && <th scope="col">Progress</th>}
            <th scope="col">Bytes</th>
          </tr>
        </thead>
        <tbody>
          {executions.map((e) => (
            <tr key={e.id}>
              <td>
                <Link href={`/executions/${e.id}`}>#{e.id}</Link>
              </td>
              <td>{name(e.policy_id)}</td>
              <td>
                <StatusBadge status={e.status} />
                {e.dry_run && <span class="tag">dry run</span>}
              </td>
              <td>
                {String(e.trigger).replace(/_/g, ' ')}
                {e.retry_of ? (
                  <>
                    {' '}
                    of <Link href={`/executions/${e.retry_of}`}>#{e.retry_of}</Link>
                  </>
                ) : null}
              </td>
              <td>{formatTime(e.start_time)}</td>
              <td>{executionDuration(e)}</td>
              {showProgress && (
                <td>
                  <ExecutionProgress execution={e} />
                </td>
              )}
              <td>{formatBytes(e.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
