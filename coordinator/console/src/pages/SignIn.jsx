import { useState } from 'preact/hooks';
import { session } from '../api.js';
import { ErrorText } from '../components/Alert.jsx';

/** The admin token in, a session cookie (HttpOnly) and a CSRF token out. */
export function SignIn({ onSignedIn, notice }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await session.signIn(token.trim());
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(err.status === 401 ? 'That token is not valid. Use the admin token ferry printed on first start (or FERRY_ADMIN_TOKEN).' : err);
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <form class="panel" onSubmit={submit}>
        <h1>Sign in to Ferry</h1>
        {notice && <p class="hint">{notice}</p>}
        <div class="field">
          <label for="sign-in-token">Token</label>
          <input
            id="sign-in-token"
            type="password"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            required
            autofocus
          />
          <small class="hint">The admin token: FERRY_ADMIN_TOKEN, or the admin-token file in ferry’s data directory.</small>
        </div>
        <ErrorText error={error} />
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
