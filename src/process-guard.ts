/**
 * Last line of defence: an error no code handled (an unhandled promise rejection, an uncaught
 * exception) is logged and counted instead of stopping the process. Node's default would exit
 * and drop every call in flight, and Okta would wait for its timeout on each. Every such error is
 * a bug: `okta_hook_unhandled_errors_total` makes it visible, the log line says where.
 */
import type { EventEmitter } from 'node:events';

export type UnhandledKind = 'rejection' | 'exception';

export interface ProcessGuardOptions {
  logger: { error(obj: object, msg: string): void };
  /** Called once per error (wire the counter here). */
  onError?: (kind: UnhandledKind) => void;
}

/** The error's type, message and first stack frames; never the whole object (it may hold request data). */
export function describeUnhandled(reason: unknown): { type: string; message: string; stack?: string } {
  if (reason instanceof Error) {
    const described: { type: string; message: string; stack?: string } = { type: reason.name, message: reason.message.slice(0, 200) };
    const frames = reason.stack?.split('\n').slice(1, 6).map((line) => line.trim());
    if (frames && frames.length > 0) described.stack = frames.join(' | ');
    return described;
  }
  return { type: typeof reason, message: 'a non-Error value was thrown or rejected' };
}

/** Installs the guard on `target` (the process); returns a function that removes it. */
export function installProcessGuard(target: EventEmitter, options: ProcessGuardOptions): () => void {
  const report = (kind: UnhandledKind, reason: unknown): void => {
    try {
      options.onError?.(kind);
      options.logger.error({ kind, err: describeUnhandled(reason) }, `unhandled ${kind === 'rejection' ? 'promise rejection' : 'exception'}; the process keeps serving (this is a bug)`);
    } catch {
      // Reporting must never throw from here: that would stop the process after all.
    }
  };
  const onRejection = (reason: unknown): void => report('rejection', reason);
  const onException = (err: unknown): void => report('exception', err);
  target.on('unhandledRejection', onRejection);
  target.on('uncaughtException', onException);
  return () => {
    target.off('unhandledRejection', onRejection);
    target.off('uncaughtException', onException);
  };
}
