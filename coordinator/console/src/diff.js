// A line diff by longest common subsequence: small templates, so the
// quadratic table is fine and the result is the minimal edit.

/**
 * diffLines(a, b) → [{ op: 'same'|'del'|'add', text, a?, b? }], where a and
 * b are 1-based line numbers in the old and new text.
 */
export function diffLines(oldText, newText) {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: 'same', text: a[i], a: i + 1, b: j + 1 });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: 'del', text: a[i], a: i + 1 });
      i++;
    } else {
      out.push({ op: 'add', text: b[j], b: j + 1 });
      j++;
    }
  }
  for (; i < n; i++) out.push({ op: 'del', text: a[i], a: i + 1 });
  for (; j < m; j++) out.push({ op: 'add', text: b[j], b: j + 1 });
  return out;
}

function splitLines(text) {
  if (!text) return [];
  const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** { added, removed } line counts of a diff. */
export function diffStats(diff) {
  let added = 0;
  let removed = 0;
  for (const d of diff) {
    if (d.op === 'add') added++;
    else if (d.op === 'del') removed++;
  }
  return { added, removed };
}

/**
 * The diff in hunks: changed lines with `context` unchanged lines around
 * them; each longer unchanged run becomes { op: 'gap', count }.
 */
export function withContext(diff, context = 3) {
  const keep = new Array(diff.length).fill(false);
  diff.forEach((d, i) => {
    if (d.op === 'same') return;
    for (let j = Math.max(0, i - context); j <= Math.min(diff.length - 1, i + context); j++) keep[j] = true;
  });
  const out = [];
  let skipped = 0;
  diff.forEach((d, i) => {
    if (keep[i]) {
      if (skipped) out.push({ op: 'gap', count: skipped });
      skipped = 0;
      out.push(d);
    } else {
      skipped++;
    }
  });
  if (skipped) out.push({ op: 'gap', count: skipped });
  return out;
}
