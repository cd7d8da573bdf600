import { useEffect, useMemo, useState } from 'preact/hooks';
import { enc, get, post, postYaml } from '../api.js';
import { formatBytes, formatTime } from '../format.js';
import { useAction, useApi } from '../hooks.js';
import { navigate } from '../router.js';
import { normalizeOutline, splitRef } from '../stages.js';
import { throughputData } from '../throughput.js';
import { ErrorText, Loading } from '../components/Alert.jsx';
import { ExecutionProgress, executionDuration } from '../components/ExecutionTable.jsx';
import { Link } from '../components/Link.jsx';
import { PlanTable } from '../components/PlanTable.jsx';
import { StageMatrix } from '../components/StageMatrix.jsx';
import { StageRecords } from '../components/StageRecords.jsx';
import { StatusBadge, isFinal } from '../components/StatusBadge.jsx';
import { ThroughputChart } from '../components/ThroughputChart.jsx';

/**
 * The policy's template outline, for the matrix's column order. Best effort:
 * the template may have changed since, and any failure just leaves the
 * order to the records.
 */
async function loadOutline(policyId) {
  try {
    const policy = await get(`/policies/${policyId}`);
    const ref = splitRef(policy.template);
    const row = await get(`/templates/${enc(ref.name)}`, ref.version ? { version: ref.version } : undefined);
    const outline = await postYaml('/templates/validate', row.body);
    return { policy, outline: normalizeOutline(outline) };
  } catch {
    return { policy: null, outline: null };
  }
}

function Counts({ e }) {
  const items = [
    ['Total', e.total],
    ['Succeeded', e.succeed],
    ['Failed', e.failed],
    ['In progress', e.in_progress],
    ['Stopped', e.stopped],
    ['Bytes', formatBytes(e.bytes)],
  ];
  return (
    <dl class="counts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function EventsTable({ events }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Received</th>
            <th scope="col">Kind</th>
            <th scope="col">Artifact</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {events.map((ev) => (
            <tr key={ev.id}>
              <td>{formatTime(ev.received_at)}</td>
              <td>{ev.kind.replace(/_/g, ' ')}</td>
              <td>
                {ev.repository}
                {ev.tag ? `:${ev.tag}` : ''}
              </td>
              <td>{ev.outcome || ev.status}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ExecutionDetail({ id }) {
  // Polling stops once this execution's answer is final; keyed by id, so
  // moving to another execution (a retry's) follows that one live again.
  const [finalId, setFinalId] = useState(null);
  const final = finalId === String(id);
  const exec = useApi(() => get(`/executions/${enc(id)}`), [id], { intervalMs: 1000, active: !final });
  const tasks = useApi(() => get(`/executions/${enc(id)}/tasks`), [id], { intervalMs: 2000, active: !final });
  const e = exec.data && String(exec.data.id) === String(id) ? exec.data : undefined;
  useEffect(() => {
    if (e && isFinal(e.status)) setFinalId(String(id));
  }, [e, id]);
  const policyId = e && e.policy_id;
  const template = useApi(() => (policyId ? loadOutline(policyId) : Promise.resolve(null)), [policyId]);

  // Samples of the live byte counter while it runs: tasks report their bytes only when they end.
  const [samples, setSamples] = useState([]);
  useEffect(() => setSamples([]), [id]);
  useEffect(() => {
    if (e && !isFinal(e.status)) setSamples((s) => [...s.slice(-600), { t: Date.now(), bytes: e.bytes }]);
  }, [e]);

  const stop = useAction(() => post(`/executions/${enc(id)}/stop`));
  const retry = useAction(() => post(`/executions/${enc(id)}/retry`));
  const taskList = tasks.data || [];
  const chartData = useMemo(() => throughputData(e, taskList, samples), [e, tasks.data, samples]);

  if (exec.error && !e) {
    return (
      <>
        <h1>Execution #{id}</h1>
        <ErrorText error={exec.error} />
        <p>
          Back to <Link href="/executions">Executions</Link>.
        </p>
      </>
    );
  }
  if (!e) return <Loading />;

  const active = e.status === 'running' || e.status === 'pending';
  const policy = template.data && template.data.policy;

  const doStop = async () => {
    if (await stop.run()) exec.reload();
  };
  const doRetry = async () => {
    const n = await retry.run();
    if (n) navigate(`/executions/${n.id}`);
  };

  return (
    <>
      <div class="page-head">
        <h1>
          Execution #{e.id} <StatusBadge status={e.status} />
          {e.dry_run && <span class="tag">dry run</span>}
        </h1>
        <div class="row">
          {active && (
            <button type="button" class="danger" onClick={doStop} disabled={stop.busy}>
              Stop
            </button>
          )}
          {isFinal(e.status) && e.status !== 'skipped' && e.failed > 0 && (
            <button type="button" onClick={doRetry} disabled={retry.busy}>
              Retry failed
            </button>
          )}
        </div>
      </div>
      <ErrorText error={stop.error} prefix="Stop" />
      <ErrorText error={retry.error} prefix="Retry" />
      <ErrorText error={exec.error} prefix="Refreshing" />

      <section class="panel" aria-labelledby="summary-h">
        <h2 id="summary-h">Summary</h2>
        <dl class="facts">
          <dt>Policy</dt>
          <dd>
            <Link href={`/executions?policy=${e.policy_id}`}>{policy ? policy.name : `policy ${e.policy_id}`}</Link>
            {policy && (
              <>
                {' '}
                · template <code>{policy.template}</code>
              </>
            )}
          </dd>
          <dt>Trigger</dt>
          <dd>
            {String(e.trigger).replace(/_/g, ' ')}
            {e.retry_of ? (
              <>
                {' '}
                of <Link href={`/executions/${e.retry_of}`}>#{e.retry_of}</Link>
              </>
            ) : null}
            {e.tick_time ? ` (tick ${formatTime(e.tick_time)})` : ''}
          </dd>
          <dt>Started</dt>
          <dd>{formatTime(e.start_time)}</dd>
          <dt>Ended</dt>
          <dd>{e.end_time ? formatTime(e.end_time) : '—'}</dd>
          <dt>Duration</dt>
          <dd>{executionDuration(e)}</dd>
          {e.status_text && (
            <>
              <dt>Status</dt>
              <dd>{e.status_text}</dd>
            </>
          )}
        </dl>
        <Counts e={e} />
        {active && <ExecutionProgress execution={e} />}
      </section>

      <section class="panel" aria-labelledby="throughput-h">
        <h2 id="throughput-h">Throughput</h2>
        <ThroughputChart data={chartData} />
      </section>

      {e.dry_run && (
        <section class="panel" aria-labelledby="plan-h">
          <h2 id="plan-h">Plan</h2>
          {e.plan ? <PlanTable plan={e.plan} /> : <Loading what="The plan appears when the listing ends…" />}
        </section>
      )}

      <section class="panel" aria-labelledby="exec-stages-h">
        <h2 id="exec-stages-h">Execution stages</h2>
        <StageRecords records={e.stages} />
      </section>

      {e.events && e.events.length > 0 && (
        <section class="panel" aria-labelledby="events-h">
          <h2 id="events-h">Registry events</h2>
          <EventsTable events={e.events} />
        </section>
      )}

      <section class="panel" aria-labelledby="matrix-h">
        <h2 id="matrix-h">Stage matrix</h2>
        <ErrorText error={tasks.error} prefix="Tasks" />
        {tasks.data ? <StageMatrix tasks={taskList} outline={template.data && template.data.outline} /> : <Loading />}
      </section>
    </>
  );
}
