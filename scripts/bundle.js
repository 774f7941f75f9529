#!/usr/bin/env node
/**
 * `npm run build:bundle` (tsc, then this; what the image ships): replaces the two files the
 * service starts from with esbuild bundles, so start-up reads two files instead of about a
 * thousand (module resolution, `package.json` lookups and the OpenTelemetry require hook on every
 * one of them were most of the start-up time; docs/performance.md "Start-up"):
 *
 * - dist/instrumentation.js: the tracing bootstrap and the OpenTelemetry SDK it loads. Still a
 *   file of its own, loaded before the application, and it still requires the SDK only when
 *   tracing is on (esbuild keeps `require()` lazy: a module's body runs when first required).
 * - dist/main.js: the service and its dependencies. pino stays external so that its OpenTelemetry
 *   instrumentation can still patch it when logs are exported; undici's is fed by
 *   diagnostics_channel, which works from a bundle.
 *
 * dist/entrypoint.js, dist/cli.js and the other files stay as tsc built them (the CLI is not on the
 * start-up path); node_modules ships as before (pino, and whatever a bundle cannot hold).
 */
'use strict';
const { readFileSync } = require('node:fs');
const path = require('node:path');
const acorn = require('acorn');
const esbuild = require('esbuild');

const dist = path.join(__dirname, '..', 'dist');

/** The bundled entry files, relative to dist/. */
const ENTRIES = ['instrumentation.js', 'main.js'];

/**
 * Left out of a bundle, required from node_modules if ever needed. pino, in the tracing bootstrap:
 * its OpenTelemetry instrumentation patches the copy Node loads from node_modules when logs are
 * exported (the service bundle has its own copy, used otherwise: src/observability/logger.ts).
 * In the tracing bootstrap, also the packages only
 * the exporters and loaders the service does not use by default need (gRPC and its protobuf
 * loader, the declarative-configuration file loader and its YAML parser): about half of that
 * bundle's bytes, which every start would otherwise read, hash and keep in memory as source.
 */
const EXTERNAL = {
  'instrumentation.js': ['pino', 'pino/*', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'protobufjs/*', '@opentelemetry/configuration', 'yaml'],
  // pino is in the service bundle; src/observability/logger.ts loads it from node_modules instead when its instrumentation is on.
  'main.js': [],
};

async function bundle(distDir = dist) {
  for (const entry of ENTRIES) {
    await esbuild.build({
      entryPoints: [path.join(distDir, entry)],
      outfile: path.join(distDir, entry),
      allowOverwrite: true,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: EXTERNAL[entry],
      // Whitespace and comments out, identifiers kept: a third less to read, hash and parse at
      // start (about 60 ms of CPU), and stack frames still name their functions (dist/*.map maps
      // the columns back to the sources). License comments stay, at the end of each file.
      minifyWhitespace: true,
      minifySyntax: true,
      sourcemap: true,
      // `import("http")` (the OTLP exporter's transport) as `require`: dist/entrypoint.js runs the
      // bundles through vm.Script (src/code-cache.ts), where a dynamic import needs Node's
      // experimental main-context loader and prints an ExperimentalWarning at the first export.
      supported: { 'dynamic-import': false },
      plugins: [asciiSources, lazySdkNodeRequires],
      logLevel: 'warning',
    });
    const left = readFileSync(path.join(distDir, entry), 'utf8').search(/[\u0080-\uffff]/);
    if (left !== -1) console.warn(`bundle: ${entry} has a non-ASCII character at offset ${left}: Node will hold its whole source as a two-byte string`);
  }
}

/**
 * Feeds esbuild each JavaScript input with its deferred requires (below) in place and non-ASCII
 * regular expressions and comments escaped (below), so the source map stays exact.
 */
const asciiSources = {
  name: 'ascii-sources',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?js$/ }, (args) => {
      const read = readFileSync(args.path, 'utf8');
      const deferred = DEFERRED_FILES.test(args.path) ? deferRequires(read, args.path) : read;
      const source = LAZY_REEXPORTS.file.test(args.path) ? lazyReexports(deferred, args.path) : deferred;
      const changed = source === read ? undefined : { contents: source, loader: 'js' };
      if (!/[\u0080-\uffff]/.test(source)) return changed;
      try {
        return { contents: escapeNonAscii(source, args.path.endsWith('.mjs') ? 'module' : 'script').code, loader: 'js' };
      } catch {
        // Not tokenizable as a script (e.g. an ES module named .js): esbuild reads it as it is.
        return changed;
      }
    });
  },
};

/**
 * @opentelemetry/sdk-node's modules require, at their top, every exporter (OTLP over HTTP, proto
 * and gRPC for traces, metrics and logs; Zipkin, Prometheus), sdk-metrics, sdk-logs, the
 * propagators and the declarative-configuration loader, whichever the environment selects; the
 * service uses one trace exporter and none of the rest; likewise the OTLP transformer's index loads
 * the metrics and logs serializers (and sdk-metrics, sdk-logs with them) for a trace exporter.
 * Running those module bodies was about a tenth of start-up (docs/performance.md "Start-up"). In
 * the bundle, sdk-node's own files and the transformer's index get
 * each of those requires deferred to the first use of what it exports: a namespace
 * (`const x_1 = require("pkg")`, used as `x_1.Name`) becomes a proxy that requires the package on
 * its first property access, and a re-exported namespace (`exports.logs = require(...)`) a getter.
 * The SDK runs the same code, in the same order of use; only modules it never uses are never run.
 */
const LAZY_REQUIRE_FILES = /[\\/]node_modules[\\/]@opentelemetry[\\/](sdk-node[\\/]build[\\/]src[\\/][\w-]+|otlp-transformer[\\/]build[\\/]src[\\/]index)\.js$/;
/** Required eagerly: the API is already loaded by the time the SDK is, and its globals must be registered in order. */
const EAGER_REQUIRES = new Set(['@opentelemetry/api']);
const LAZY_HELPER =
  'function __lazyRequire(load) { let loaded; const target = () => (loaded ??= load()); return new Proxy({}, { ' +
  'get: (_, key) => target()[key], has: (_, key) => key in target(), ownKeys: () => Reflect.ownKeys(target()), ' +
  'getOwnPropertyDescriptor: (_, key) => { const d = Object.getOwnPropertyDescriptor(target(), key); if (d) d.configurable = true; return d; } }); }\n';

function lazyRequires(source) {
  let changed = false;
  const code = source
    .replace(/^(const|var|let) (\w+) = require\(("[^"]+")\);$/gm, (line, kind, name, spec) => {
      if (EAGER_REQUIRES.has(JSON.parse(spec))) return line;
      changed = true;
      return `${kind} ${name} = __lazyRequire(() => require(${spec}));`;
    })
    .replace(/^exports\.(\w+) = require\(("[^"]+")\);$/gm, (line, name, spec) => {
      if (EAGER_REQUIRES.has(JSON.parse(spec))) return line;
      changed = true;
      return `Object.defineProperty(exports, "${name}", { enumerable: true, configurable: true, get: () => require(${spec}) });`;
    });
  return changed ? LAZY_HELPER + code : source;
}

const lazySdkNodeRequires = {
  name: 'lazy-sdk-node-requires',
  setup(build) {
    build.onLoad({ filter: LAZY_REQUIRE_FILES }, (args) => ({ contents: lazyRequires(readFileSync(args.path, 'utf8')), loader: 'js' }));
  },
};

/**
 * Requires at the top of a module for something the service only uses on a path it does not take
 * to start (or at all): each built-in costs its module bodies at start-up, before ready (measured
 * pinned on Node 24.21.0; docs/performance.md "Start-up"). In the bundle, each of these is deferred
 * to its first use; the module's code is otherwise unchanged.
 * - undici's HTTP/2 client (`node:http2`, and `node:tls` with it): the lookups' Agent never
 *   negotiates HTTP/2 (no `allowH2`), so `connectH2` is never called.
 * - prom-client's Pushgateway (`node:https`, `node:zlib`): not used.
 * - `zlib` in the body parser's inflation (a compressed request body), in Koa's `destroy` (a
 *   replaced stream body) and in the OTLP HTTP transport (OTEL_EXPORTER_OTLP_COMPRESSION=gzip):
 *   loaded by the first such body or export.
 * - Not a require, the same idea: mime-types' extension maps, built from the whole MIME database
 *   when it loads, for shorthands the hook's path never uses.
 * A line that is no longer found fails the build, so a dependency update that moves one is seen.
 */
const DEFERRED_REQUIRES = [
  {
    file: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/,
    line: "const connectH2 = require('./client-h2.js')",
    lazy: "const connectH2 = (...args) => require('./client-h2.js')(...args)",
  },
  {
    file: /[\\/]prom-client[\\/]index\.js$/,
    line: "exports.Pushgateway = require('./lib/pushgateway');",
    lazy: "Object.defineProperty(exports, 'Pushgateway', { enumerable: true, configurable: true, get: () => require('./lib/pushgateway') });",
  },
  {
    file: /[\\/]inflation[\\/]index\.js$/,
    line: "var zlib = require('zlib')",
    lazy: "var zlib = { get createUnzip() { return require('zlib').createUnzip }, get createBrotliDecompress() { return require('zlib').createBrotliDecompress } }",
  },
  {
    // mime-types builds its extension maps from the whole MIME database (about 2,500 types, each
    // scored) when loaded; they serve shorthands (`ctx.type = 'text'`, `lookup('json')`) and
    // `extension()`, which the hook's path never uses (full media types only). Built on first use.
    file: /[\\/]mime-types[\\/]index\.js$/,
    line: 'populateMaps(exports.extensions, exports.types)',
    lazy:
      'var extensionsMap = exports.extensions, typesMap = exports.types, conflicts = exports._extensionConflicts, mapsBuilt = false; ' +
      'function builtMaps () { if (!mapsBuilt) { mapsBuilt = true; populateMaps(extensionsMap, typesMap) } } ' +
      "Object.defineProperty(exports, 'extensions', { enumerable: true, configurable: true, get: function () { builtMaps(); return extensionsMap } }); " +
      "Object.defineProperty(exports, 'types', { enumerable: true, configurable: true, get: function () { builtMaps(); return typesMap } }); " +
      "Object.defineProperty(exports, '_extensionConflicts', { enumerable: true, configurable: true, get: function () { builtMaps(); return conflicts } })",
  },
  {
    // Koa's `destroy` asks whether a replaced stream body is a zlib stream; the service's bodies are strings.
    file: /[\\/]destroy[\\/]index\.js$/,
    line: "var Zlib = require('zlib')",
    lazy: "var Zlib = new Proxy({}, { get: function (_, key) { return require('zlib')[key] } })",
  },
  {
    // The bundle takes the exporter's ES module build.
    file: /[\\/]@opentelemetry[\\/]otlp-exporter-base[\\/]build[\\/]esm[\\/]transport[\\/]http-transport-utils\.js$/,
    line: "import * as zlib from 'zlib';",
    lazy: "const zlib = { createGzip: (...args) => require('zlib').createGzip(...args) };",
  },
];

function deferRequires(source, filePath) {
  let code = source;
  for (const { file, line, lazy } of DEFERRED_REQUIRES) {
    if (!file.test(filePath)) continue;
    const at = code.indexOf(line);
    if (at === -1 || code.indexOf(line, at + 1) !== -1) throw new Error(`bundle: expected the line \`${line}\` once in ${filePath}; update DEFERRED_REQUIRES in scripts/bundle.js`);
    code = code.slice(0, at) + lazy + code.slice(at + line.length);
  }
  return code;
}

/**
 * @opentelemetry/semantic-conventions' index re-exports, one by one, every constant of its
 * modules, the deprecated ones (`SEMATTRS_*`, `SEMRESATTRS_*`: about 400 names, built with
 * `createConstMap`) included; the SDK reads only stable ones. Running the index and the two
 * deprecated modules took about 14 ms at start (Node 24.21.0, pinned, with Node's compile cache;
 * the stable modules 5 ms). In the bundle, the deprecated modules' names become getters that load
 * their module on first read and then replace themselves with the value; the stable ones are
 * re-exported as before.
 */
const LAZY_REEXPORTS = {
  file: /[\\/]@opentelemetry[\\/]semantic-conventions[\\/]dist[\\/]index\.cjs$/,
  modules: ['./trace/SemanticAttributes.cjs', './resource/SemanticResourceAttributes.cjs'],
};

function lazyReexports(source, filePath) {
  const lazy = new Map();
  const lines = source.split('\n').filter((line) => {
    const required = /^const (\w+) = require\(("[^"]+")\);$/.exec(line);
    if (required && LAZY_REEXPORTS.modules.includes(JSON.parse(required[2]))) {
      lazy.set(required[1], { spec: required[2], names: [] });
      return false;
    }
    const reexport = /^exports\.(\w+) = (\w+)\.(\w+);$/.exec(line);
    if (reexport && lazy.has(reexport[2]) && reexport[1] === reexport[3]) {
      lazy.get(reexport[2]).names.push(reexport[1]);
      return false;
    }
    return true;
  });
  const missing = [...lazy.values()].filter(({ names }) => names.length === 0).length + LAZY_REEXPORTS.modules.length - lazy.size;
  if (missing > 0 || lines.some((line) => [...lazy.keys()].some((name) => line.includes(name)))) {
    throw new Error(`bundle: ${filePath} no longer has the expected re-exports of ${LAZY_REEXPORTS.modules.join(', ')}; update LAZY_REEXPORTS in scripts/bundle.js`);
  }
  const groups = [...lazy.values()].map(({ spec, names }) => `[() => require(${spec}), ${JSON.stringify(names)}]`);
  lines.push(
    `for (const [load, names] of [${groups.join(', ')}]) for (const name of names) Object.defineProperty(exports, name, { enumerable: true, configurable: true, ` +
      'get() { const value = load()[name]; Object.defineProperty(exports, name, { enumerable: true, configurable: true, writable: true, value }); return value; } });',
  );
  return lines.join('\n');
}

const DEFERRED_FILES = new RegExp(DEFERRED_REQUIRES.map(({ file }) => file.source).join('|'));

const escapeUnit = (unit) => `\\u${unit.toString(16).padStart(4, '0')}`;

/**
 * esbuild writes ASCII-only code (`charset: 'ascii'`, its default) except inside regular
 * expression literals, raw template strings and the licence comments, which it copies as they are. One such character
 * (cel-js's duration pattern has `µs`) is enough for Node to decode the whole 3 MB bundle into a
 * two-byte string: twice the memory for a source V8 keeps for the life of the process, and a
 * slower read and compile-cache check at start (docs/performance.md "Start-up"). The bundle step
 * runs this on each input file that has non-ASCII text, before esbuild reads it. It escapes
 * the non-ASCII characters of regular expression literals as `\uXXXX`, which a pattern reads as
 * the same character with or without the `u` flag (an astral character becomes its surrogate
 * pair, one code point under `u`; `\µ`, an identity escape, becomes `\u00b5`), and those of
 * comments (the licence notices kept at the end). Anything else non-ASCII (a raw template string,
 * whose value an escape would change) is left and reported.
 */
function escapeNonAscii(source, sourceType = 'script') {
  const ranges = [];
  const onComment = (_block, text, start, end) => {
    if (/[\u0080-\uffff]/.test(text)) ranges.push({ start, end });
  };
  for (const token of acorn.tokenizer(source, { ecmaVersion: 'latest', sourceType, allowHashBang: true, allowReturnOutsideFunction: true, onComment })) {
    if (token.type === acorn.tokTypes.regexp && /[\u0080-\uffff]/.test(source.slice(token.start, token.end))) ranges.push({ start: token.start, end: token.end });
  }
  ranges.sort((a, b) => a.start - b.start);
  let code = '';
  let from = 0;
  for (const { start, end } of ranges) {
    const text = source.slice(start, end);
    let escaped = '';
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit === 0x5c && i + 1 < text.length && text.charCodeAt(i + 1) > 0x7f) {
        escaped += escapeUnit(text.charCodeAt(++i));
      } else if (unit === 0x5c) {
        escaped += text.slice(i, i + 2);
        i++;
      } else escaped += unit > 0x7f ? escapeUnit(unit) : text[i];
    }
    code += source.slice(from, start) + escaped;
    from = end;
  }
  code += source.slice(from);
  const left = [...code.matchAll(/[\u0080-\uffff]/g)].map((match) => match.index);
  return { code, left };
}

if (require.main === module) {
  bundle().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

module.exports = { bundle, escapeNonAscii, lazyRequires, deferRequires, DEFERRED_REQUIRES, lazyReexports, ENTRIES };
