// Where an API error or a result is shown: next to what caused it.

/** An error message (role="alert"), or nothing. */
export function ErrorText({ error, prefix }) {
  if (!error) return null;
  const message = typeof error === 'string' ? error : error.message || String(error);
  return (
    <p class="error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {message}
    </p>
  );
}

/** A quiet result line (role="status"), or nothing. */
export function Notice({ children }) {
  if (!children) return null;
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

/** What an empty list says: what to do next. */
export function Empty({ children }) {
  return <p class="empty">{children}</p>;
}

export function Loading({ what = 'Loading…' }) {
  return (
    <p class="loading" aria-live="polite">
      {what}
    </p>
  );
}
