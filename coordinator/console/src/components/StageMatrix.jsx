import { useState } from 'preact/hooks';
import { artifactName } from '../format.js';
import { matrixCell, stageColumns, stageOperations } from '../stages.js';
import { StageDialog } from './StageDialog.jsx';

const SYMBOL = { succeeded: '✓', failed: '✗', skipped: '–', running: '●', pending: '', 'not run': '', 'n/a': '' };

/** The dialog of the clicked cell, kept current as polling brings newer records. */
function OpenCell({ open, tasks, columns, operations, onClose }) {
  const task = tasks.find((t) => t.id === open.taskId);
  const index = columns.indexOf(open.column);
  if (!task || index === -1) return null;
  const cell = matrixCell(task, columns, index, operations);
  return <StageDialog title={`${open.column} of ${artifactName(task)}`} status={cell.status} record={cell.record} task={task} onClose={onClose} />;
}

/** Tasks × stages: each cell a button coloured by outcome, opening that stage record. */
export function StageMatrix({ tasks, outline }) {
  const [open, setOpen] = useState(null);
  const columns = stageColumns(tasks, outline);
  const operations = stageOperations(tasks, outline);

  if (tasks.length === 0) return <p class="empty">No tasks: nothing matched, or the listing has not finished.</p>;

  return (
    <>
      <div class="table-wrap">
        <table class="matrix" data-testid="stage-matrix">
          <thead>
            <tr>
              <th scope="col">Artifact</th>
              <th scope="col">Task</th>
              {columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => {
              const artifact = artifactName(t);
              return (
                <tr key={t.id}>
                  <th scope="row">
                    <span class="clip" title={`${artifact} → ${t.target_repository}`}>
                      {artifact}
                    </span>
                    {t.operation === 'delete' && <span class="tag warn">delete</span>}
                  </th>
                  <td>
                    <span class={`dot dot-${t.status}`} aria-hidden="true" /> {t.status}
                  </td>
                  {columns.map((c, i) => {
                    const cell = matrixCell(t, columns, i, operations);
                    const label = `${c} of ${artifact}: ${cell.status}`;
                    return (
                      <td key={c}>
                        <button
                          type="button"
                          class={`cell cell-${cell.status.replace(/[^a-z]+/g, '-')}`}
                          aria-label={label}
                          title={label}
                          onClick={() => setOpen({ taskId: t.id, column: c })}
                        >
                          {SYMBOL[cell.status] || ''}
                        </button>
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="legend muted small">
        <span class="cell cell-succeeded">✓</span> succeeded <span class="cell cell-failed">✗</span> failed <span class="cell cell-skipped">–</span> skipped{' '}
        <span class="cell cell-running">●</span> running <span class="cell cell-pending" /> pending or not reached
      </p>
      {open && <OpenCell open={open} tasks={tasks} columns={columns} operations={operations} onClose={() => setOpen(null)} />}
    </>
  );
}
