import { isPlainClick, navigate } from '../router.js';

/** An <a> that navigates in-app on a plain click and stays a real link otherwise. */
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (rest.onClick) rest.onClick(e);
    if (!isPlainClick(e) || rest.target) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} {...rest} onClick={onClick}>
      {children}
    </a>
  );
}
