/**
 * A minimal OTLP/HTTP trace and log receiver on 127.0.0.1 that accepts the JSON encoding
 * (`application/json`, as `http/json` exporters send) and keeps the decoded spans and log records.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number };
}
interface OtlpRequest {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ scope?: { name?: string }; spans?: OtlpSpan[] }> }>;
}

interface OtlpLogsRequest {
  resourceLogs?: Array<{ scopeLogs?: Array<{ scope?: { name?: string }; logRecords?: Array<{ body?: OtlpAnyValue; traceId?: string; severityText?: string; attributes?: OtlpKeyValue[] }> }> }>;
}

export interface ReceivedLog {
  body: unknown;
  traceId?: string;
  severityText?: string;
  scope?: string;
  attributes: Record<string, unknown>;
}

export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind?: number;
  statusCode?: number;
  scope?: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

function plain(value: OtlpAnyValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  return undefined;
}

const toRecord = (attributes: OtlpKeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((attributes ?? []).map((kv) => [kv.key, plain(kv.value)]));

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  logs: ReceivedLog[];
  requests: Array<{ path: string; contentType: string; headers: IncomingHttpHeaders }>;
  /** Resolves when a span satisfying the predicate arrived (rejects after timeoutMs). */
  waitForSpan(predicate: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const logs: ReceivedLog[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // As a collector does: a gzip-compressed export (OTEL_EXPORTER_OTLP_COMPRESSION=gzip) is read decompressed.
      if (req.headers['content-encoding'] === 'gzip') chunks.splice(0, chunks.length, gunzipSync(Buffer.concat(chunks)));
      const contentType = req.headers['content-type'] ?? '';
      requests.push({ path: req.url ?? '', contentType, headers: req.headers });
      if (req.method !== 'POST' || !['/v1/traces', '/v1/logs'].includes(req.url ?? '') || !contentType.startsWith('application/json')) {
        res.writeHead(415, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (req.url === '/v1/logs') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpLogsRequest;
        for (const resourceLogs of body.resourceLogs ?? []) {
          for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
            for (const record of scopeLogs.logRecords ?? []) {
              logs.push({ body: record.body ? plain(record.body) : undefined, traceId: record.traceId, severityText: record.severityText, scope: scopeLogs.scope?.name, attributes: toRecord(record.attributes) });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = toRecord(resourceSpans.resource?.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of scopeSpans.spans ?? []) {
            spans.push({
              name: span.name,
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              kind: span.kind,
              statusCode: span.status?.code,
              scope: scopeSpans.scope?.name,
              attributes: toRecord(span.attributes),
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    logs,
    requests,
    async waitForSpan(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = spans.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching span received; got: ${spans.map((s) => s.name).join(', ') || 'none'}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
