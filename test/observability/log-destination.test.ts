import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { BatchedDestination, createLogger, isoTime } from '../../src/observability/logger';

/** The batched stdout destination of the service (logger.ts), writing to a real file here. */
describe('batched log destination', () => {
  let dir: string;
  const destinations: BatchedDestination[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'okta-hook-logs-'));
  });
  afterEach(() => {
    for (const destination of destinations.splice(0)) destination.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (bufferBytes: number): { destination: BatchedDestination; file: string; stream: ReturnType<typeof pino.destination> } => {
    const file = join(dir, 'out.log');
    const stream = pino.destination({ dest: file, sync: false, mkdir: true });
    const destination = new BatchedDestination(stream, bufferBytes);
    destinations.push(destination);
    return { destination, file, stream };
  };
  /** Resolves once the file holds what the stream was given (SonicBoom's 'drain' after the write in flight). */
  const written = (stream: ReturnType<typeof pino.destination>): Promise<void> =>
    new Promise((resolve) => ((stream as unknown as { _writing: boolean })._writing ? stream.once('drain', () => resolve()) : resolve()));
  const waitReady = (stream: ReturnType<typeof pino.destination>): Promise<void> => new Promise((resolve) => stream.once('ready', () => resolve()));

  it('keeps lines until the buffer fills, then writes them in one piece, in order', async () => {
    const { destination, file, stream } = open(100);
    await waitReady(stream);
    destination.write('{"n":1}\n');
    destination.write('{"n":2}\n');
    await written(stream);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readFileSync(file, 'utf8')).toBe('');
    const long = `{"pad":"${'x'.repeat(100)}"}\n`;
    destination.write(long);
    await written(stream);
    expect(readFileSync(file, 'utf8')).toBe(`{"n":1}\n{"n":2}\n${long}`);
  });

  it('writes what is pending on flush and on flushSync', async () => {
    const { destination, file, stream } = open(1 << 20);
    await waitReady(stream);
    destination.write('{"a":1}\n');
    await new Promise<void>((resolve) => destination.flush(() => resolve()));
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    destination.write('{"b":2}\n');
    destination.flushSync();
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"b":2}\n');
  });

  it('gives pino lines with the same fields as an unbuffered destination', async () => {
    const { destination, file, stream } = open(32 * 1024);
    await waitReady(stream);
    const plainFile = join(dir, 'plain.log');
    const plain = pino.destination({ dest: plainFile, sync: true });
    const fields = { clientId: 'abc', outcome: 'patched', status: 200, durationMs: 0.42 };
    createLogger({ level: 'info', destination, base: { service: 'okta-token-hook' } }).info(fields, 'token hook call');
    createLogger({ level: 'info', destination: plain, base: { service: 'okta-token-hook' } }).info(fields, 'token hook call');
    destination.flushSync();
    const withoutTime = (line: string): Record<string, unknown> => {
      const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
      expect(typeof time).toBe('string');
      return rest;
    };
    expect(withoutTime(readFileSync(file, 'utf8'))).toEqual(withoutTime(readFileSync(plainFile, 'utf8')));
  });
});

describe('log timestamp', () => {
  afterEach(() => jest.useRealTimers());

  it("writes the same time field as pino's isoTime, formatted once per millisecond", () => {
    jest.useFakeTimers({ now: new Date('2026-12-01T10:00:00.123Z') });
    expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
    expect(isoTime()).toBe(',"time":"2026-12-01T10:00:00.123Z"');
    jest.setSystemTime(new Date('2026-12-01T10:00:00.124Z'));
    expect(isoTime()).toBe(',"time":"2026-12-01T10:00:00.124Z"');
    expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
  });
});
