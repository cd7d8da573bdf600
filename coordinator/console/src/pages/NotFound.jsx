import { Link } from '../components/Link.jsx';

export function NotFound({ path }) {
  return (
    <section class="panel">
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. Go to the <Link href="/">Overview</Link>.
      </p>
    </section>
  );
}
