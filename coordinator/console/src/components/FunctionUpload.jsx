import { useRef, useState } from 'preact/hooks';
import { request } from '../api.js';
import { formatBytes, shortDigest } from '../format.js';
import { useAction } from '../hooks.js';
import { ErrorText, Notice } from './Alert.jsx';
import { TextField } from './Field.jsx';

/** `retag-1.2.0.wasm` → { name: 'retag', version: '1.2.0' } (best effort). */
function guessFromFileName(fileName) {
  const stem = fileName.replace(/\.wasm$/i, '');
  const m = stem.match(/^(.*?)[-_@]v?(\d+(?:\.\d+)*(?:[-+][A-Za-z0-9.]+)?)$/);
  const clean = (s) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return m ? { name: clean(m[1]), version: m[2] } : { name: clean(stem), version: '' };
}

/** Uploads a component: the bytes as the body, name and version in the query (functions.rs). */
export function FunctionUpload({ onUploaded }) {
  const [file, setFile] = useState(null);
  const [name, setName] = useState('');
  const [version, setVersion] = useState('');
  const [dragging, setDragging] = useState(false);
  const inputRef = useRef(null);
  const upload = useAction(() =>
    request('POST', '/functions', { body: file, contentType: 'application/wasm', params: { name: name.trim(), version: version.trim() } }),
  );

  const choose = (f) => {
    if (!f) return;
    setFile(f);
    upload.reset();
    const guess = guessFromFileName(f.name);
    if (!name) setName(guess.name);
    if (!version && guess.version) setVersion(guess.version);
  };

  const onDrop = (e) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) {
      choose(f);
      // Keep the file input in step where the browser allows it.
      try {
        inputRef.current.files = e.dataTransfer.files;
      } catch {
        /* read-only in some browsers */
      }
    }
  };

  const submit = async (e) => {
    e.preventDefault();
    const row = await upload.run();
    if (row) {
      onUploaded(row);
      setFile(null);
      setName('');
      setVersion('');
      if (inputRef.current) inputRef.current.value = '';
    }
  };

  return (
    <form class="panel form" onSubmit={submit} aria-labelledby="upload-h">
      <h2 id="upload-h">Upload a function</h2>
      <div
        class={`dropzone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="drop-zone"
      >
        <div class="field">
          <label for="fn-file">Component (.wasm)</label>
          <input id="fn-file" ref={inputRef} type="file" accept=".wasm,application/wasm" onChange={(e) => choose(e.currentTarget.files[0])} />
        </div>
        <p class="hint">…or drop a .wasm file here. It must be a component of the ferry:replication/stage world.</p>
        {file && (
          <p>
            Selected: <strong>{file.name}</strong> ({formatBytes(file.size)})
          </p>
        )}
      </div>
      <div class="grid">
        <TextField id="fn-name" label="Name" value={name} onInput={setName} required pattern="[a-z0-9\-]{1,64}" hint="Lowercase letters, digits and -." />
        <TextField id="fn-version" label="Version" value={version} onInput={setVersion} required pattern="[A-Za-z0-9._+\-]{1,64}" hint="e.g. 1.0.0; a name@version is immutable." />
      </div>
      <ErrorText error={upload.error} prefix="Upload rejected" />
      {upload.result && (
        <Notice>
          Uploaded {upload.result.name}@{upload.result.version} ({shortDigest(upload.result.digest)}).
        </Notice>
      )}
      <button type="submit" disabled={!file || upload.busy}>
        {upload.busy ? 'Uploading…' : 'Upload'}
      </button>
    </form>
  );
}
