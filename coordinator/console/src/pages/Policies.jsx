import { useState } from 'preact/hooks';
import { del, get, post, put } from '../api.js';
import { formatTime, fromNow } from '../format.js';
import { useAction, useApi } from '../hooks.js';
import { policyInputWith } from '../policy.js';
import { Empty, ErrorText, Loading, Notice } from '../components/Alert.jsx';
import { DryRunResult } from '../components/DryRunResult.jsx';
import { Link } from '../components/Link.jsx';
import { PolicyForm } from '../components/PolicyForm.jsx';
import { StatusBadge } from '../components/StatusBadge.jsx';

function triggerText(t) {
  if (!t) return 'manual';
  if (t.type === 'scheduled') return `scheduled (${(t.trigger_settings && t.trigger_settings.cron) || '?'})`;
  return t.type.replace(/_/g, '-');
}

function PolicyRow({ policy: p, registryName, onEdit, onChanged }) {
  const run = useAction(() => post(`/policies/${p.id}/executions`, {}));
  const dry = useAction(() => post(`/policies/${p.id}/executions`, { dry_run: true }));
  const toggle = useAction(() => put(`/policies/${p.id}`, policyInputWith(p, { enabled: !p.enabled })));
  const remove = useAction(() => del(`/policies/${p.id}`));
  const [dryId, setDryId] = useState(null);

  const startDry = async () => {
    const e = await dry.run();
    if (e) setDryId(e.id);
  };
  const flip = async () => {
    if (await toggle.run()) onChanged();
  };
  const confirmDelete = async () => {
    if (!window.confirm(`Delete policy “${p.name}”? This cannot be undone.`)) return;
    if ((await remove.run()) !== undefined) onChanged(`Deleted policy “${p.name}”.`);
  };

  return (
    <article class="panel policy" aria-labelledby={`pol-${p.id}-h`}>
      <div class="card-head">
        <h2 id={`pol-${p.id}-h`}>{p.name}</h2>
        <StatusBadge status={p.enabled ? 'enabled' : 'disabled'} />
      </div>
      {p.description && <p>{p.description}</p>}
      <dl class="facts">
        <dt>From → to</dt>
        <dd>
          {registryName(p.src_registry.id)} → {registryName(p.dest_registry.id)}
          {p.dest_namespace ? (
            <>
              {' '}
              / <code>{p.dest_namespace}</code> (replace {p.dest_namespace_replace_count === -1 ? 'whole namespace' : `${p.dest_namespace_replace_count} level(s)`})
            </>
          ) : null}
        </dd>
        <dt>Trigger</dt>
        <dd>{triggerText(p.trigger)}</dd>
        <dt>Next run</dt>
        <dd>{p.next_fire_time ? `${formatTime(p.next_fire_time)} (${fromNow(p.next_fire_time)})` : '—'}</dd>
        <dt>Template</dt>
        <dd>
          <code>{p.template}</code>
        </dd>
        <dt>Filters</dt>
        <dd>
          {p.filters.length === 0
            ? 'none (everything)'
            : p.filters.map((f) => `${f.type} ${f.decoration || 'matches'} ${f.value == null || f.value === '' ? '*' : f.value}`).join('; ')}
        </dd>
      </dl>
      <div class="row">
        <button type="button" onClick={() => run.run()} disabled={run.busy || !p.enabled} title={p.enabled ? undefined : 'Enable the policy to run it'}>
          Run now
        </button>
        <button type="button" class="secondary" onClick={startDry} disabled={dry.busy}>
          Dry run
        </button>
        <button type="button" class="secondary" onClick={flip} disabled={toggle.busy}>
          {p.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" class="secondary" onClick={() => onEdit(p)}>
          Edit
        </button>
        <Link href={`/executions?policy=${p.id}`} class="button-link">
          Executions
        </Link>
        <button type="button" class="danger" onClick={confirmDelete} disabled={remove.busy}>
          Delete
        </button>
      </div>
      <ErrorText error={run.error} prefix="Run now" />
      {run.result && (
        <Notice>
          Started <Link href={`/executions/${run.result.id}`}>execution #{run.result.id}</Link> ({run.result.status}).
        </Notice>
      )}
      <ErrorText error={dry.error} prefix="Dry run" />
      <ErrorText error={toggle.error} prefix={p.enabled ? 'Disable' : 'Enable'} />
      <ErrorText error={remove.error} prefix="Delete" />
      {dryId && <DryRunResult executionId={dryId} onClose={() => setDryId(null)} />}
    </article>
  );
}

export function Policies() {
  const list = useApi(() => get('/policies'), [], { intervalMs: 30000 });
  const registries = useApi(() => get('/registries'));
  const templates = useApi(() => get('/templates'));
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState(null);
  const regs = registries.data || [];
  const registryName = (id) => {
    const r = regs.find((x) => x.id === id);
    return r ? r.name : `registry ${id}`;
  };

  const open = (p) => {
    setNotice(null);
    setEditing(p);
    window.scrollTo(0, 0);
  };

  return (
    <>
      <div class="page-head">
        <h1>Policies</h1>
        <button type="button" onClick={() => open('new')} disabled={!registries.data}>
          Add policy
        </button>
      </div>
      <Notice>{notice}</Notice>
      <ErrorText error={registries.error} prefix="Registries" />
      <ErrorText error={templates.error} prefix="Templates" />
      {editing && registries.data && regs.length === 0 && (
        <Empty>
          A policy copies from one registry to another: <Link href="/registries">add registries</Link> first.
        </Empty>
      )}
      {editing && registries.data && regs.length > 0 && (
        <PolicyForm
          key={editing === 'new' ? 'new' : editing.id}
          policy={editing === 'new' ? null : editing}
          registries={regs}
          templates={templates.data || []}
          onSaved={(p) => {
            setEditing(null);
            setNotice(`Saved policy “${p.name}”.`);
            list.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <ErrorText error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && <Empty>No policies yet. Add one to replicate between two registries.</Empty>}
      {list.data &&
        list.data.map((p) => (
          <PolicyRow
            key={p.id}
            policy={p}
            registryName={registryName}
            onEdit={open}
            onChanged={(msg) => {
              if (msg) setNotice(msg);
              list.reload();
            }}
          />
        ))}
    </>
  );
}
