// Bundling shim for string-width (used by yargs' cliui to lay out --help). The real module
// builds an Intl.Segmenter and a large emoji regex when it is loaded, which costs ~25 ms at
// every CLI start; ocikit's help text is ASCII, where the width is the code point count.
import stripAnsi from 'strip-ansi';

export default function stringWidth(text) {
  if (typeof text !== 'string' || text.length === 0) return 0;
  return [...stripAnsi(text)].length;
}
