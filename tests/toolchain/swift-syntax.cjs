// Swift syntax check with tree-sitter-swift (no Swift compiler on Linux): parses each file and
// lists every ERROR or MISSING node with its line. Used by bindings/tests/it/swift.rs on the
// generated bindings and the iOS example.
//
// Usage: node swift-syntax.cjs FILE.swift...
// Prints one JSON object: {"grammar": "tree-sitter-swift@X", "files": [{"file", "errors": [...],
// "rewrites": N}]}; exit status 1 if any file has a parse error.
//
// tree-sitter-swift 0.7.1 lags the language in a few places that uniffi's generated Swift uses.
// Each gap is handled by the narrowest rewrite that keeps the code's meaning, and counted, so the
// check stays strict on everything else:
// - `#if swift(>=X)` ... `#endif` around an attribute: the grammar misparses the conditional, so
//   the directive lines are blanked and the branch a current compiler takes is kept (`#else`
//   branches of such blocks are blanked).
// - `nonisolated(unsafe)` (Swift 5.10): parsed as `nonisolated`.
// - `{ () }`, a closure returning the empty tuple: parsed as `{ Void() }`, the same value.
'use strict';

const fs = require('fs');
const Parser = require('tree-sitter');
const Swift = require('tree-sitter-swift');

const REWRITES = [
  [/nonisolated\(unsafe\)/g, 'nonisolated'],
  [/\{ \(\) \}/g, '{ Void() }'],
];

function prepare(text) {
  let rewrites = 0;
  const stack = [];
  const lines = text.split('\n').map((line) => {
    const directive = line.trim();
    const top = stack[stack.length - 1];
    if (/^#if\s/.test(directive)) {
      const swiftVersion = /^#if\s+swift\(/.test(directive);
      stack.push({ swiftVersion, inElse: false });
      if (swiftVersion) rewrites++;
      return swiftVersion ? '' : line;
    }
    if (/^#else\b/.test(directive) && top) {
      top.inElse = true;
      return top.swiftVersion ? '' : line;
    }
    if (/^#endif\b/.test(directive) && top) {
      stack.pop();
      return top.swiftVersion ? '' : line;
    }
    if (stack.some((frame) => frame.swiftVersion && frame.inElse)) return '';
    for (const [pattern, replacement] of REWRITES) {
      line = line.replace(pattern, () => {
        rewrites++;
        return replacement;
      });
    }
    return line;
  });
  return { source: lines.join('\n'), rewrites };
}

function errors(tree, source) {
  const found = [];
  const walk = (node) => {
    if (node.type === 'ERROR' || node.isMissing) {
      const line = node.startPosition.row + 1;
      const text = source.slice(node.startIndex, node.startIndex + 60).split('\n')[0];
      found.push({ line, kind: node.isMissing ? `missing ${node.type}` : 'error', text });
    }
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  return found;
}

const parser = new Parser();
parser.setLanguage(Swift);
const grammar = `tree-sitter-swift@${require('tree-sitter-swift/package.json').version}`;
const files = process.argv.slice(2).map((file) => {
  const { source, rewrites } = prepare(fs.readFileSync(file, 'utf8'));
  // The default 32 KiB buffer is too small for the generated bindings.
  const tree = parser.parse(source, null, { bufferSize: source.length * 2 + 1024 });
  return { file, errors: errors(tree, source), rewrites };
});
console.log(JSON.stringify({ grammar, files }));
process.exit(files.every((f) => f.errors.length === 0) ? 0 : 1);
