import { useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { formatTime } from '../format.js';
import { useAction } from '../hooks.js';
import { eventEndpoint, notificationsSnippet } from '../snippet.js';
import { Empty, ErrorText } from './Alert.jsx';
import { Link } from './Link.jsx';
import { StatusBadge } from './StatusBadge.jsx';

function RecentEvents({ registryId }) {
  const load = useAction(() => get(`/registries/${registryId}/events`, { limit: 20 }));
  const [open, setOpen] = useState(false);
  const toggle = () => {
    if (!open) load.run();
    setOpen(!open);
  };
  return (
    <div>
      <button type="button" class="secondary small" aria-expanded={open} onClick={toggle}>
        {open ? 'Hide recent events' : 'Recent events'}
      </button>
      {open && (
        <div>
          <ErrorText error={load.error} />
          {load.busy && <p class="loading">Loading…</p>}
          {load.result && load.result.length === 0 && <Empty>No events received yet. Paste the snippet below into the registry’s configuration.</Empty>}
          {load.result && load.result.length > 0 && (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Received</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Artifact</th>
                    <th scope="col">Status</th>
                    <th scope="col">Outcome</th>
                  </tr>
                </thead>
                <tbody>
                  {load.result.map((ev) => (
                    <tr key={ev.id}>
                      <td>{formatTime(ev.received_at)}</td>
                      <td>{ev.kind.replace(/_/g, ' ')}</td>
                      <td>
                        {ev.repository}
                        {ev.tag ? `:${ev.tag}` : ''}
                      </td>
                      <td>{ev.status}</td>
                      <td>
                        {ev.execution_id ? <Link href={`/executions/${ev.execution_id}`}>#{ev.execution_id}</Link> : null} {ev.outcome || ''}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  );
}

export function RegistryCard({ registry: r, onEdit, onDeleted }) {
  const health = useAction(() => post(`/registries/${r.id}/ping`));
  const remove = useAction(() => del(`/registries/${r.id}`));
  const origin = location.origin;

  const confirmDelete = async () => {
    if (!window.confirm(`Delete registry “${r.name}”? Policies that use it must be deleted first.`)) return;
    const gone = await remove.run();
    if (gone !== undefined) onDeleted(r);
  };

  return (
    <article class="panel registry" aria-labelledby={`reg-${r.id}-h`}>
      <div class="card-head">
        <h2 id={`reg-${r.id}-h`}>{r.name}</h2>
        <span class="tag">{r.type}</span>
      </div>
      <dl class="facts">
        <dt>URL</dt>
        <dd>
          <code>{r.url}</code> {r.insecure && <span class="tag warn">insecure</span>}
        </dd>
        <dt>Credential</dt>
        <dd>{r.credential_type ? `${r.credential_type} (stored, never shown)` : 'none (anonymous)'}</dd>
        {r.description && (
          <>
            <dt>Description</dt>
            <dd>{r.description}</dd>
          </>
        )}
        <dt>Events</dt>
        <dd>
          {r.event_secret_set ? 'secret set' : 'no secret: notifications are refused'} · {r.events_accepted} accepted, {r.events_dropped} dropped,{' '}
          {r.events_ignored} ignored
        </dd>
      </dl>
      <div class="row">
        <button type="button" class="secondary" onClick={() => onEdit(r)}>
          Edit
        </button>
        <button type="button" class="secondary" onClick={() => health.run()} disabled={health.busy}>
          {health.busy ? 'Checking…' : 'Check health'}
        </button>
        <button type="button" class="danger" onClick={confirmDelete} disabled={remove.busy}>
          Delete
        </button>
      </div>
      <ErrorText error={health.error} prefix="Health check" />
      {health.result && (
        <p role="status" class="health">
          <StatusBadge status={health.result.status} /> {health.result.message}
        </p>
      )}
      <ErrorText error={remove.error} prefix="Delete" />
      <h3>Notifications</h3>
      <p>
        Event endpoint: <code class="wrap">{eventEndpoint(origin, r.id)}</code>
      </p>
      <p class="hint">Add this to the registry’s config.yml (with this registry’s event secret) so pushes and deletes trigger event-based policies:</p>
      <pre class="snippet" aria-label={`Notifications snippet for ${r.name}`}>
        {notificationsSnippet(origin, r.id)}
      </pre>
      <RecentEvents registryId={r.id} />
    </article>
  );
}
