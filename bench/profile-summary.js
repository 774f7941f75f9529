#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`): self time by function and by
 * package/file, idle excluded, so hot spots stand out without opening DevTools.
 *   node bench/profile-summary.js FILE.cpuprofile [TOP] [--after MS]
 * --after skips the first MS of the profile (start-up and warm-up), so a warmed steady state can be
 * compared between profiles without module loading and cold-JIT samples in the way.
 */
'use strict';
const { readFileSync } = require('node:fs');

const argv = process.argv.slice(2);
const afterAt = argv.indexOf('--after');
const afterMs = afterAt === -1 ? 0 : Number(argv.splice(afterAt, 2)[1]);
const [file, topArg] = argv;
if (!file) {
  console.error('usage: node bench/profile-summary.js FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = Number(topArg) || 30;
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const selfTime = new Map();
let at = profile.startTime;
let counted = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] || 0;
  if (at - profile.startTime < afterMs * 1000) return;
  counted += profile.timeDeltas[i] || 0;
  selfTime.set(id, (selfTime.get(id) || 0) + (profile.timeDeltas[i] || 0));
});

const shortUrl = (url) => url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/');
const packageOf = (url) => {
  if (!url) return '(native)';
  if (url.includes('node_modules/')) {
    const rest = url.split('node_modules/').pop().split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/')) return `dist/${url.split('/dist/').pop()}`;
  return url.startsWith('node:') ? url : '(other)';
};
const byFunction = new Map();
const byPackage = new Map();
let busy = 0;
for (const [id, micros] of selfTime) {
  const { callFrame } = nodes.get(id);
  if (callFrame.functionName === '(idle)') continue;
  busy += micros;
  const fn = `${callFrame.functionName || '(anonymous)'} ${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) || 0) + micros);
  const pkg = callFrame.url ? packageOf(callFrame.url) : `(native ${callFrame.functionName})`;
  byPackage.set(pkg, (byPackage.get(pkg) || 0) + micros);
}
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [key, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(micros / 1000).toFixed(0).padStart(7)} ms ${((100 * micros) / busy).toFixed(1).padStart(5)}%  ${key}`);
  }
};
console.log(`busy (non-idle) time: ${(busy / 1000).toFixed(0)} ms of ${(counted / 1000).toFixed(0)} ms${afterMs ? ` (after the first ${afterMs} ms)` : ''}`);
print('self time by function', byFunction);
print('self time by package or file', byPackage);
