import { useState } from 'preact/hooks';
import { post, put } from '../api.js';
import { useAction } from '../hooks.js';
import { TRIGGERS, emptyPolicyForm, formToInput, policyToForm } from '../policy.js';
import { ErrorText } from './Alert.jsx';
import { CronPreview } from './CronPreview.jsx';
import { CheckboxField, SelectField, TextField } from './Field.jsx';
import { FiltersEditor } from './FiltersEditor.jsx';
import { NamespacePreview } from './NamespacePreview.jsx';

export function PolicyForm({ policy, registries, templates, onSaved, onCancel }) {
  const editing = !!policy;
  const [f, setF] = useState(() => {
    const base = policy ? policyToForm(policy) : emptyPolicyForm();
    if (!policy && registries.length) {
      base.src = String(registries[0].id);
      base.dest = String(registries[Math.min(1, registries.length - 1)].id);
    }
    return base;
  });
  const [sample, setSample] = useState('library/nginx');
  const set = (k) => (v) => setF((s) => ({ ...s, [k]: v }));
  const save = useAction(() => {
    const input = formToInput(f);
    return editing ? put(`/policies/${policy.id}`, input) : post('/policies', input);
  });
  const id = (k) => `pol-${policy ? policy.id : 'new'}-${k}`;

  const registryOptions = [['', 'Choose a registry'], ...registries.map((r) => [String(r.id), `${r.name} (${r.type}, ${r.url})`])];
  // Each template by name (its latest version at run time), or pinned to its current version.
  const templateOptions = templates.flatMap((t) => [
    [t.name, `${t.name} (latest)`],
    [`${t.name}@${t.version}`, `${t.name}@${t.version} (pinned)`],
  ]);
  if (!templateOptions.some(([v]) => v === f.template)) templateOptions.unshift([f.template, f.template]);

  const submit = async (e) => {
    e.preventDefault();
    const saved = await save.run();
    if (saved) onSaved(saved);
  };

  return (
    <form class="panel form" onSubmit={submit} aria-label={editing ? `Edit policy ${policy.name}` : 'Add policy'}>
      <h2>{editing ? `Edit ${policy.name}` : 'Add policy'}</h2>
      <div class="grid">
        <TextField id={id('name')} label="Name" value={f.name} onInput={set('name')} required />
        <TextField id={id('description')} label="Description" value={f.description} onInput={set('description')} />
        <SelectField id={id('src')} label="Source registry" value={f.src} onChange={set('src')} options={registryOptions} required />
        <SelectField id={id('dest')} label="Destination registry" value={f.dest} onChange={set('dest')} options={registryOptions} required />
        <TextField
          id={id('namespace')}
          label="Destination namespace"
          value={f.dest_namespace}
          onInput={set('dest_namespace')}
          hint="Empty: keep the source path."
        />
        <TextField
          id={id('replace-count')}
          label="Replace count"
          type="number"
          min="-1"
          step="1"
          value={f.replace_count}
          onInput={set('replace_count')}
          hint="-1 replaces the whole namespace; N its first N levels."
        />
        <TextField id={id('sample')} label="Sample repository" value={sample} onInput={setSample} hint="Try the mapping on a source repository.">
          <NamespacePreview repository={sample} namespace={f.dest_namespace} replaceCount={f.replace_count} />
        </TextField>
      </div>

      <FiltersEditor idPrefix={id('f')} filters={f.filters} onChange={set('filters')} />

      <div class="grid">
        <SelectField id={id('trigger')} label="Trigger" value={f.trigger} onChange={set('trigger')} options={TRIGGERS} />
        {f.trigger === 'scheduled' && (
          <TextField
            id={id('cron')}
            label="Cron"
            value={f.cron}
            onInput={set('cron')}
            placeholder="0 0 * * * *"
            hint="6 fields (with seconds) or the classic 5, in UTC."
            required
            spellcheck={false}
          >
            <CronPreview cron={f.cron} errorId={id('cron-error')} />
          </TextField>
        )}
        <SelectField id={id('template')} label="Template" value={f.template} onChange={set('template')} options={templateOptions} hint="Latest follows new versions; pinned keeps this one." />
        <TextField id={id('speed')} label="Speed (KB/s)" type="number" min="-1" step="1" value={f.speed} onInput={set('speed')} hint="-1: unlimited." />
        <TextField id={id('chunk-size')} label="Chunk size (bytes)" type="number" min="1" step="1" value={f.chunk_size} onInput={set('chunk_size')} />
      </div>
      <div class="checks">
        <CheckboxField id={id('replicate-deletion')} label="Replicate deletion" checked={f.replicate_deletion} onChange={set('replicate_deletion')} />
        <CheckboxField id={id('override')} label="Override" checked={f.override} onChange={set('override')} hint="Replace tags that differ at the destination." />
        <CheckboxField id={id('enabled')} label="Enabled" checked={f.enabled} onChange={set('enabled')} />
        <CheckboxField id={id('copy-by-chunk')} label="Copy by chunk" checked={f.copy_by_chunk} onChange={set('copy_by_chunk')} />
        <CheckboxField
          id={id('single-active')}
          label="Single active replication"
          checked={f.single_active_replication}
          onChange={set('single_active_replication')}
          hint="Skip a run while another of this policy is active."
        />
      </div>
      <ErrorText error={save.error} prefix="Not saved" />
      <div class="row">
        <button type="submit" disabled={save.busy}>
          {save.busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
