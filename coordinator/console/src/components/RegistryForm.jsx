import { useState } from 'preact/hooks';
import { post, put } from '../api.js';
import { useAction } from '../hooks.js';
import { ErrorText } from './Alert.jsx';
import { CheckboxField, SelectField, TextField } from './Field.jsx';

function randomSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * RegistryInput (registries.rs) from the form. Secrets are write-only: on an
 * edit, an empty username and password keep the stored credential, an
 * empty event secret keeps the stored one, and "remove" sends "".
 */
function toInput(f, editing) {
  const input = { name: f.name, type: f.kind, url: f.url.trim(), insecure: f.insecure, description: f.description };
  if (f.username || f.password) {
    if (!f.username) throw new Error('Username: enter the user this password is for');
    if (!f.password) throw new Error(editing ? 'Password: enter it again (a stored password is never shown)' : 'Password: enter the password or token');
    input.credential = { type: 'basic', access_key: f.username, access_secret: f.password };
  }
  for (const [key, label, max] of [
    ['requests_per_second', 'Requests per second', 100000],
    ['max_concurrency', 'Requests at once', 1024],
  ]) {
    const text = String(f[key]).trim();
    if (text === '') continue;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${label}: a whole number from 1 to ${max}, or empty for no bound`);
    input[key] = n;
  }
  if (f.removeEventSecret) input.event_secret = '';
  else if (f.eventSecret) {
    if (f.eventSecret.length < 16) throw new Error('Event secret: at least 16 characters');
    input.event_secret = f.eventSecret;
  }
  return input;
}

export function RegistryForm({ registry, kinds, onSaved, onCancel }) {
  const editing = !!registry;
  const [f, setF] = useState({
    name: registry ? registry.name : '',
    kind: registry ? registry.type : kinds[0] || 'distribution',
    url: registry ? registry.url : 'https://',
    insecure: registry ? registry.insecure : false,
    username: '',
    password: '',
    eventSecret: '',
    removeEventSecret: false,
    description: registry ? registry.description : '',
    requests_per_second: registry && registry.requests_per_second != null ? String(registry.requests_per_second) : '',
    max_concurrency: registry && registry.max_concurrency != null ? String(registry.max_concurrency) : '',
  });
  const [generated, setGenerated] = useState(null);
  const set = (k) => (v) => setF((s) => ({ ...s, [k]: v }));
  const save = useAction(async () => {
    const input = toInput(f, editing);
    return editing ? put(`/registries/${registry.id}`, input) : post('/registries', input);
  });
  const kindOptions = (kinds.includes(f.kind) ? kinds : [f.kind, ...kinds]).map((k) => [k, k]);
  const id = (k) => `reg-${registry ? registry.id : 'new'}-${k}`;

  const submit = async (e) => {
    e.preventDefault();
    const saved = await save.run();
    if (saved) onSaved(saved);
  };

  return (
    <form class="panel form" onSubmit={submit} aria-label={editing ? `Edit registry ${registry.name}` : 'Add registry'}>
      <h2>{editing ? `Edit ${registry.name}` : 'Add registry'}</h2>
      <div class="grid">
        <TextField id={id('name')} label="Name" value={f.name} onInput={set('name')} required />
        <SelectField id={id('kind')} label="Kind" value={f.kind} onChange={set('kind')} options={kindOptions} hint="Kinds come from the installed templates." />
        <TextField
          id={id('url')}
          label="URL"
          type="url"
          value={f.url}
          onInput={set('url')}
          required
          hint="https://host[:port]; plain http:// needs “Insecure”."
        />
        <CheckboxField id={id('insecure')} label="Insecure (skip TLS verify)" checked={f.insecure} onChange={set('insecure')} />
        <TextField
          id={id('username')}
          label="Username"
          value={f.username}
          onInput={set('username')}
          autocomplete="off"
          hint={editing ? (registry.credential_type ? 'A credential is stored: leave both empty to keep it.' : 'No credential stored.') : 'Optional: leave empty for anonymous access.'}
        />
        <TextField id={id('password')} label="Password" type="password" value={f.password} onInput={set('password')} autocomplete="new-password" />
        <TextField
          id={id('event-secret')}
          label="Event secret"
          type="password"
          value={f.eventSecret}
          onInput={set('eventSecret')}
          autocomplete="new-password"
          disabled={f.removeEventSecret}
          hint={
            editing && registry.event_secret_set
              ? 'A secret is set: leave empty to keep it. At least 16 characters.'
              : 'Lets this registry send notifications (at least 16 characters). Optional.'
          }
        >
          <div class="row">
            <button
              type="button"
              class="secondary small"
              onClick={() => {
                const secret = randomSecret();
                setGenerated(secret);
                setF((s) => ({ ...s, eventSecret: secret, removeEventSecret: false }));
              }}
            >
              Generate secret
            </button>
            {generated && generated === f.eventSecret && (
              <span>
                Copy it into the registry’s config now (it is never shown again): <code class="secret">{generated}</code>
              </span>
            )}
          </div>
        </TextField>
        {editing && registry.event_secret_set && (
          <CheckboxField id={id('remove-secret')} label="Remove the event secret" checked={f.removeEventSecret} onChange={set('removeEventSecret')} />
        )}
        <TextField id={id('description')} label="Description" value={f.description} onInput={set('description')} />
        <TextField
          id={id('rps')}
          label="Requests per second"
          type="number"
          value={f.requests_per_second}
          onInput={set('requests_per_second')}
          hint="Ferry's requests to it, across executions; a 429 slows them further for a while. Empty: no bound."
        />
        <TextField
          id={id('concurrency')}
          label="Requests at once"
          type="number"
          value={f.max_concurrency}
          onInput={set('max_concurrency')}
          hint="Requests waiting for its answer at once, across executions. Empty: no bound."
        />
      </div>
      <ErrorText error={save.error} />
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
