import { render } from 'preact';
import { App } from './app.jsx';
import { ErrorBoundary } from './components/ErrorBoundary.jsx';

const root = document.getElementById('app');
// The static "Loading…" line: render() adds to a container, it does not replace what is there.
root.textContent = '';
render(
  <ErrorBoundary title="Ferry’s console failed" hint="Try again; if it keeps failing, reload the page.">
    <App />
  </ErrorBoundary>,
  root,
);
