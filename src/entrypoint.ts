/**
 * Container entry point (the image's ENTRYPOINT): one image serves both the service and the CLI.
 *
 *   docker run IMAGE                                   -> the service (tracing bootstrap, then main)
 *   docker run -v "$PWD:/rules" IMAGE check /rules/rules.yaml -> `okta-token-hook check ...`
 *
 * With no arguments the tracing bootstrap is required before the application, exactly like
 * `node --require ./dist/instrumentation.js dist/main.js`, so auto-instrumentation patches modules as
 * they are first required. With arguments nothing of the service is loaded: the CLI never starts a
 * server. Node stays PID 1 either way and receives SIGTERM directly.
 */
import type { CliIO } from './cli';

const args = process.argv.slice(2);

if (args.length === 0) {
  require('./instrumentation');
  require('./main');
} else {
  const { runCli } = require('./cli') as typeof import('./cli');
  const io: CliIO = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };
  runCli(args, io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`okta-token-hook: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
