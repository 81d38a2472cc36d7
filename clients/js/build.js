// Writes streamhub.umd.js, the classic-script build of streamhub.js: the
// same code with its exports gathered on globalThis.StreamHub (and
// module.exports under CommonJS). `node build.js --check` fails when the
// file is not up to date (the tests run it).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));

export function buildUMD(source) {
  const names = [];
  const body = source
    .replace(/^export default \w+;\n/m, '')
    .replace(/^export (const|function|class) (\w+)/gm, (_, kind, name) => {
      names.push(name);
      return `${kind} ${name}`;
    });
  if (/^export /m.test(body)) throw new Error('streamhub.js: an export build.js does not know');
  const indented = body.trimEnd().split('\n').map((l) => (l ? '  ' + l : l)).join('\n');
  return `// Generated from streamhub.js by build.js: do not edit.
(function (root) {
  'use strict';
${indented}

  const api = StreamHub;
${names.filter((n) => n !== 'StreamHub').map((n) => `  api.${n} = ${n};`).join('\n')}
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.StreamHub = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const want = buildUMD(readFileSync(dir + 'streamhub.js', 'utf8'));
  const path = dir + 'streamhub.umd.js';
  if (process.argv.includes('--check')) {
    let have = '';
    try { have = readFileSync(path, 'utf8'); } catch { /* missing */ }
    if (have !== want) {
      console.error('streamhub.umd.js is not up to date: run node clients/js/build.js');
      process.exit(1);
    }
  } else {
    writeFileSync(path, want);
  }
}
