/** The cold-start warm-up (src/warmup.ts): what it runs before the instance takes traffic. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import Koa from 'koa';
import type { ClaimsEngine, Evaluation } from '../../src/hook/engine';
import type { TokenHookEvent } from '../../src/hook/types';
import { TokenHookService } from '../../src/hook/service';
import { RulesEngine } from '../../src/rules/engine';
import { parseRules } from '../../src/rules/load';
import { TEMPLATE_NAMES, template } from '../../src/rules/testing/templates';
import { offlineEngine, warmUpEngine, warmUpHttp, wireRequest } from '../../src/warmup';

const EMPTY: Evaluation = { decision: { changes: [], lifetimes: [] }, rules: [] };

/** An engine that records which built-in request each call was (by its event id). */
function recordingEngine(): { engine: ClaimsEngine; seen: string[] } {
  const ids = new Map(TEMPLATE_NAMES.map((name) => [template(name).eventId, name]));
  const seen: string[] = [];
  const engine: ClaimsEngine = {
    version: 'warm-up-test',
    evaluate: (event: TokenHookEvent) => {
      seen.push(ids.get(event.eventId) ?? 'unknown');
      return EMPTY;
    },
  };
  return { engine, seen };
}

describe('cold-start warm-up', () => {
  it('runs the engine on the built-in request of every flow, in turn, for the given number of iterations', async () => {
    const { engine, seen } = recordingEngine();
    const result = await warmUpEngine(engine, { iterations: 2 * TEMPLATE_NAMES.length, maxMs: 60_000, deadlineMs: 2500 });
    expect(result.iterations).toBe(2 * TEMPLATE_NAMES.length);
    expect(seen).toEqual([...TEMPLATE_NAMES, ...TEMPLATE_NAMES]);
    expect(new Set(seen)).toEqual(new Set(['authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'preview']));
  });

  it('can reuse one copy of each built-in request: the hook, on the example rules, leaves the requests it handles as they were', async () => {
    const parsed = parseRules(readFileSync(path.join(__dirname, '../../examples/rules.yaml'), 'utf8'), 'examples/rules.yaml');
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const service = new TokenHookService({ engine: () => offlineEngine(new RulesEngine(parsed.ruleSet)), debugContext: true, deadlineMs: 2500 });
    for (const name of TEMPLATE_NAMES) {
      const event = template(name);
      for (let i = 0; i < 3; i++) expect((await service.handle(event)).status).toBe(200);
      expect([name, event]).toEqual([name, template(name)]);
    }
  });

  it('sends every flow\'s request through the HTTP path on a private loopback server, a few pairs per keep-alive connection, and closes it', async () => {
    const bodies: string[] = [];
    const seen: { method: string; path: string; traceparent?: string; connection?: string; type?: string; socket: number }[] = [];
    const sockets: unknown[] = [];
    const app = new Koa();
    app.use(async (ctx) => {
      if (!sockets.includes(ctx.req.socket)) sockets.push(ctx.req.socket);
      seen.push({ method: ctx.method, path: ctx.path, traceparent: ctx.get('traceparent'), connection: ctx.get('connection'), type: ctx.is('application/json') || undefined, socket: sockets.indexOf(ctx.req.socket) });
      if (ctx.path === '/hooks/token') {
        const chunks: Buffer[] = [];
        for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
        bodies.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as TokenHookEvent).eventId ?? '');
      }
      ctx.body = { ok: true };
    });
    const result = await warmUpHttp(app, TEMPLATE_NAMES.length, 2);
    expect(result.calls).toBe(2 * TEMPLATE_NAMES.length);
    expect(bodies).toEqual(TEMPLATE_NAMES.map((name) => template(name).eventId));
    // A probe call before each hook call; every call unsampled (no warm-up span is ever exported).
    expect(seen.map((call) => `${call.method} ${call.path}`)).toEqual(TEMPLATE_NAMES.flatMap(() => ['GET /healthz', 'POST /hooks/token']));
    for (const call of seen) expect(call.traceparent).toBe('00-0000000000000000000000000000a11e-000000000000a11e-00');
    expect(seen.filter((call) => call.type === 'application/json')).toHaveLength(TEMPLATE_NAMES.length);
    // Five pairs, two per connection: 2 + 2 + 1, the last call on each asking the server to close it.
    expect(seen.map((call) => `${call.socket}:${call.connection}`)).toEqual([
      ...['0:keep-alive', '0:keep-alive', '0:keep-alive', '0:close'],
      ...['1:keep-alive', '1:keep-alive', '1:keep-alive', '1:close'],
      ...['2:keep-alive', '2:close'],
    ]);
  });

  it('ends a connection whose answer has no content-length, and goes on with the next one', async () => {
    const seen: string[] = [];
    const app = new Koa();
    app.use((ctx) => {
      seen.push(`${ctx.method} ${ctx.path}`);
      // A stream body: sent chunked, without a content-length.
      ctx.body = Readable.from(['{"ok":', 'true}']);
    });
    const result = await warmUpHttp(app, 2, 1);
    expect(result.calls).toBe(4);
    expect(seen).toEqual(['GET /healthz', 'GET /healthz']);
  });

  it('writes well-formed HTTP/1.1 requests whose content-length counts bytes, not characters', () => {
    const body = JSON.stringify({ name: 'Zoë' });
    const wire = wireRequest('POST', '/hooks/token', body);
    const [head, sent] = wire.split('\r\n\r\n');
    expect(head!.split('\r\n')[0]).toBe('POST /hooks/token HTTP/1.1');
    expect(head).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(Buffer.byteLength(body)).toBe(body.length + 1);
    expect(sent).toBe(body);
    expect(wireRequest('GET', '/healthz').endsWith('\r\n\r\n')).toBe(true);
    expect(wireRequest('GET', '/healthz')).toContain('\r\nconnection: close\r\n');
    expect(wireRequest('GET', '/healthz', undefined, 'keep-alive')).toContain('\r\nconnection: keep-alive\r\n');
  });

  it('finishes even when the server never answers (a connection gives up after 2 s without an answer)', async () => {
    const app = new Koa();
    app.use(() => new Promise<void>(() => undefined));
    const started = Date.now();
    const result = await warmUpHttp(app, 2, 1);
    // Two connections, each given up after 2 s; no upper bound tighter than that on a busy machine.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
    expect(result.calls).toBe(4);
  });
});
