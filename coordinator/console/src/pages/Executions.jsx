import { useState } from 'preact/hooks';
import { get, getPage } from '../api.js';
import { useApi } from '../hooks.js';
import { setQuery, useLocation } from '../router.js';
import { Empty, ErrorText, Loading } from '../components/Alert.jsx';
import { ExecutionTable } from '../components/ExecutionTable.jsx';
import { SelectField } from '../components/Field.jsx';

const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'stopped', 'skipped'];
const PAGE_SIZE = 25;

export function Executions() {
  const { query } = useLocation();
  const [policy, setPolicy] = useState(query.get('policy') || '');
  const [status, setStatus] = useState(query.get('status') || '');
  const [page, setPage] = useState(1);
  const policies = useApi(() => get('/policies'));
  const list = useApi(() => getPage('/executions', { policy_id: policy, status, page, page_size: PAGE_SIZE }), [policy, status, page], {
    intervalMs: 2000,
  });

  const choose = (setter, key) => (v) => {
    setter(v);
    setPage(1);
    setQuery({ policy: key === 'policy' ? v : policy, status: key === 'status' ? v : status });
  };

  const byId = new Map((policies.data || []).map((p) => [p.id, p]));
  const policyOptions = [['', 'All policies'], ...(policies.data || []).map((p) => [String(p.id), p.name])];
  if (policy && !byId.has(Number(policy))) policyOptions.push([policy, `policy ${policy}`]);
  const total = list.data ? list.data.total : 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));

  return (
    <>
      <h1>Executions</h1>
      <div class="row filters-bar">
        <SelectField id="exec-policy" label="Policy" value={policy} onChange={choose(setPolicy, 'policy')} options={policyOptions} />
        <SelectField
          id="exec-status"
          label="Status"
          value={status}
          onChange={choose(setStatus, 'status')}
          options={[['', 'All statuses'], ...STATUSES.map((s) => [s, s])]}
        />
      </div>
      <ErrorText error={policies.error} prefix="Policies" />
      <ErrorText error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && (
        <Empty>{policy || status ? 'No executions match these filters.' : 'No executions yet. Run a policy from Policies to start one.'}</Empty>
      )}
      {list.data && list.data.items.length > 0 && (
        <>
          <ExecutionTable executions={list.data.items} policies={byId} />
          <div class="row pager">
            <button type="button" class="secondary" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              Newer
            </button>
            <span>
              Page {page} of {pages} ({total} executions)
            </span>
            <button type="button" class="secondary" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              Older
            </button>
          </div>
        </>
      )}
    </>
  );
}
