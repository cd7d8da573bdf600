import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { enc, get, postYaml, putYaml } from '../api.js';
import { useAction, useApi, useDebouncedEffect } from '../hooks.js';
import { navigate } from '../router.js';
import { normalizeOutline } from '../stages.js';
import { ErrorText, Loading, Notice } from '../components/Alert.jsx';
import { Link } from '../components/Link.jsx';
import { StageDiagram } from '../components/StageDiagram.jsx';
import { VersionHistory } from '../components/VersionHistory.jsx';
import { YamlEditor } from '../components/YamlEditor.jsx';
import { templateHref } from './Templates.jsx';

const FALLBACK_STARTER = `version: 1
name: my-template
description: What this template does.
kinds: {source: [distribution], target: [distribution]}
stages:
  - name: list
    function: oci-pull-prepare@0.4.0
    scope: execution
`;

/** A new template starts as a copy of the built-in oci-to-oci under another name. */
async function starter() {
  try {
    const t = await get('/templates/oci-to-oci');
    return t.body.replace(/^name:\s*oci-to-oci\s*$/m, 'name: my-template');
  } catch {
    return FALLBACK_STARTER;
  }
}

// A message that survives the move from /templates/new to the saved template's page.
let flash = null;

/** The template editor: CodeMirror, live validation, the stage diagram, save, and history. */
export function TemplateEditor({ name }) {
  const isNew = name == null;
  const initial = useApi(() => (isNew ? starter().then((body) => ({ body })) : get(`/templates/${enc(name)}`)), [name]);
  const versions = useApi(() => (isNew ? Promise.resolve([]) : get(`/templates/${enc(name)}/versions`)), [name]);

  const [doc, setDoc] = useState(null);
  const [resetKey, setResetKey] = useState(0);
  const [problem, setProblem] = useState(null);
  const [outline, setOutline] = useState(null);
  const [validateError, setValidateError] = useState(null);
  const [notice, setNotice] = useState(() => {
    const f = flash;
    flash = null;
    return f;
  });
  const seq = useRef(0);

  useEffect(() => {
    if (initial.data && doc === null) setDoc(initial.data.body);
  }, [initial.data]);

  // Live validation: 400 ms after typing stops; only the newest answer counts.
  useDebouncedEffect(
    async () => {
      if (doc === null) return;
      const mine = ++seq.current;
      try {
        // 200: the outline; 400: the first problem, at its line and column.
        const outline = await postYaml('/templates/validate', doc);
        if (mine !== seq.current) return;
        setValidateError(null);
        setProblem(null);
        setOutline(normalizeOutline(outline));
      } catch (e) {
        if (mine !== seq.current) return;
        if (e.status === 400 && e.line) {
          setValidateError(null);
          // The message repeats the place ("template:8:15: ..."); it is shown apart.
          const message = e.message.replace(/^[^:\s]+:\d+:\d+: /, '');
          setProblem({ line: e.line, column: e.column || 1, message });
        } else {
          setValidateError(e);
        }
      }
    },
    [doc],
    400,
  );

  const problems = useMemo(() => (problem ? [problem] : []), [problem]);
  const saved = initial.data && initial.data.body;

  const save = useAction(async () => {
    const row = isNew ? await postYaml('/templates', doc) : await putYaml(`/templates/${enc(name)}`, doc);
    return row;
  });

  const onSave = async () => {
    setNotice(null);
    const row = await save.run();
    if (!row) return;
    const message = `Saved ${row.name} version ${row.version}.`;
    if (isNew || row.name !== name) {
      flash = message;
      navigate(templateHref(row.name), { replace: true });
      return;
    }
    setNotice(message);
    initial.setData(row);
    versions.reload();
  };

  const openVersion = (v) => {
    setDoc(v.body);
    setResetKey((k) => k + 1);
    setNotice(`Opened version ${v.version} in the editor; save to make it the latest.`);
  };

  if (initial.error) {
    return (
      <>
        <h1>Template {name}</h1>
        <ErrorText error={initial.error} />
        <p>
          Back to <Link href="/templates">Templates</Link>.
        </p>
      </>
    );
  }
  if (doc === null) return <Loading />;

  return (
    <>
      <div class="page-head">
        <h1>{isNew ? 'New template' : `Template ${name}`}</h1>
        <Link href="/templates">All templates</Link>
      </div>
      <div class="editor-layout">
        <section class="panel" aria-labelledby="yaml-h">
          <h2 id="yaml-h">YAML</h2>
          <YamlEditor value={doc} resetKey={resetKey} onChange={setDoc} problems={problems} />
          <div class="validation" aria-live="polite">
            {problem ? (
              <p class="error" role="alert">
                line {problem.line}, column {problem.column}: {problem.message}
              </p>
            ) : outline ? (
              <p class="ok-text">Valid: {outline.stages.length} stages.</p>
            ) : null}
            <ErrorText error={validateError} prefix="Could not validate" />
          </div>
          <div class="row">
            <button type="button" onClick={onSave} disabled={save.busy}>
              {save.busy ? 'Saving…' : 'Save'}
            </button>
            {saved !== undefined && doc !== saved && <span class="muted">Unsaved changes</span>}
          </div>
          <ErrorText error={save.error} prefix="Not saved" />
          <Notice>{notice}</Notice>
        </section>
        <section class="panel" aria-labelledby="diagram-h">
          <h2 id="diagram-h">Stages</h2>
          {outline ? <StageDiagram outline={outline} stale={!!problem} /> : <p class="muted">The diagram appears once the YAML is valid.</p>}
        </section>
      </div>
      {!isNew && (
        <>
          <ErrorText error={versions.error} prefix="History" />
          {versions.data && <VersionHistory versions={versions.data} editorText={doc} onOpen={openVersion} />}
        </>
      )}
    </>
  );
}
