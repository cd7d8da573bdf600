import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { useApi } from '../hooks.js';
import { ErrorText, Loading } from './Alert.jsx';
import { Link } from './Link.jsx';
import { PlanTable } from './PlanTable.jsx';
import { StatusBadge, isFinal } from './StatusBadge.jsx';

/** Follows a dry-run execution until it ends, then shows its plan. */
export function DryRunResult({ executionId, onClose }) {
  // Polls until the answer it holds is final: "done" is read off that
  // answer, never set beside it, so the two cannot disagree in a render.
  const [endedId, setEndedId] = useState(null);
  const exec = useApi(() => get(`/executions/${executionId}`), [executionId], {
    intervalMs: 1000,
    active: endedId !== executionId,
  });
  const e = exec.data && exec.data.id === executionId ? exec.data : undefined;
  const done = Boolean(e && isFinal(e.status));
  useEffect(() => {
    if (done) setEndedId(executionId);
  }, [done, executionId]);
  return (
    <div class="dry-run" role="region" aria-label={`Dry run ${executionId}`}>
      <div class="card-head">
        <h3>
          Dry run <Link href={`/executions/${executionId}`}>#{executionId}</Link>
        </h3>
        {e && <StatusBadge status={e.status} />}
        <button type="button" class="secondary small" onClick={onClose}>
          Close dry run
        </button>
      </div>
      <ErrorText error={exec.error} />
      {!done && <Loading what="Listing the source…" />}
      {done && e.status_text && e.status !== 'succeeded' && <p class="muted">{e.status_text}</p>}
      {done && <PlanTable plan={e.plan} />}
    </div>
  );
}
