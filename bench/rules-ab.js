#!/usr/bin/env node
/**
 * Rule evaluation of two builds compared in one process, interleaved (steadier than two runs of
 * rules-eval.js on a busy host): CPU µs per evaluation over every payload in test/fixtures/okta.
 *
 *   node bench/rules-ab.js BEFORE_DIST AFTER_DIST [RULES_FILE] [ROUNDS]
 *
 * e.g. a build of the base commit in /tmp/base/dist against ./dist with bench/rules-matches.yaml.
 * Each round runs 5,000 passes over the payloads per build, alternating which build goes first.
 */
'use strict';
const { readFileSync, readdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const [beforeDist, afterDist, rulesArg, roundsArg] = process.argv.slice(2);
if (!beforeDist || !afterDist) {
  console.error('usage: node bench/rules-ab.js BEFORE_DIST AFTER_DIST [RULES_FILE] [ROUNDS]');
  process.exit(2);
}
const rulesFile = rulesArg || join(root, 'examples/rules.yaml');
const rounds = Math.max(1, Math.min(Number(roundsArg) || 15, 100));
const text = readFileSync(rulesFile, 'utf8');
const fixtures = join(root, 'test/fixtures/okta');
const payloads = readdirSync(fixtures)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(fixtures, f), 'utf8')));

function engineFrom(dist) {
  const { parseRules } = require(join(resolve(dist), 'rules/load.js'));
  const { RulesEngine } = require(join(resolve(dist), 'rules/engine.js'));
  const parsed = parseRules(text, rulesFile);
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return new RulesEngine(parsed.ruleSet);
}

const PASSES = 5000;
function cpuPerEvaluation(engine) {
  const start = process.cpuUsage();
  for (let i = 0; i < PASSES; i++) for (const event of payloads) engine.evaluateNow(event);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (PASSES * payloads.length);
}

const engines = { before: engineFrom(beforeDist), after: engineFrom(afterDist) };
for (const engine of Object.values(engines)) cpuPerEvaluation(engine); // warm-up
const samples = { before: [], after: [] };
for (let round = 0; round < rounds; round++) {
  for (const name of round % 2 ? ['before', 'after'] : ['after', 'before']) samples[name].push(cpuPerEvaluation(engines[name]));
}
console.log(`rules: ${rulesFile}; ${payloads.length} payloads; ${rounds} rounds of ${PASSES} passes; node ${process.version}`);
for (const [name, values] of Object.entries(samples)) {
  values.sort((a, b) => a - b);
  const at = (q) => values[Math.min(values.length - 1, Math.floor(q * values.length))].toFixed(2);
  console.log(`${name.padEnd(7)} CPU µs per evaluation: min ${at(0)}  median ${at(0.5)}  max ${at(1)}`);
}
