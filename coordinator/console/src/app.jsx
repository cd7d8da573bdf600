import { useEffect, useRef, useState } from 'preact/hooks';
import { session, setCsrfToken, setUnauthorizedHandler } from './api.js';
import { match, useLocation } from './router.js';
import { ErrorText } from './components/Alert.jsx';
import { ErrorBoundary } from './components/ErrorBoundary.jsx';
import { Nav } from './components/Nav.jsx';
import { SignIn } from './pages/SignIn.jsx';
import { Overview } from './pages/Overview.jsx';
import { Registries } from './pages/Registries.jsx';
import { Functions } from './pages/Functions.jsx';
import { Templates } from './pages/Templates.jsx';
import { TemplateEditor } from './pages/TemplateEditor.jsx';
import { Policies } from './pages/Policies.jsx';
import { Executions } from './pages/Executions.jsx';
import { ExecutionDetail } from './pages/ExecutionDetail.jsx';
import { NotFound } from './pages/NotFound.jsx';

const ROUTES = [
  ['/', () => <Overview />],
  ['/registries', () => <Registries />],
  ['/functions', () => <Functions />],
  ['/templates', () => <Templates />],
  ['/templates/:name', ({ name }, query) => <TemplateEditor name={name === 'new' && !query.has('existing') ? null : name} />],
  ['/policies', () => <Policies />],
  ['/executions', () => <Executions />],
  ['/executions/:id', ({ id }) => <ExecutionDetail id={id} />],
];

function route(path, query) {
  const clean = path.length > 1 ? path.replace(/\/+$/, '') : path;
  for (const [pattern, view] of ROUTES) {
    const params = match(pattern, clean);
    if (params) return view(params, query);
  }
  return <NotFound path={path} />;
}

export function App() {
  const loc = useLocation();
  // checking → signed-in | signed-out; the CSRF token itself stays in api.js.
  const [auth, setAuth] = useState('checking');
  const [startError, setStartError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [signingOut, setSigningOut] = useState(false);

  const check = async () => {
    setStartError(null);
    try {
      const s = await session.current();
      setCsrfToken(s && s.csrf_token);
      setAuth('signed-in');
    } catch (e) {
      if (e.status === 401) setAuth('signed-out');
      else setStartError(e);
    }
  };

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setCsrfToken(null);
      setNotice('Your session ended. Sign in again.');
      setAuth('signed-out');
    });
    check();
  }, []);

  const firstPath = useRef(loc.path);
  useEffect(() => {
    const section = loc.path.split('/')[1];
    document.title = section ? `${section[0].toUpperCase()}${section.slice(1)} · Ferry` : 'Ferry';
    // Keyboard and screen-reader users land on the new page, not on the old link.
    if (loc.path !== firstPath.current) {
      firstPath.current = null;
      const main = document.getElementById('main');
      if (main && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
    }
  }, [loc.path]);

  const signOut = async () => {
    setSigningOut(true);
    try {
      await session.signOut();
    } catch {
      // Signed out either way: the server's session is gone or unusable.
    }
    setCsrfToken(null);
    setSigningOut(false);
    setNotice('You signed out.');
    setAuth('signed-out');
  };

  if (auth === 'checking') {
    return (
      <main class="sign-in" id="main">
        {startError ? (
          <div class="panel">
            <h1>Ferry’s console</h1>
            <ErrorText error={startError} />
            <button type="button" onClick={check}>
              Try again
            </button>
          </div>
        ) : (
          <p class="loading">Loading Ferry’s console…</p>
        )}
      </main>
    );
  }

  if (auth === 'signed-out') {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          setCsrfToken(s && s.csrf_token);
          setNotice(null);
          setAuth('signed-in');
        }}
      />
    );
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Nav path={loc.path} onSignOut={signOut} signingOut={signingOut} />
      <main id="main" tabIndex={-1}>
        <ErrorBoundary key={loc.path}>{route(loc.path, loc.query)}</ErrorBoundary>
      </main>
    </>
  );
}
