import { Fragment } from 'preact';
import { diagramRows } from '../stages.js';
import { Link } from './Link.jsx';

function StageBox({ stage: s, wide, barrier }) {
  return (
    <div
      class={`stage-box scope-${s.scope}${wide ? ' wide' : ''}${barrier ? ' barrier' : ''}`}
      data-testid={`stage-${s.name}`}
      role="listitem"
      aria-label={`Stage ${s.name}`}
    >
      <div class="stage-title">
        <strong>{s.name}</strong>
        {barrier && <span class="tag">barrier</span>}
      </div>
      <div class="stage-fn">
        <Link href={`/functions#${encodeURIComponent(s.functionName)}`}>{s.function}</Link>
      </div>
      <dl class="stage-facts">
        <dt>scope</dt>
        <dd>{s.scope}</dd>
        <dt>when</dt>
        <dd>{s.when}</dd>
        <dt>concurrency</dt>
        <dd>{s.concurrency}</dd>
        <dt>operation</dt>
        <dd>{s.operation}</dd>
        {s.timeoutSecs ? (
          <>
            <dt>timeout</dt>
            <dd>{s.timeoutSecs} s</dd>
          </>
        ) : null}
        {s.retries ? (
          <>
            <dt>retries</dt>
            <dd>{s.retries}</dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}

/**
 * The template's stages, top to bottom. Execution-scoped stages span the
 * width (between artifact stages they are barriers: every artifact waits
 * for them); consecutive artifact stages sit side by side, a pipeline each
 * artifact flows through.
 */
export function StageDiagram({ outline, stale }) {
  const rows = diagramRows(outline.stages);
  return (
    <div class="diagram" data-testid="stage-diagram">
      <p class="muted">
        {outline.name} · source: {outline.sourceKinds.join(', ') || '—'} → target: {outline.targetKinds.join(', ') || '—'}
        {stale && ' · showing the last valid version'}
      </p>
      <div role="list" aria-label="Stages in order">
        {rows.map((row, i) => (
          <div key={i} class="diagram-row" role="presentation">
            {i > 0 && (
              <div class="arrow" aria-hidden="true">
                ↓
              </div>
            )}
            {row.kind === 'execution' ? (
              <StageBox stage={row.stage} wide barrier={row.barrier} />
            ) : (
              <div class="lane" role="presentation">
                <div class="lane-label muted">per artifact</div>
                <div class="lane-boxes" role="presentation">
                  {row.stages.map((s, j) => (
                    <Fragment key={s.name}>
                      {j > 0 && (
                        <span class="arrow-right" aria-hidden="true">
                          →
                        </span>
                      )}
                      <StageBox stage={s} />
                    </Fragment>
                  ))}
                </div>
              </div>
            )}
          </div>
        ))}
      </div>
    </div>
  );
}
