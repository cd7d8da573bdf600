import { get } from '../api.js';
import { formatTime } from '../format.js';
import { useApi } from '../hooks.js';
import { navigate } from '../router.js';
import { Empty, ErrorText, Loading } from '../components/Alert.jsx';
import { Link } from '../components/Link.jsx';

/** The editor's address for a template ("new" is the new-template page's). */
export function templateHref(name) {
  return name === 'new' ? '/templates/new?existing' : `/templates/${encodeURIComponent(name)}`;
}

export function Templates() {
  const list = useApi(() => get('/templates'));
  return (
    <>
      <div class="page-head">
        <h1>Templates</h1>
        <button type="button" onClick={() => navigate('/templates/new')}>
          New template
        </button>
      </div>
      <p class="hint">A template composes stage functions into a replication process. Saving one stores a new version.</p>
      <ErrorText error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && <Empty>No templates yet. Create one with “New template”.</Empty>}
      {list.data && list.data.length > 0 && (
        <div class="table-wrap panel">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Latest version</th>
                <th scope="col">Description</th>
                <th scope="col">Saved</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((t) => (
                <tr key={t.name}>
                  <th scope="row">
                    <Link href={templateHref(t.name)}>{t.name}</Link>
                  </th>
                  <td>{t.version}</td>
                  <td>{t.description}</td>
                  <td>{formatTime(t.creation_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
