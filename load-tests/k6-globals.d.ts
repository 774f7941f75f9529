/**
 * k6 provides `console` (log/info/warn/error/debug) in both init and VU context; @types/k6 does not
 * declare it and the DOM lib would bring browser globals k6 does not have.
 */
declare global {
  const console: {
    log(...data: unknown[]): void;
    info(...data: unknown[]): void;
    warn(...data: unknown[]): void;
    error(...data: unknown[]): void;
    debug(...data: unknown[]): void;
  };
}

export {};
