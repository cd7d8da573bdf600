import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { useApi } from '../hooks.js';
import { Empty, ErrorText, Loading, Notice } from '../components/Alert.jsx';
import { RegistryCard } from '../components/RegistryCard.jsx';
import { RegistryForm } from '../components/RegistryForm.jsx';

export function Registries() {
  const list = useApi(() => get('/registries'));
  const kinds = useApi(() => get('/kinds'));
  // null: no form; 'new'; or the registry being edited.
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState(null);
  const kindNames = (kinds.data || []).map((k) => k.name);

  const saved = (r) => {
    setNotice(`Saved registry “${r.name}”.`);
    setEditing(null);
    list.reload();
  };

  return (
    <>
      <div class="page-head">
        <h1>Registries</h1>
        <button
          type="button"
          onClick={() => {
            setNotice(null);
            setEditing('new');
          }}
        >
          Add registry
        </button>
      </div>
      <Notice>{notice}</Notice>
      <ErrorText error={kinds.error} prefix="Registry kinds" />
      {editing && (
        <RegistryForm
          key={editing === 'new' ? 'new' : editing.id}
          registry={editing === 'new' ? null : editing}
          kinds={kindNames}
          onSaved={saved}
          onCancel={() => setEditing(null)}
        />
      )}
      <ErrorText error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && <Empty>No registries yet. Add one to start.</Empty>}
      {list.data &&
        list.data.map((r) => (
          <RegistryCard
            key={r.id}
            registry={r}
            onEdit={(reg) => {
              setNotice(null);
              setEditing(reg);
              window.scrollTo(0, 0);
            }}
            onDeleted={(reg) => {
              setNotice(`Deleted registry “${reg.name}”.`);
              list.reload();
            }}
          />
        ))}
    </>
  );
}
