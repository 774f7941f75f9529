#!/usr/bin/env node
/**
 * The reference point for `npm run bench`: a bare node:http server that reads the body and answers
 * a static Okta-style JSON response, with /readyz for the harness. What the hook costs above this is
 * what our code (Koa, auth, parsing, rules, response building, observability) costs.
 */
'use strict';
const http = require('node:http');

const body = Buffer.from(JSON.stringify({ commands: [{ type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] }] }));
// Content-Length, as Koa sends it: without it Node would answer chunked.
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const server = http.createServer((req, res) => {
  if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, headers).end(body);
  });
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.HOOK_PORT), process.env.HOOK_HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
