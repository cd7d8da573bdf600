import { FILTER_TYPES } from '../policy.js';

/** Rows of { type, value, decoration }; an empty value matches everything. */
export function FiltersEditor({ idPrefix, filters, onChange }) {
  const update = (i, k, v) => onChange(filters.map((f, j) => (j === i ? { ...f, [k]: v } : f)));
  const remove = (i) => onChange(filters.filter((_, j) => j !== i));
  const add = () => onChange([...filters, { type: 'name', value: '', decoration: 'matches' }]);
  const types = (current) => (FILTER_TYPES.some(([v]) => v === current) ? FILTER_TYPES : [...FILTER_TYPES, [current, current]]);

  return (
    <fieldset class="filters">
      <legend>Filters</legend>
      {filters.length === 0 && <p class="hint">No filters: every repository and tag is replicated.</p>}
      {filters.map((f, i) => {
        const id = (k) => `${idPrefix}-filter-${i}-${k}`;
        return (
          <div class="filter-row" key={i}>
            <div class="field">
              <label for={id('type')}>Filter {i + 1} type</label>
              <select id={id('type')} value={f.type} onChange={(e) => update(i, 'type', e.currentTarget.value)}>
                {types(f.type).map(([v, text]) => (
                  <option key={v} value={v}>
                    {text}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for={id('value')}>Filter {i + 1} value</label>
              <input
                id={id('value')}
                value={f.value}
                placeholder={f.type === 'resource' ? 'image or artifact' : 'glob, e.g. library/** or v1.*'}
                onInput={(e) => update(i, 'value', e.currentTarget.value)}
              />
            </div>
            <div class="field">
              <label for={id('decoration')}>Filter {i + 1} decoration</label>
              <select id={id('decoration')} value={f.decoration} onChange={(e) => update(i, 'decoration', e.currentTarget.value)}>
                <option value="matches">matches</option>
                <option value="excludes">excludes</option>
              </select>
            </div>
            <button type="button" class="secondary small" onClick={() => remove(i)}>
              Remove filter {i + 1}
            </button>
          </div>
        );
      })}
      <button type="button" class="secondary" onClick={add}>
        Add filter
      </button>
    </fieldset>
  );
}
