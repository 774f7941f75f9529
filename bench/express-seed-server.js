#!/usr/bin/env node
/**
 * The seed article's sample (Okta's "token inline hook" guide, Node.js + Express), as a reference
 * profile of `npm run bench`: express.json(), a compare of the authorization header with the
 * shared secret, a read of `data.identity.claims.preferred_username`, and one static `add` patch.
 * Its per-request body logging (`console.log` of the whole request) is left out, as in the issue's
 * outside measurements. Express is a devDependency used by the benchmark only.
 */
'use strict';
const express = require('express');
const { safeCompare, patchFor } = require('./seed-work');

const app = express();
app.use(express.json());
app.get('/readyz', (req, res) => res.json({ status: 'ready' }));
app.post('/hooks/token', (req, res) => {
  if (!safeCompare(req.headers.authorization)) return res.status(401).json({ error: 'unauthorized' });
  res.status(200).json(patchFor(req.body));
});
const server = app.listen(Number(process.env.HOOK_PORT), process.env.HOOK_HOST || '127.0.0.1');
server.keepAliveTimeout = 65000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
