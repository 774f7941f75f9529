import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'main.js');

export function assertBuilt(): void {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)');
}

/** Ports handed out by `freePort` in this test file: the kernel can give a just-closed port again, and two calls in a row must not return the same one. */
const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1 (closed again before returning), never one this test file already got. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves when stdout contains the text (or rejects after timeoutMs). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `node dist/main.js` with exactly the given environment (plus PATH). */
export function startProcess(env: Record<string, string>, args: string[] = [MAIN]): ServiceProcess {
  assertBuilt();
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (text: string | RegExp, timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const found = (): boolean => (typeof text === 'string' ? out.includes(text) || err.includes(text) : text.test(out) || text.test(err));
    while (!found()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`timed out waiting for ${String(text)}\nstdout: ${out}\nstderr: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, stdout: () => out, stderr: () => err, exited, waitFor };
}
