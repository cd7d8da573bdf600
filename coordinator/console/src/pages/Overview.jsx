import { get, getPage } from '../api.js';
import { formatBytes, formatTime, fromNow } from '../format.js';
import { useApi } from '../hooks.js';
import { Empty, ErrorText, Loading } from '../components/Alert.jsx';
import { ExecutionProgress, ExecutionTable, executionDuration } from '../components/ExecutionTable.jsx';
import { Link } from '../components/Link.jsx';
import { StatusBadge } from '../components/StatusBadge.jsx';

export function Overview() {
  const recent = useApi(() => getPage('/executions', { page_size: 20 }), [], { intervalMs: 1000 });
  const failures = useApi(() => getPage('/executions', { status: 'failed', page_size: 5 }), [], { intervalMs: 5000 });
  const policies = useApi(() => get('/policies'), [], { intervalMs: 15000 });

  const byId = new Map((policies.data || []).map((p) => [p.id, p]));
  const items = recent.data ? recent.data.items : [];
  const active = items.filter((e) => e.status === 'running' || e.status === 'pending');
  const scheduled = (policies.data || []).filter((p) => p.trigger && p.trigger.type === 'scheduled');

  return (
    <>
      <h1>Overview</h1>

      <section class="panel" aria-labelledby="running-h">
        <h2 id="running-h">Running now</h2>
        <ErrorText error={recent.error} />
        {recent.loading && !recent.data ? (
          <Loading />
        ) : active.length === 0 ? (
          <Empty>Nothing is running. Start one from Policies with “Run now”.</Empty>
        ) : (
          <ul class="cards">
            {active.map((e) => (
              <li key={e.id} class="card">
                <div class="card-head">
                  <Link href={`/executions/${e.id}`}>Execution #{e.id}</Link>
                  <StatusBadge status={e.status} />
                </div>
                <p>{byId.get(e.policy_id) ? byId.get(e.policy_id).name : `policy ${e.policy_id}`}</p>
                <ExecutionProgress execution={e} />
                <p class="muted">
                  {formatBytes(e.bytes)} in {executionDuration(e)}
                </p>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="panel" aria-labelledby="recent-h">
        <h2 id="recent-h">Recent executions</h2>
        {recent.data && items.length === 0 ? (
          <Empty>
            No executions yet. Add registries and a policy, then run it from <Link href="/policies">Policies</Link>.
          </Empty>
        ) : (
          items.length > 0 && <ExecutionTable executions={items.slice(0, 10)} policies={byId} showProgress={false} />
        )}
      </section>

      <section class="panel" aria-labelledby="failures-h">
        <h2 id="failures-h">Last failures</h2>
        <ErrorText error={failures.error} />
        {failures.data && failures.data.items.length === 0 ? (
          <Empty>No failed executions.</Empty>
        ) : (
          failures.data && (
            <ul class="list">
              {failures.data.items.map((e) => (
                <li key={e.id}>
                  <Link href={`/executions/${e.id}`}>#{e.id}</Link> {byId.get(e.policy_id) ? byId.get(e.policy_id).name : `policy ${e.policy_id}`}{' '}
                  <StatusBadge status={e.status} /> <span class="muted">{formatTime(e.end_time || e.start_time)}</span>
                  {e.status_text && <div class="muted small">{e.status_text}</div>}
                </li>
              ))}
            </ul>
          )
        )}
      </section>

      <section class="panel" aria-labelledby="scheduled-h">
        <h2 id="scheduled-h">Scheduled policies</h2>
        <ErrorText error={policies.error} />
        {policies.data && scheduled.length === 0 ? (
          <Empty>
            No scheduled policies. Give a policy a “Scheduled” trigger in <Link href="/policies">Policies</Link>.
          </Empty>
        ) : (
          <ul class="list">
            {scheduled.map((p) => (
              <li key={p.id}>
                <strong>{p.name}</strong> <code>{p.trigger.trigger_settings && p.trigger.trigger_settings.cron}</code>{' '}
                {p.enabled ? (
                  p.next_fire_time ? (
                    <span>
                      next run {formatTime(p.next_fire_time)} <span class="muted">({fromNow(p.next_fire_time)})</span>
                    </span>
                  ) : (
                    <span class="muted">no next run</span>
                  )
                ) : (
                  <StatusBadge status="disabled" />
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
