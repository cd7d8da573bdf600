// The Throughput chart's data: cumulative bytes over time, from finished
// tasks (their end time and bytes) and from samples of the execution's
// live byte counter taken while polling.
import { taskBytes } from './stages.js';

/** → [xs (seconds since the start), ys (bytes)], sorted, never decreasing. */
export function throughputData(execution, tasks, samples = []) {
  const points = [];
  if (execution && execution.start_time) points.push([execution.start_time, 0]);
  let total = 0;
  const done = tasks.filter((t) => t.end_time).sort((a, b) => a.end_time - b.end_time);
  for (const t of done) {
    total += taskBytes(t);
    points.push([t.end_time, total]);
  }
  for (const s of samples) points.push([s.t, s.bytes]);
  if (execution && execution.end_time) points.push([execution.end_time, Math.max(total, execution.bytes || 0)]);
  points.sort((a, b) => a[0] - b[0]);

  const xs = [];
  const ys = [];
  let max = 0;
  const origin = execution && execution.start_time ? execution.start_time : points.length ? points[0][0] : 0;
  for (const [t, b] of points) {
    max = Math.max(max, Number(b) || 0);
    const x = Math.max(0, (t - origin) / 1000);
    if (xs.length && xs[xs.length - 1] === x) ys[ys.length - 1] = max;
    else {
      xs.push(x);
      ys.push(max);
    }
  }
  return [xs, ys];
}
