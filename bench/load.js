'use strict';
/**
 * An open-loop, constant-arrival-rate HTTP/1.1 load generator for `npm run bench` (what k6's
 * constant-arrival-rate executor does, small enough to read):
 *
 * - request i is due at start + i/rate, whether or not earlier ones have been answered;
 * - it goes out on a free keep-alive connection, or waits in a client-side queue for one;
 * - its latency runs from the time it was DUE to the last byte of its response, so time spent
 *   queued behind a slow server counts (no coordinated omission).
 *
 * autocannon, used before, rate-limits by a per-second quota per connection: each connection fires
 * back-to-back until its quota is spent and then idles until the next second. Its p99 then
 * measures that self-made burst (even a bare node:http server showed 50–90 ms at 2,000/s).
 *
 * Requests are pre-serialized; responses are parsed just enough (status line, Content-Length), so
 * the client stays cheap next to the server it measures. Only loopback addresses are accepted.
 */
const net = require('node:net');

const now = () => performance.now();

/** Builds the raw bytes of a POST request once. */
function rawRequest({ host, port, path, headers, body }) {
  const payload = Buffer.from(body, 'utf8');
  let head = `POST ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\nconnection: keep-alive\r\ncontent-length: ${payload.length}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), payload]);
}

/** Parses HTTP/1.1 responses off one socket; calls onResponse(status, closeAfter) per response. */
class ResponseReader {
  constructor(onResponse, onError) {
    this.buffer = Buffer.alloc(0);
    this.onResponse = onResponse;
    this.onError = onError;
  }

  push(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buffer.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!match || !(status >= 100)) return this.onError(new Error('response without Content-Length or status'));
      const total = end + 4 + Number(match[1]);
      if (this.buffer.length < total) return;
      this.buffer = this.buffer.subarray(total);
      this.onResponse(status, /\r\nconnection:\s*close/i.test(head));
    }
  }
}

/**
 * Drives `rate` requests per second for `seconds`, cycling through `requests` ({ body, headers }).
 * Resolves with counts and the sorted latencies in milliseconds.
 *
 * `measureAfter` (seconds) makes the first part of the run a warm-up on the same connections: only
 * requests due after it count in `latenciesMs` (all of them still count as sent/completed), and
 * `onMeasureStart()` is called once when the measured part begins (to read the server's CPU time).
 * A warm-up run as a separate call would close its connections and open new ones just as the
 * measured part starts: a reconnect burst that production traffic does not have.
 */
function openLoop({ host = '127.0.0.1', port, path, rate, seconds, connections = 64, requests, timeoutMs = 5000, measureAfter = 0, onMeasureStart }) {
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') throw new Error('load only goes to loopback');
  if (!(rate > 0 && seconds > 0)) throw new Error('rate and seconds must be positive');
  const raws = requests.map((r) => rawRequest({ host, port, path, headers: r.headers, body: r.body }));
  const expected = Math.ceil(rate * seconds);
  const latencies = new Float64Array(expected);
  let measured = 0;
  let measureFrom = Infinity;
  const stats = { sent: 0, completed: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0, maxQueued: 0 };
  const queue = []; // due times of requests waiting for a free connection
  let queueHead = 0;
  const idle = [];
  let issued = 0;
  let stopped = false;
  let start = 0;
  let drain;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));

  function record(due) {
    stats.completed++;
    if (due >= measureFrom) latencies[measured++] = now() - due;
  }

  function send(conn, due) {
    conn.due = due;
    conn.timer = setTimeout(() => {
      stats.timeouts++;
      conn.due = undefined;
      conn.socket.destroy();
    }, timeoutMs);
    stats.sent++;
    conn.socket.write(raws[stats.sent % raws.length]);
  }

  function release(conn) {
    if (queueHead < queue.length) {
      send(conn, queue[queueHead++]);
      if (queueHead > 4096) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
    } else idle.push(conn);
    maybeFinish();
  }

  function maybeFinish() {
    if (stopped && issued === stats.completed + stats.errors + stats.timeouts) finish();
  }

  function connect(conn) {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    conn.socket = socket;
    const reader = new ResponseReader(
      (status, closeAfter) => {
        clearTimeout(conn.timer);
        if (status >= 200 && status < 300) stats.ok++;
        else stats.non2xx++;
        const due = conn.due;
        conn.due = undefined;
        record(due);
        if (closeAfter) socket.destroy();
        else release(conn);
      },
      () => socket.destroy(),
    );
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(conn.timer);
      if (conn.due !== undefined) {
        stats.errors++;
        conn.due = undefined;
      }
      const at = idle.indexOf(conn);
      if (at !== -1) idle.splice(at, 1);
      if (!conn.closing) {
        connect(conn);
        release(conn);
      } else maybeFinish();
    });
    return new Promise((resolve) => socket.once('connect', resolve));
  }

  const pool = Array.from({ length: connections }, () => ({ socket: null, due: undefined, timer: undefined, closing: false }));

  function tick() {
    if (stopped) return;
    const elapsed = now() - start;
    if (measureFrom === Infinity && elapsed >= measureAfter * 1000) {
      measureFrom = start + measureAfter * 1000;
      stats.measureStartedAt = now();
      if (onMeasureStart) onMeasureStart();
    }
    const due = Math.min(expected, Math.floor((elapsed * rate) / 1000) + 1);
    while (issued < due) {
      const dueAt = start + (issued * 1000) / rate;
      issued++;
      const conn = idle.pop();
      if (conn) send(conn, dueAt);
      else queue.push(dueAt);
    }
    stats.maxQueued = Math.max(stats.maxQueued, queue.length - queueHead);
    if (issued >= expected) {
      stopped = true;
      // Whatever is still out after the timeout counts as timed out.
      drain = setTimeout(finish, timeoutMs + 1000);
      maybeFinish();
      return;
    }
    // Spins on the client's own core, so each request leaves when it is due, not at the next 1 ms
    // timer tick; setImmediate still lets responses in between.
    setImmediate(tick);
  }

  return Promise.all(pool.map(connect)).then(async () => {
    idle.push(...pool);
    start = now();
    tick();
    await done;
    clearTimeout(drain);
    const elapsedMs = now() - start;
    for (const conn of pool) {
      conn.closing = true;
      clearTimeout(conn.timer);
      conn.socket.destroy();
    }
    const sorted = latencies.slice(0, measured).sort();
    const measuredSeconds = (now() - (stats.measureStartedAt ?? start)) / 1000;
    return { ...stats, issued, measured, elapsedSeconds: elapsedMs / 1000, measuredSeconds, latenciesMs: sorted };
  });
}

/** Percentile (0–100) of sorted values, nearest rank. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

module.exports = { openLoop, percentile };
