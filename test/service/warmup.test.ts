/** The cold-start warm-up (src/warmup.ts): what it runs before the instance takes traffic. */
import Koa from 'koa';
import type { ClaimsEngine, Evaluation } from '../../src/hook/engine';
import type { TokenHookEvent } from '../../src/hook/types';
import { TEMPLATE_NAMES, template } from '../../src/rules/testing/templates';
import { warmUpEngine, warmUpHttp } from '../../src/warmup';

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

  it('sends every flow\'s request through the HTTP path on a private loopback server, and closes it', async () => {
    const bodies: string[] = [];
    const app = new Koa();
    app.use(async (ctx) => {
      if (ctx.path === '/hooks/token') {
        const chunks: Buffer[] = [];
        for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
        bodies.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as TokenHookEvent).eventId ?? '');
      }
      ctx.body = { ok: true };
    });
    await warmUpHttp(app, TEMPLATE_NAMES.length);
    expect(bodies).toEqual(TEMPLATE_NAMES.map((name) => template(name).eventId));
  });
});
