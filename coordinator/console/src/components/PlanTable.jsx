import { artifactName } from '../format.js';
import { Empty } from './Alert.jsx';
import { StatusBadge } from './StatusBadge.jsx';

/** A dry run's plan: what it would copy, skip and delete, and why. */
export function PlanTable({ plan }) {
  if (!plan || plan.length === 0) return <Empty>The dry run found nothing to do: no artifact matched the policy’s filters.</Empty>;
  const count = (a) => plan.filter((p) => p.action === a).length;
  return (
    <>
      <p>
        {count('copy')} to copy, {count('skip')} to skip, {count('delete')} to delete.
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Artifact</th>
              <th scope="col">Target repository</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {plan.map((p, i) => (
              <tr key={i}>
                <td>
                  <StatusBadge status={p.action} />
                </td>
                <td>{artifactName(p)}</td>
                <td>{p.target_repository}</td>
                <td>{p.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
