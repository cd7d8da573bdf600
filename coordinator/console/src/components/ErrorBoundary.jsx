import { Component } from 'preact';

/** Catches a page's rendering errors: a message instead of a blank page. */
export class ErrorBoundary extends Component {
  state = { error: null };

  static getDerivedStateFromError(error) {
    return { error };
  }

  componentDidCatch(error) {
    console.error('console page failed:', error);
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <section class="panel" role="alert">
        <h1>{this.props.title || 'Something went wrong on this page'}</h1>
        <p>{String(this.state.error.message || this.state.error)}</p>
        <p>{this.props.hint || 'Other pages still work: pick one above, or try this one again.'}</p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Try again
        </button>
      </section>
    );
  }
}
