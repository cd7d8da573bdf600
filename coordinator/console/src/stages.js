// Stage logic shared by the template diagram and the execution's stage
// matrix: reading a validation outline, grouping stages into rows, and
// what each task × stage cell shows.

/** splits `name@version`. */
export function splitRef(ref) {
  const s = String(ref || '');
  const at = s.lastIndexOf('@');
  return at > 0 ? { name: s.slice(0, at), version: s.slice(at + 1) } : { name: s, version: '' };
}

/**
 * The validate endpoint's `template`, in one shape whichever way the server
 * spells kinds (`kinds: {source, target}` or `source_kinds`/`target_kinds`)
 * and the function (`function_name`/`function_version` or only `name@version`).
 */
export function normalizeOutline(t) {
  if (!t) return null;
  const kinds = t.kinds || {};
  return {
    name: t.name || '',
    description: t.description || '',
    sourceKinds: kinds.source || t.source_kinds || [],
    targetKinds: kinds.target || t.target_kinds || [],
    stages: (t.stages || []).map((s) => {
      const ref = splitRef(s.function);
      return {
        name: s.name,
        function: s.function,
        functionName: s.function_name || ref.name,
        functionVersion: s.function_version || ref.version,
        scope: s.scope,
        concurrency: s.concurrency,
        when: s.when,
        operation: s.operation || 'copy',
        timeoutSecs: s.timeout_secs,
        retries: s.retries,
      };
    }),
  };
}

/**
 * Rows of the diagram: each execution-scoped stage alone (a barrier when
 * artifact stages run both before and after it), consecutive artifact
 * stages together, since artifacts flow through them as a pipeline.
 */
export function diagramRows(stages) {
  const rows = [];
  for (const s of stages) {
    if (s.scope === 'artifact') {
      const last = rows[rows.length - 1];
      if (last && last.kind === 'artifacts') last.stages.push(s);
      else rows.push({ kind: 'artifacts', stages: [s] });
    } else {
      rows.push({ kind: 'execution', stage: s, barrier: false });
    }
  }
  rows.forEach((r, i) => {
    if (r.kind !== 'execution') return;
    const before = rows.slice(0, i).some((x) => x.kind === 'artifacts');
    const after = rows.slice(i + 1).some((x) => x.kind === 'artifacts');
    r.barrier = before && after;
  });
  return rows;
}

/** A task's stage records (the API keeps them as a JSON array). */
export function taskRecords(task) {
  return Array.isArray(task && task.stages) ? task.stages : [];
}

/**
 * Column names in template order: the outline's artifact stages first when
 * known, then every name the tasks' records show, each placed after the
 * name it followed in a record list (a list that shares no name, such as a
 * deletion's, goes last).
 */
export function stageColumns(tasks, outline) {
  const cols = outline ? outline.stages.filter((s) => s.scope === 'artifact').map((s) => s.name) : [];
  for (const t of tasks) {
    const names = taskRecords(t).map((r) => r.stage);
    let prev = -1;
    names.forEach((name, k) => {
      let at = cols.indexOf(name);
      if (at === -1) {
        // After the name it followed; with none, before the next one known; else last.
        const next = names.slice(k + 1).find((n) => cols.includes(n));
        at = prev >= 0 ? prev + 1 : next !== undefined ? cols.indexOf(next) : cols.length;
        cols.splice(at, 0, name);
      }
      prev = at;
    });
  }
  return cols;
}

/** Which operations (copy, delete) each stage serves: from the outline, else from the records seen. */
export function stageOperations(tasks, outline) {
  const ops = new Map();
  if (outline) for (const s of outline.stages) ops.set(s.name, new Set([s.operation]));
  for (const t of tasks) {
    for (const r of taskRecords(t)) {
      if (outline && ops.has(r.stage)) continue;
      if (!ops.has(r.stage)) ops.set(r.stage, new Set());
      ops.get(r.stage).add(t.operation || 'copy');
    }
  }
  return ops;
}

const OUTCOME = { succeeded: 'succeeded', failed: 'failed', skipped: 'skipped', 'not-run': 'not run' };

/**
 * One cell: { status, record }. status is succeeded | failed | skipped |
 * running | pending | not run | n/a. Tasks are recorded when they finish,
 * so a running task's first unrecorded stage is taken as the running one.
 */
export function matrixCell(task, columns, index, operations) {
  const name = columns[index];
  const records = taskRecords(task);
  const record = records.find((r) => r.stage === name) || null;
  if (record) return { status: OUTCOME[record.outcome] || record.outcome, record };
  const serves = (n) => {
    const ops = operations && operations.get(n);
    return !ops || ops.size === 0 || ops.has(task.operation || 'copy');
  };
  if (!serves(name)) return { status: 'n/a', record: null };
  if (task.status === 'running') {
    const firstOpen = columns.findIndex((n) => serves(n) && !records.some((r) => r.stage === n));
    return { status: firstOpen === index ? 'running' : 'pending', record: null };
  }
  if (task.status === 'pending') return { status: 'pending', record: null };
  return { status: 'not run', record: null };
}

/** Bytes a task moved: the sum of its stages' bytes. */
export function taskBytes(task) {
  return taskRecords(task).reduce((sum, r) => sum + (Number(r.bytes) || 0), 0);
}
