import { useEffect, useState } from 'preact/hooks';
import { diffLines, diffStats, withContext } from '../diff.js';
import { formatTime } from '../format.js';
import { SelectField } from './Field.jsx';

function DiffView({ from, to }) {
  const diff = diffLines(from, to);
  const { added, removed } = diffStats(diff);
  const sign = { same: ' ', add: '+', del: '-' };
  return (
    <div>
      <p class="muted" role="status">
        {added === 0 && removed === 0 ? 'No differences.' : `${added} line${added === 1 ? '' : 's'} added, ${removed} removed.`}
      </p>
      <pre class="diff" aria-label="Line diff">
        {withContext(diff).map((d, i) =>
          d.op === 'gap' ? (
            <div key={i} class="diff-gap">
              ⋯ {d.count} unchanged line{d.count === 1 ? '' : 's'}
            </div>
          ) : (
          <div key={i} class={`diff-${d.op}`}>
            <span class="diff-no">{d.a || ''}</span>
            <span class="diff-no">{d.b || ''}</span>
            <span class="diff-sign" aria-hidden="true">
              {sign[d.op]}
            </span>
            <span class="visually-hidden">{d.op === 'add' ? 'added: ' : d.op === 'del' ? 'removed: ' : ''}</span>
            {d.text}
          </div>
          ),
        )}
      </pre>
    </div>
  );
}

/**
 * A template's versions (oldest first, as the API lists them) with a diff
 * between any two, or between a version and the editor's unsaved text.
 */
export function VersionHistory({ versions, editorText, onOpen }) {
  const latest = versions.length ? versions[versions.length - 1].version : null;
  const previous = versions.length > 1 ? versions[versions.length - 2].version : latest;
  const [from, setFrom] = useState(String(previous ?? ''));
  const [to, setTo] = useState(String(latest ?? ''));

  useEffect(() => {
    setFrom(String(previous ?? ''));
    setTo(String(latest ?? ''));
  }, [latest, previous]);

  const body = (v) => (v === 'editor' ? editorText : (versions.find((x) => String(x.version) === v) || {}).body || '');
  const options = versions.map((v) => [String(v.version), `Version ${v.version}`]);

  return (
    <section class="panel" aria-labelledby="history-h">
      <h2 id="history-h">History</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Saved</th>
              <th scope="col">Description</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {[...versions].reverse().map((v) => (
              <tr key={v.version}>
                <td>
                  {v.version}
                  {v.version === latest && <span class="tag">latest</span>}
                </td>
                <td>{formatTime(v.creation_time)}</td>
                <td>
                  <span class="clamp" title={v.description}>
                    {v.description}
                  </span>
                </td>
                <td>
                  <button type="button" class="secondary small" aria-label={`Open version ${v.version} in the editor`} onClick={() => onOpen(v)}>
                    Open
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {versions.length > 0 && (
        <>
          <h3>Compare versions</h3>
          <div class="row">
            <SelectField id="diff-from" label="From version" value={from} onChange={setFrom} options={options} />
            <SelectField id="diff-to" label="To version" value={to} onChange={setTo} options={[...options, ['editor', 'Editor (unsaved)']]} />
          </div>
          <DiffView from={body(from)} to={body(to)} />
        </>
      )}
    </section>
  );
}
