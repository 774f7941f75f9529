#!/usr/bin/env node
/**
 * Micro-benchmark of rule evaluation per hook call, using the compiled service code.
 *
 *   npm run build && node bench/rules-eval.js [RULES_FILE] [ITERATIONS]
 *
 * Defaults: examples/rules.yaml, 20000 iterations per payload (after 2000 warm-up). Every payload in
 * test/fixtures/okta is evaluated; numbers are µs per call (mean and p99 of batches of 100 calls).
 * `DIST_DIR` overrides the build directory (default ./dist).
 */
'use strict';
const { readFileSync, readdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const dist = resolve(process.env.DIST_DIR || join(root, 'dist'));
const { parseRules } = require(join(dist, 'rules/load.js'));
const { RulesEngine } = require(join(dist, 'rules/engine.js'));
const { toCel } = require(join(dist, 'rules/cel.js'));
const { buildResponse } = require(join(dist, 'hook/builder.js'));

const rulesFile = process.argv[2] || join(root, 'examples/rules.yaml');
const iterations = Math.min(Number(process.argv[3]) || 20000, 200000);
const BATCH = 100;

const text = readFileSync(rulesFile, 'utf8');
let started = process.hrtime.bigint();
const parsed = parseRules(text, rulesFile);
const compileMs = Number(process.hrtime.bigint() - started) / 1e6;
if (!parsed.ok) {
  console.error(parsed.errors.join('\n'));
  process.exit(1);
}
const engine = new RulesEngine(parsed.ruleSet);

const fixturesDir = join(root, 'test/fixtures/okta');
const payloads = readdirSync(fixturesDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), event: JSON.parse(readFileSync(join(fixturesDir, f), 'utf8')) }));

/** Runs `fn` in batches and returns mean and p99 µs per call. */
function measure(fn) {
  for (let i = 0; i < 2000; i++) fn();
  const perCall = [];
  for (let done = 0; done < iterations; done += BATCH) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    perCall.push(Number(process.hrtime.bigint() - t0) / 1e3 / BATCH);
  }
  perCall.sort((a, b) => a - b);
  const mean = perCall.reduce((a, b) => a + b, 0) / perCall.length;
  return { mean, p99: perCall[Math.floor(perCall.length * 0.99)] };
}

const fmt = (n) => n.toFixed(2).padStart(8);
console.log(`rules: ${rulesFile} (${parsed.ruleSet.rules.length} rules, version ${parsed.ruleSet.version}); compile ${compileMs.toFixed(1)} ms`);
console.log(`node ${process.version}, ${iterations} calls per payload\n`);
console.log(`${'payload'.padEnd(34)} ${'eval µs'.padStart(8)} ${'p99'.padStart(8)} ${'+build'.padStart(8)} ${'toCel(event)'.padStart(13)}`);
const means = [];
for (const { name, event } of payloads) {
  const evalOnly = measure(() => engine.evaluateNow(event));
  const withBuild = measure(() => buildResponse(event, engine.evaluateNow(event), { debugContext: true, version: engine.version }));
  const convert = measure(() => toCel(event));
  means.push(evalOnly.mean);
  console.log(`${name.padEnd(34)} ${fmt(evalOnly.mean)} ${fmt(evalOnly.p99)} ${fmt(withBuild.mean)} ${fmt(convert.mean).padStart(13)}`);
}

// The async seam the service calls (one promise per request).
(async () => {
  const event = payloads[0].event;
  for (let i = 0; i < 2000; i++) await engine.evaluate(event);
  started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await engine.evaluate(event);
  const asyncMean = Number(process.hrtime.bigint() - started) / 1e3 / iterations;
  const avg = means.reduce((a, b) => a + b, 0) / means.length;
  console.log(`\nmean over payloads: ${avg.toFixed(2)} µs per evaluation (sync core); async evaluate() on ${payloads[0].name}: ${asyncMean.toFixed(2)} µs`);
})();
