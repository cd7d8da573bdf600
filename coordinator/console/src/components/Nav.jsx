import { Link } from './Link.jsx';

export const SECTIONS = [
  ['/', 'Overview'],
  ['/registries', 'Registries'],
  ['/functions', 'Functions'],
  ['/templates', 'Templates'],
  ['/policies', 'Policies'],
  ['/executions', 'Executions'],
];

function isCurrent(href, path) {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
}

/** The header: the sections and the sign-out button; wraps on narrow screens. */
export function Nav({ path, onSignOut, signingOut }) {
  return (
    <header class="top">
      <Link href="/" class="brand">
        Ferry
      </Link>
      <nav aria-label="Main">
        <ul>
          {SECTIONS.map(([href, name]) => (
            <li key={href}>
              <Link href={href} aria-current={isCurrent(href, path) ? 'page' : undefined}>
                {name}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <button type="button" class="secondary sign-out" onClick={onSignOut} disabled={signingOut}>
        Sign out
      </button>
    </header>
  );
}
