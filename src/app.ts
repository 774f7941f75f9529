/**
 * createApp(deps): the Koa application on the hook port. Builds, never listens, never reads the
 * environment. Middleware order: `POST /hooks/token` straight to the hook handler (it answers its
 * own failures) -> error boundary -> router (probes unauthenticated; the hook URL's other spellings).
 * The hook checks content type, then authenticates before reading the body, then parses, then
 * evaluates.
 */
import Router from '@koa/router';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import type { Config } from './config';
import type { ClaimsEngine, EngineProvider } from './hook/engine';
import { TokenHookService } from './hook/service';
import { ShadowRunner, type ShadowComparison } from './hook/shadow';
import type { AuthenticateFn } from './http/auth';
import type { HealthState } from './http/health';
import type { LoadShedder } from './http/load-shedding';
import type { Logger } from './observability/logger';
import type { HookOutcome, Metrics } from './observability/metrics';
import { isPromise } from './shared/values';

export const HOOK_PATH = '/hooks/token';
/** The call's SERVER span, named `{method} {route}` as the HTTP semantic conventions ask. */
export const HOOK_SPAN_NAME = `POST ${HOOK_PATH}`;

export interface AppDeps {
  config: Pick<Config, 'server' | 'logging'>;
  logger: Logger;
  metrics?: Metrics;
  engine: EngineProvider;
  /** Shadow rules engine (RULES_SHADOW_FILE): evaluated after each answer, compared, never applied. */
  shadow?: () => ClaimsEngine | undefined;
  authenticate: AuthenticateFn;
  health: HealthState;
  /** Refuses hook calls with a fast 503 while the instance is overloaded (absent: never sheds). */
  shedder?: LoadShedder;
}

const tracer = trace.getTracer('okta-token-hook');
const RESOLVED = Promise.resolve();
/** The body parser runs as a function here, not as middleware: nothing comes after it. */
const noNext = (): Promise<void> => RESOLVED;

interface HttpError extends Error {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
}

/**
 * A JSON answer, serialized here: Koa answers a string as is, while an object body makes it test
 * `instanceof ReadableStream`, `Blob` and `Response`, and the first read of those globals loads
 * Node's web streams and its internal fetch (about 25 ms of start-up and a few MB of heap for a
 * service that uses neither; docs/performance.md "Start-up").
 */
function sendJson(ctx: Koa.Context, status: number, value: unknown): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(value);
}

function jsonError(ctx: Koa.Context, status: number, error: string, message: string): void {
  sendJson(ctx, status, { error, message });
}

export function createApp(deps: AppDeps): Koa {
  const { config, logger, metrics, health } = deps;
  const service = new TokenHookService({
    engine: deps.engine,
    debugContext: config.server.debugContext,
    deadlineMs: config.server.deadlineMs,
  });
  const shadow = deps.shadow ? createShadowRunner(deps.shadow, logger, metrics) : undefined;
  const app = new Koa({ proxy: false });
  app.silent = true;

  const parseJson = bodyParser({
    enableTypes: ['json'],
    extendTypes: { json: ['application/json', '+json'] },
    jsonLimit: `${config.server.bodyLimitBytes}b`,
    strict: false,
    // The route has checked the content type already (isJsonRequest): no second detection.
    detectJSON: () => true,
    // Normalised to 413 or 400 here; the hook route turns them into its JSON answers.
    onerror: (err: Error, ctx: Koa.Context) => {
      const error = err as HttpError;
      ctx.throw(error.status === 413 || error.type === 'entity.too.large' ? 413 : 400);
    },
  });

  /**
   * The hook call. It answers every failure itself (never throws), so the exact hook URL is served
   * straight from the first middleware, without the router's matching, `allowedMethods` and the
   * error boundary (measured in docs/performance.md); other URLs go through those as before.
   */
  const hook = (ctx: Koa.Context): Promise<void> | undefined => {
    const shed = deps.shedder?.admit();
    if (shed) {
      // Before authentication and the body: a refused call costs next to nothing. Okta fails open at once.
      metrics?.shedRequests.inc({ reason: shed });
      ctx.set('Retry-After', '1');
      jsonError(ctx, 503, 'overloaded', 'The hook is overloaded; try again later');
      return undefined;
    }
    const started = process.hrtime.bigint();
    metrics?.requestStarted();
    // The call's SERVER span, child of the caller's `traceparent` if any (an ingress or a mesh that
    // traces). Started here rather than by the generic http/koa instrumentations, which cost several
    // times more per call.
    const parent = propagation.extract(ROOT_CONTEXT, ctx.request.headers);
    const span = tracer.startSpan(HOOK_SPAN_NAME, { kind: SpanKind.SERVER }, parent);
    // Built only for recorded spans: most calls are not sampled, and no sampler here reads them.
    const recording = span.isRecording();
    if (recording) span.setAttributes(serverSpanAttributes(ctx));
    // Active for the whole call, so log lines carry its ids and lookup spans nest under it. On Node 24
    // (AsyncContextFrame) this costs little; Node 20's async-hooks store costs more (docs/performance.md).
    return context.with(trace.setSpan(parent, span), () => answer(ctx, span, recording, started));
  };

  const answer = async (ctx: Koa.Context, span: Span, recording: boolean, started: bigint): Promise<void> => {
    let outcome: HookOutcome = 'error';
    const logFields: Record<string, unknown> = {};
    try {
      if (!isJsonRequest(ctx)) {
        outcome = 'bad_request';
        jsonError(ctx, 415, 'unsupported_media_type', 'Content-Type must be application/json');
        return;
      }
      // Header secrets answer synchronously; awaiting only a real promise saves a hop per call.
      const authenticating = deps.authenticate(ctx.request.headers);
      const auth = isPromise(authenticating) ? await authenticating : authenticating;
      metrics?.recordAuth(auth);
      if (recording) span.setAttribute('okta.auth.method', auth.method);
      if (!auth.ok) {
        outcome = 'unauthorized';
        logFields.authFailure = auth.reason;
        if (recording) span.setAttribute('okta.auth.failure', auth.reason);
        jsonError(ctx, 401, 'unauthorized', 'Unauthorized');
        return;
      }
      try {
        await parseJson(ctx, noNext);
      } catch (err) {
        const status = (err as HttpError).status ?? 400;
        outcome = 'bad_request';
        // Part of the body may be unread (still arriving chunked, or buffered for an inflate that was
        // stopped at the limit): the connection cannot carry another request. Close it after this answer.
        ctx.set('Connection', 'close');
        if (status === 413) jsonError(ctx, 413, 'payload_too_large', `Request body exceeds ${config.server.bodyLimitBytes} bytes`);
        else jsonError(ctx, 400, 'bad_request', 'Request body is not valid JSON');
        return;
      }
      const handling = service.handle(ctx.request.body);
      const result = isPromise(handling) ? await handling : handling;
      outcome = result.outcome;
      if (result.build) {
        // Already serialized by the builder (it measures the size Okta caps): no second stringify.
        ctx.status = result.status;
        ctx.type = 'application/json';
        ctx.body = result.build.json;
      } else sendJson(ctx, result.status, result.body);
      if (result.summary) {
        Object.assign(logFields, result.summary);
        if (recording) setSummaryAttributes(span, result.summary);
      }
      if (result.version) logFields.rulesVersion = result.version;
      if (result.reason) logFields.reason = result.reason;
      if (result.status === 400) logFields.reason = (result.body as { message?: string }).message;
      if (result.evaluation && result.build) {
        let matched = 0;
        let errors = 0;
        for (const rule of result.evaluation.rules) {
          if (rule.result === 'matched') matched++;
          else if (rule.result === 'error') errors++;
        }
        logFields.matchedRules = matched;
        if (errors > 0) logFields.ruleErrors = errors;
        logFields.operations = result.build.applied.length;
        if (result.build.skipped.length > 0) logFields.skipped = result.build.skipped.length;
        if (recording) {
          span.setAttribute('okta.rules.matched', matched);
          span.setAttribute('okta.rules.errors', errors);
          span.setAttribute('okta.patch.operations', result.build.applied.length);
          span.setAttribute('okta.patch.skipped', result.build.skipped.length);
        }
        metrics?.recordEvaluation(result.evaluation.rules, result.build.applied, result.build.skipped);
        if (result.evaluation.ruleSet !== undefined) {
          logFields.ruleSet = result.evaluation.ruleSet;
          if (recording) span.setAttribute('okta.rules.set', result.evaluation.ruleSet);
        }
        metrics?.recordRuleSet(result.evaluation.ruleSet);
        // Shadow rules start after this answer is written, under the same deadline; never awaited.
        if (shadow && result.engine && result.event && result.deadlineAt !== undefined) {
          shadow.schedule({
            event: result.event,
            liveEngine: result.engine,
            evaluation: result.evaluation,
            build: result.build,
            deadlineAt: result.deadlineAt,
            tag: { span: span.spanContext(), summary: result.summary },
          });
        }
      }
    } catch (err) {
      // Whatever happens, Okta gets a JSON answer and the process lives on.
      const error = err as Error;
      outcome = 'error';
      logger.error({ err: { type: error.name, message: error.message } }, 'unhandled error');
      jsonError(ctx, 500, 'internal_error', 'Internal error');
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (recording) {
        span.setAttribute('okta.hook.outcome', outcome);
        span.setAttribute('http.response.status_code', ctx.status);
        if (outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR });
      }
      const spanContext = span.spanContext();
      const sampled = (spanContext.traceFlags & 1) === 1;
      span.end();
      metrics?.requestEnded();
      deps.shedder?.leave();
      metrics?.recordRequest(outcome, seconds, logFields.clientId as string | undefined, sampled ? spanContext.traceId : undefined);
      if (config.logging.requests) {
        const level = outcome === 'error' ? 'error' : outcome === 'unauthorized' || outcome === 'bad_request' ? 'warn' : 'info';
        logFields.outcome = outcome;
        logFields.status = ctx.status;
        logFields.durationMs = Math.round(seconds * 1e6) / 1e3;
        logger[level](logFields, 'token hook call');
      }
    }
  };

  // The hook call (exact URL, POST): straight to its handler. Everything else: error boundary, router.
  app.use((ctx, next) => {
    // While shutting down, ask keep-alive clients to reconnect elsewhere after this response.
    if (health.isShuttingDown) ctx.set('Connection', 'close');
    return ctx.method === 'POST' && ctx.url === HOOK_PATH ? hook(ctx) : next();
  });

  // Error boundary: whatever happens below, the client gets a JSON error and the process lives on.
  app.use(async (ctx, next) => {
    try {
      await next();
      // The router's own answers (no route, a method the path does not take, a method it does not
      // know) in JSON like every other error; `Allow` stays as the router set it.
      if (ctx.body === undefined) {
        if (ctx.status === 404) jsonError(ctx, 404, 'not_found', 'No such endpoint');
        else if (ctx.status === 405) jsonError(ctx, 405, 'method_not_allowed', `Method not allowed; this endpoint takes ${ctx.response.get('Allow') || 'none'}`);
        else if (ctx.status === 501) jsonError(ctx, 501, 'not_implemented', 'Method not implemented');
      }
    } catch (err) {
      const error = err as HttpError;
      const status = error.status ?? error.statusCode ?? 500;
      if (status >= 400 && status < 500) jsonError(ctx, status, 'bad_request', error.expose ? cleanParserMessage(error) : 'Bad request');
      else {
        logger.error({ err: { type: error.name, message: error.message } }, 'unhandled error');
        jsonError(ctx, 500, 'internal_error', 'Internal error');
      }
    }
  });

  const router = new Router();
  router.get('/healthz', (ctx) => sendJson(ctx, 200, { status: 'ok' }));
  router.get('/readyz', (ctx) => {
    const reason = health.notReadyReason();
    sendJson(ctx, reason ? 503 : 200, reason ? { status: 'not_ready', reason } : { status: 'ready', rulesVersion: deps.engine().version });
  });
  // The same handler for the hook URL's other spellings (a query string, a trailing slash).
  router.post(HOOK_PATH, hook);

  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  return app;
}

/**
 * `ctx.is('application/json', '+json')` (type-is: a body present and a JSON media type), with
 * the exact `application/json` Okta sends decided without parsing the header.
 */
function isJsonRequest(ctx: Koa.Context): boolean {
  const headers = ctx.request.headers;
  if (headers['content-type'] === 'application/json') return headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(headers['content-length'] ?? NaN));
  return Boolean(ctx.is('application/json', '+json'));
}

interface ShadowTag {
  span: SpanContext;
  summary?: { eventId?: string; clientId?: string };
}

/** Shadow comparisons -> metrics, one log line per differing (or failing) call, a span with an event. */
function createShadowRunner(engine: () => ClaimsEngine | undefined, logger: Logger, metrics: Metrics | undefined): ShadowRunner {
  return new ShadowRunner({
    engine,
    onComparison: (comparison: ShadowComparison, call) => {
      metrics?.recordShadow(comparison.result, comparison.differences);
      const tag = call.tag as ShadowTag | undefined;
      const parent = tag?.span;
      if (parent && (parent.traceFlags & 1) === 1) {
        const span = tracer.startSpan('shadow rules', { kind: SpanKind.INTERNAL, startTime: Date.now() - comparison.durationMs }, trace.setSpanContext(ROOT_CONTEXT, parent));
        span.setAttributes({ 'okta.shadow.result': comparison.result, 'okta.shadow.version': comparison.shadowVersion, 'okta.shadow.differences': comparison.differences.length });
        if (comparison.differences.length > 0 || comparison.result === 'error') {
          span.addEvent('okta.shadow.comparison', {
            'okta.shadow.result': comparison.result,
            'okta.shadow.kinds': [...new Set(comparison.differences.map((d) => d.kind))],
            'okta.shadow.claims': [...new Set(comparison.differences.flatMap((d) => (d.claim ? [d.claim] : [])))],
            ...(comparison.reason ? { 'okta.shadow.reason': comparison.reason } : {}),
          });
        }
        span.end();
      }
      if (comparison.result === 'same') return;
      // Claim NAMES and kinds only: values may be personal data.
      const fields: Record<string, unknown> = {
        shadow: comparison.result,
        rulesVersion: comparison.liveVersion,
        shadowVersion: comparison.shadowVersion,
        differences: comparison.differences,
        shadowMs: Math.round(comparison.durationMs * 1000) / 1000,
      };
      if (tag?.summary?.eventId) fields.eventId = tag.summary.eventId;
      if (tag?.summary?.clientId) fields.clientId = tag.summary.clientId;
      if (comparison.reason) fields.reason = comparison.reason;
      if (comparison.failedRules) fields.failedRules = comparison.failedRules;
      if (comparison.shadowRuleSet !== undefined) fields.shadowRuleSet = comparison.shadowRuleSet;
      logger[comparison.result === 'error' ? 'warn' : 'info'](fields, comparison.result === 'error' ? 'shadow rules failed' : 'shadow rules differ');
    },
  });
}

/** HTTP server attributes (stable semantic conventions); never the client address or a header value but the user agent. */
function serverSpanAttributes(ctx: Koa.Context): Attributes {
  const attributes: Attributes = {
    'http.request.method': 'POST',
    'http.route': HOOK_PATH,
    'url.path': HOOK_PATH,
    'url.scheme': ctx.protocol,
    'network.protocol.version': ctx.req.httpVersion,
    'okta.hook': 'token',
  };
  const userAgent = ctx.request.headers['user-agent'];
  if (userAgent) attributes['user_agent.original'] = userAgent.length > 256 ? userAgent.slice(0, 256) : userAgent;
  return attributes;
}

function setSummaryAttributes(span: Span, summary: { eventId?: string; clientId?: string; grantType?: string }): void {
  if (summary.eventId) span.setAttribute('okta.event_id', summary.eventId);
  if (summary.clientId) span.setAttribute('okta.client_id', summary.clientId);
  if (summary.grantType) span.setAttribute('okta.grant_type', summary.grantType);
}

function cleanParserMessage(error: HttpError): string {
  return error.message.length > 200 ? 'Bad request' : error.message;
}
