// How numbers and times read in the console.

/** Epoch milliseconds as a local date-time; "—" for none. */
export function formatTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '—';
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString();
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '—';
  if (Math.abs(v) < 1024) return `${v} B`;
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  const s = x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  return `${v < 0 ? '-' : ''}${s} ${UNITS[i]}`;
}

export function formatDuration(ms) {
  const v = Number(ms);
  if (!Number.isFinite(v) || v < 0) return '—';
  if (v < 1000) return `${Math.round(v)} ms`;
  const s = Math.round(v / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

/** `sha256:abcdef…` → `sha256:abcdef012345`. */
export function shortDigest(d) {
  if (!d) return '—';
  const [alg, hex] = d.includes(':') ? d.split(':', 2) : ['', d];
  return `${alg ? `${alg}:` : ''}${hex.slice(0, 12)}`;
}

/** `repo:tag`, else `repo@digest`, else `repo`, as ferry names an artifact. */
export function artifactName({ repository, tag, digest }) {
  if (tag) return `${repository}:${tag}`;
  if (digest) return `${repository}@${shortDigest(digest)}`;
  return repository;
}

/** "now" relative phrasing for times soon, e.g. "in 5 min". */
export function fromNow(ms, now = Date.now()) {
  if (ms == null) return '';
  const diff = Number(ms) - now;
  const abs = Math.abs(diff);
  const unit =
    abs < 60e3 ? [Math.round(abs / 1e3), 's'] : abs < 3600e3 ? [Math.round(abs / 60e3), 'min'] : abs < 86400e3 ? [Math.round(abs / 3600e3), 'h'] : [Math.round(abs / 86400e3), 'd'];
  return diff >= 0 ? `in ${unit[0]} ${unit[1]}` : `${unit[0]} ${unit[1]} ago`;
}
