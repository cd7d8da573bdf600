import { useEffect } from 'preact/hooks';
import { get } from '../api.js';
import { formatBytes, formatTime, shortDigest } from '../format.js';
import { useApi } from '../hooks.js';
import { useLocation } from '../router.js';
import { Empty, ErrorText, Loading } from '../components/Alert.jsx';
import { FunctionUpload } from '../components/FunctionUpload.jsx';

function Params({ params }) {
  const list = Array.isArray(params) ? params : [];
  if (list.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="plain">
      {list.map((p) => (
        <li key={p.name} title={p.description || ''}>
          <code>{p.name}</code>
          {p.required ? ' (required)' : p.default != null && p.default !== '' ? ` = ${JSON.stringify(p.default)}` : ''}
        </li>
      ))}
    </ul>
  );
}

function Names({ names }) {
  if (!names || names.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="plain">
      {names.map((n) => (
        <li key={n}>
          <code>{n}</code>
        </li>
      ))}
    </ul>
  );
}

export function Functions() {
  const list = useApi(() => get('/functions'));
  const { hash } = useLocation();

  // /functions#name (the template diagram's links): bring that function into view.
  useEffect(() => {
    if (!hash || !list.data) return;
    const row = document.getElementById(`fn-${hash}`);
    if (row) {
      row.scrollIntoView({ block: 'center' });
      row.focus({ preventScroll: true });
    }
  }, [hash, list.data]);

  const seen = new Set();
  return (
    <>
      <h1>Functions</h1>
      <p class="hint">Stage functions are WebAssembly components that templates compose. Built-in ones ship with ferry.</p>
      <FunctionUpload onUploaded={() => list.reload()} />
      <section class="panel" aria-labelledby="fn-list-h">
        <h2 id="fn-list-h">Installed functions</h2>
        <ErrorText error={list.error} />
        {list.loading && !list.data && <Loading />}
        {list.data && list.data.length === 0 && <Empty>No functions yet. Upload a component above.</Empty>}
        {list.data && list.data.length > 0 && (
          <div class="table-wrap">
            <table class="functions">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Version</th>
                  <th scope="col">Digest</th>
                  <th scope="col">Size</th>
                  <th scope="col">Imports</th>
                  <th scope="col">Exports</th>
                  <th scope="col">Parameters</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((f) => {
                  const first = !seen.has(f.name);
                  seen.add(f.name);
                  return (
                    <tr key={f.id} id={first ? `fn-${f.name}` : undefined} tabIndex={first ? -1 : undefined} class={hash === f.name ? 'highlight' : ''}>
                      <th scope="row">
                        {f.name}
                        {f.builtin && <span class="tag">built-in</span>}
                        {f.description && <div class="muted small">{f.description}</div>}
                      </th>
                      <td>{f.version}</td>
                      <td>
                        <code title={f.digest}>{shortDigest(f.digest)}</code>
                      </td>
                      <td>{formatBytes(f.size)}</td>
                      <td>
                        <Names names={f.imports} />
                      </td>
                      <td>
                        <Names names={f.exports} />
                      </td>
                      <td>
                        <Params params={f.params || f.parameters} />
                        <div class="muted small">added {formatTime(f.creation_time)}</div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
