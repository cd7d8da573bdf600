// Labelled form controls: every control has a <label> tied to it.

export function TextField({ id, label, value, onInput, hint, error, type = 'text', children, ...rest }) {
  const hintId = hint ? `${id}-hint` : undefined;
  const errId = error ? `${id}-error` : undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        onInput={(e) => onInput(e.currentTarget.value)}
        aria-describedby={[hintId, errId].filter(Boolean).join(' ') || undefined}
        aria-invalid={error ? 'true' : undefined}
        {...rest}
      />
      {hint && (
        <small id={hintId} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={errId} class="error" role="alert">
          {error}
        </small>
      )}
      {children}
    </div>
  );
}

export function TextArea({ id, label, value, onInput, hint, ...rest }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} value={value} onInput={(e) => onInput(e.currentTarget.value)} {...rest} />
      {hint && <small class="hint">{hint}</small>}
    </div>
  );
}

/** options: [[value, text], ...] */
export function SelectField({ id, label, value, onChange, options, hint, ...rest }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)} {...rest}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
      {hint && <small class="hint">{hint}</small>}
    </div>
  );
}

export function CheckboxField({ id, label, checked, onChange, hint, ...rest }) {
  return (
    <div class="field field-check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        onChange={(e) => onChange(e.currentTarget.checked)}
        aria-describedby={hint ? `${id}-hint` : undefined}
        {...rest}
      />
      <label for={id}>{label}</label>
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}
