/**
 * Real Prometheus and promtool for tests. CI installs Debian's `prometheus` package (which ships
 * both); on a machine without them the tests that need them are skipped with a printed reason,
 * and fail instead when `CI` is set, so a broken CI image cannot pass silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './process';

/** Absolute path of an executable on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `describe` when the binary exists; otherwise a failing test under CI, or a skipped block with a
 * console warning saying why.
 */
export function describeWithBinary(binary: string, title: string, body: (path: string) => void): void {
  const path = findBinary(binary);
  if (path) {
    describe(title, () => body(path));
    return;
  }
  if (process.env.CI) {
    describe(title, () => {
      it(`needs the ${binary} binary (CI installs Debian's prometheus package)`, () => {
        throw new Error(`${binary} not found on PATH; .ci/run must install the prometheus package`);
      });
    });
    return;
  }
  console.warn(`SKIPPED "${title}": ${binary} is not on PATH (apt-get install prometheus). CI fails instead of skipping.`);
  describe.skip(title, () => body(''));
}

export function runTool(path: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(path, args, { encoding: 'utf8', input, timeout: 100000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface PromVectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryResult {
  resultType: 'vector' | 'scalar' | 'matrix' | 'string';
  result: PromVectorSample[] | [number, string];
}

export class PrometheusApiError extends Error {
  constructor(
    readonly expr: string,
    readonly errorType: string,
    message: string,
  ) {
    super(`${errorType}: ${message} (query: ${expr})`);
  }
}

export interface RunningPrometheus {
  url: string;
  /** Instant query; throws PrometheusApiError when Prometheus rejects the expression. */
  query(expr: string): Promise<QueryResult>;
  /** Vector result of an instant query (throws for other result types). */
  vector(expr: string): Promise<PromVectorSample[]>;
  /** GET an API path (e.g. /api/v1/targets) and return `data`. */
  api<T>(path: string): Promise<T>;
  /** Polls until the predicate holds (or throws after timeoutMs with the last error). */
  waitUntil(description: string, predicate: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export interface PrometheusOptions {
  /** prometheus.yml content, or a function of the data directory (for rule_files paths). */
  config: string | ((dir: string) => string);
  /** Extra files written into the data directory before start (name -> content). */
  files?: Record<string, string>;
  flags?: string[];
}

export async function startPrometheus(binary: string, options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'okta-hook-prom-'));
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content);
  const configText = typeof options.config === 'function' ? options.config(dir) : options.config;
  await writeFile(join(dir, 'prometheus.yml'), configText);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      ...(options.flags ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success') throw new PrometheusApiError(path, body.errorType ?? 'error', body.error ?? 'unknown error');
    return body.data;
  };
  const query = async (expr: string): Promise<QueryResult> => {
    const res = await fetch(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(),
    });
    const body = (await res.json()) as { status: string; data: QueryResult; errorType?: string; error?: string };
    if (body.status !== 'success') throw new PrometheusApiError(expr, body.errorType ?? 'error', body.error ?? 'unknown error');
    return body.data;
  };
  const waitUntil = async (description: string, predicate: () => Promise<boolean>, timeoutMs = 30000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}) while waiting for ${description}:\n${output}`);
      try {
        if (await predicate()) return;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}${lastError ? `: ${String(lastError)}` : ''}\n${output.slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const running: RunningPrometheus = {
    url,
    query,
    vector: async (expr) => {
      const data = await query(expr);
      if (data.resultType !== 'vector') throw new Error(`expected a vector for ${expr}, got ${data.resultType}`);
      return data.result as PromVectorSample[];
    },
    api,
    waitUntil,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
    logs: () => output,
  };
  try {
    await waitUntil('prometheus to be ready', async () => (await fetch(`${url}/-/ready`)).status === 200, 30000);
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}
