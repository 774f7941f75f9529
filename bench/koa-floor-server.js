#!/usr/bin/env node
/**
 * The second reference point for `npm run bench`: the chosen stack (Koa, @koa/router,
 * koa-bodyparser) with no logic at all, answering the same static JSON as baseline-server.js.
 * What the hook costs above this is our own code and observability; what this costs above the
 * bare node:http baseline is the framework.
 */
'use strict';
const Koa = require('koa');
const Router = require('@koa/router');
const bodyParser = require('koa-bodyparser');

const body = JSON.stringify({ commands: [{ type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] }] });
const app = new Koa();
const router = new Router();
router.get('/readyz', (ctx) => {
  ctx.body = { status: 'ready' };
});
router.post('/hooks/token', bodyParser({ enableTypes: ['json'] }), (ctx) => {
  ctx.type = 'application/json';
  ctx.body = body;
});
app.use(router.routes());
const server = app.listen(Number(process.env.HOOK_PORT), process.env.HOOK_HOST || '127.0.0.1');
server.keepAliveTimeout = 65000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
