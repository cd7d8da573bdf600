import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { formatBytes } from '../format.js';
import { usePrefersDark } from '../hooks.js';

/** Seconds since the start as an axis label: 2.5 s, 1:05, 1:02:03. */
function elapsed(v) {
  if (v < 60) return `${Number(v.toFixed(v < 10 ? 1 : 0))} s`;
  const s = Math.round(v);
  const pad = (n) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || undefined;
}

function options(width, dark) {
  const axis = cssVar('--muted');
  const grid = cssVar('--border');
  return {
    width,
    height: 220,
    scales: { x: { time: false } },
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    series: [
      {},
      {
        label: 'Copied',
        stroke: cssVar('--accent'),
        fill: dark ? 'rgba(96,165,250,0.15)' : 'rgba(37,99,235,0.12)',
        width: 2,
        value: (u, v) => (v == null ? '—' : formatBytes(v)),
      },
    ],
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 70, values: (u, vals) => vals.map(elapsed) },
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 80, values: (u, vals) => vals.map((v) => formatBytes(v)) },
    ],
  };
}

/** Cumulative bytes over time since the start (uPlot); `data` is [xs in seconds since the start, ys in bytes]. */
export function ThroughputChart({ data }) {
  const host = useRef(null);
  const plot = useRef(null);
  const dark = usePrefersDark();
  const points = data[0].length;

  // Built anew when the theme changes (axis colours are read at creation).
  useEffect(() => {
    if (!host.current || points === 0) return undefined;
    const width = Math.max(200, host.current.clientWidth);
    const u = new uPlot(options(width, dark), data, host.current);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, host.current ? host.current.clientWidth : width);
      if (w !== u.width) u.setSize({ width: w, height: 220 });
    });
    ro.observe(host.current);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [dark, points === 0]);

  useEffect(() => {
    if (plot.current && points > 0) plot.current.setData(data);
  }, [data]);

  const last = points ? data[1][points - 1] : 0;
  return (
    <figure class="chart">
      <figcaption>
        Cumulative bytes copied over time since the start{points ? ` (${formatBytes(last)} so far)` : ''}
      </figcaption>
      {points === 0 ? <p class="empty">No bytes moved yet.</p> : null}
      <div ref={host} class="chart-host" role="img" aria-label={`Chart of cumulative bytes copied over time, ${formatBytes(last)} in all`} />
    </figure>
  );
}
