import { useEffect, useRef } from 'preact/hooks';
import { EditorView, basicSetup } from 'codemirror';
import { Compartment, EditorState } from '@codemirror/state';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';
import { usePrefersDark } from '../hooks.js';

// Colours come from style.css's variables, so the editor follows the
// light/dark theme with the rest of the page.
const theme = EditorView.theme({
  '&': {
    color: 'var(--fg)',
    backgroundColor: 'var(--input-bg)',
    border: '1px solid var(--border)',
    borderRadius: '6px',
    fontSize: '14px',
  },
  '&.cm-focused': { outline: '2px solid var(--focus)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--fg)' },
  '.cm-gutters': { backgroundColor: 'var(--panel-2)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--active-line)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection': {
    backgroundColor: 'var(--selection)',
  },
  '.cm-tooltip': { backgroundColor: 'var(--panel)', color: 'var(--fg)', border: '1px solid var(--border)' },
  '.cm-panels': { backgroundColor: 'var(--panel-2)', color: 'var(--fg)' },
});

const highlight = HighlightStyle.define([
  { tag: [t.definition(t.propertyName), t.propertyName], color: 'var(--syn-key)' },
  { tag: [t.string, t.special(t.string)], color: 'var(--syn-string)' },
  { tag: [t.number, t.bool, t.null, t.atom], color: 'var(--syn-number)' },
  { tag: [t.lineComment, t.comment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [t.keyword, t.meta, t.typeName, t.labelName], color: 'var(--syn-keyword)' },
  { tag: [t.separator, t.punctuation, t.squareBracket, t.brace], color: 'var(--syn-punct)' },
]);

/** { line, column, message } (1-based, as the API gives them) → a CodeMirror diagnostic. */
export function toDiagnostic(doc, p) {
  const lineNo = Math.min(Math.max(1, Number(p.line) || 1), doc.lines);
  const line = doc.line(lineNo);
  const from = line.from + Math.min(Math.max(0, (Number(p.column) || 1) - 1), line.length);
  const to = from < line.to ? from + 1 : from;
  return { from, to, severity: 'error', message: p.message, source: 'ferry' };
}

/**
 * A CodeMirror 6 YAML editor. `value` is read at mount and whenever
 * `resetKey` changes (loading a version); edits go out through onChange.
 * `problems` are shown as lint diagnostics.
 */
export function YamlEditor({ value, resetKey, onChange, problems, label = 'Template YAML' }) {
  const host = useRef(null);
  const view = useRef(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const dark = usePrefersDark();
  const darkMode = useRef(new Compartment());

  useEffect(() => {
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value || '',
        extensions: [
          basicSetup,
          yaml(),
          lintGutter(),
          syntaxHighlighting(highlight),
          theme,
          darkMode.current.of(EditorView.darkTheme.of(dark)),
          EditorState.tabSize.of(2),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
  }, []);

  useEffect(() => {
    const v = view.current;
    if (!v || resetKey === undefined) return;
    const current = v.state.doc.toString();
    if (current !== value) v.dispatch({ changes: { from: 0, to: current.length, insert: value || '' } });
  }, [resetKey]);

  useEffect(() => {
    const v = view.current;
    if (v) v.dispatch({ effects: darkMode.current.reconfigure(EditorView.darkTheme.of(dark)) });
  }, [dark]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const diags = (problems || []).map((p) => toDiagnostic(v.state.doc, p));
    v.dispatch(setDiagnostics(v.state, diags));
  }, [problems]);

  return <div class="editor" ref={host} data-testid="template-editor" />;
}
