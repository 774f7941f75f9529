#!/usr/bin/env node
/**
 * The Koa floor of `npm run bench`: the chosen stack (Koa, @koa/router, koa-bodyparser) doing the
 * seed sample's work (bench/express-seed-server.js: header compare, body read, one static `add`
 * patch) and nothing else. What the hook costs above this is our own code and observability; what
 * this costs above the bare node:http baseline is the framework.
 */
'use strict';
const Koa = require('koa');
const Router = require('@koa/router');
const bodyParser = require('koa-bodyparser');
const { safeCompare, patchFor } = require('./seed-work');

const app = new Koa();
const router = new Router();
router.get('/readyz', (ctx) => {
  ctx.body = { status: 'ready' };
});
router.post('/hooks/token', bodyParser({ enableTypes: ['json'] }), (ctx) => {
  if (!safeCompare(ctx.get('authorization'))) {
    ctx.status = 401;
    ctx.body = { error: 'unauthorized' };
    return;
  }
  ctx.body = patchFor(ctx.request.body);
});
app.use(router.routes());
const server = app.listen(Number(process.env.HOOK_PORT), process.env.HOOK_HOST || '127.0.0.1');
server.keepAliveTimeout = 65000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
