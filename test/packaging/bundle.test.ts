/**
 * scripts/bundle.js's post-pass over esbuild's output: the non-ASCII characters esbuild copies
 * into regular expression literals are escaped so the bundle is ASCII only, without changing
 * what any pattern matches. Each case runs the original and the escaped source and compares.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';

const { escapeNonAscii } = require('../../scripts/bundle.js') as {
  escapeNonAscii(source: string): { code: string; left: number[] };
};

/** Evaluates `const name = <expr>;` declarations and returns them by name. */
function evaluate(source: string): Record<string, unknown> {
  const names = [...source.matchAll(/const (\w+) =/g)].map((m) => m[1]);
  return runInThisContext(`(() => { ${source}; return { ${names.join(', ')} }; })()`) as Record<string, unknown>;
}

describe('escapeNonAscii', () => {
  it('escapes non-ASCII characters of regular expression literals and keeps what they match', () => {
    const source = [
      'const duration = /(\\d+)(ns|us|µs|ms)/;',
      'const range = /^[é-ü]+$/i;',
      'const identity = /\\µ/;',
      'const astral = /^[😀]$/u;',
      'const astralPlain = /^😀$/;',
      'const division = 6 / 3 / 2;',
    ].join('\n');
    const { code, left } = escapeNonAscii(source);
    expect(left).toEqual([]);
    expect(code.search(/[\u0080-\uffff]/)).toBe(-1);
    expect(code).toContain('/(\\d+)(ns|us|\\u00b5s|ms)/');
    const before = evaluate(source);
    const after = evaluate(code);
    expect(after.division).toBe(1);
    const samples = ['12µs', '12us', 'µ', 'éü', 'ÉÜ', 'a', '😀', '\ud83d', ''];
    for (const name of ['duration', 'range', 'identity', 'astral', 'astralPlain']) {
      for (const sample of samples) expect([name, sample, (after[name] as RegExp).test(sample)]).toEqual([name, sample, (before[name] as RegExp).test(sample)]);
      expect((after[name] as RegExp).flags).toBe((before[name] as RegExp).flags);
    }
  });

  it('leaves raw template strings as they are and reports where non-ASCII text is left', () => {
    const source = 'const raw = String.raw`µ`;\nconst text = "plain";';
    const { code, left } = escapeNonAscii(source);
    expect(code).toBe(source);
    expect(left).toEqual([source.indexOf('µ')]);
  });

  it('escapes non-ASCII characters of comments (the licence notices esbuild keeps)', () => {
    const source = '/*! (c) Jimmy Wärting */\nconst a = 1; // Ünïcode\n';
    const { code, left } = escapeNonAscii(source);
    expect(left).toEqual([]);
    expect(code).toBe('/*! (c) Jimmy W\\u00e4rting */\nconst a = 1; // \\u00dcn\\u00efcode\n');
  });

  it('returns ASCII sources unchanged', () => {
    const source = 'const a = /x\\/y/g.test("x/y") ? `t${1}` : 1 / 2;';
    expect(escapeNonAscii(source)).toEqual({ code: source, left: [] });
  });
});

describe('deferRequires', () => {
  const { deferRequires, DEFERRED_REQUIRES } = require('../../scripts/bundle.js') as {
    deferRequires(source: string, filePath: string): string;
    DEFERRED_REQUIRES: { file: RegExp; line: string; lazy: string }[];
  };
  const inflation = DEFERRED_REQUIRES.find((entry) => entry.line.includes("require('zlib')") && entry.file.test('/app/node_modules/inflation/index.js'))!;

  it('defers a listed require in the file it names, and leaves other files alone', () => {
    const source = `'use strict'\n${inflation.line}\nmodule.exports = function inflate (stream) { return stream.pipe(zlib.createUnzip()) }\n`;
    const deferred = deferRequires(source, '/app/node_modules/inflation/index.js');
    expect(deferred).not.toContain(inflation.line);
    expect(deferred).toContain(inflation.lazy);
    expect(deferRequires(source, '/app/node_modules/other/index.js')).toBe(source);
  });

  it('fails the build when a listed line is gone or found twice (a dependency update moved it)', () => {
    expect(() => deferRequires("'use strict'\nvar zlib = require('node:zlib')\n", '/app/node_modules/inflation/index.js')).toThrow(/expected the line `var zlib = require\('zlib'\)` once in \/app\/node_modules\/inflation\/index\.js/);
    expect(() => deferRequires(`${inflation.line}\n${inflation.line}\n`, '/app/node_modules/inflation/index.js')).toThrow(/once in/);
  });

  it('finds every listed line once in the installed dependencies', () => {
    const files: Record<string, string> = {
      client: 'node_modules/undici/lib/dispatcher/client.js',
      promClient: 'node_modules/prom-client/index.js',
      inflation: 'node_modules/inflation/index.js',
      destroy: 'node_modules/destroy/index.js',
      mimeTypes: 'node_modules/mime-types/index.js',
      otlp: 'node_modules/@opentelemetry/otlp-exporter-base/build/esm/transport/http-transport-utils.js',
    };
    for (const entry of DEFERRED_REQUIRES) {
      const file = Object.values(files).find((candidate) => entry.file.test(`/app/${candidate}`));
      expect([entry.line, file]).toEqual([entry.line, expect.any(String)]);
      const source = readFileSync(join(__dirname, '..', '..', file!), 'utf8');
      expect([entry.line, source.split(entry.line).length - 1]).toEqual([entry.line, 1]);
    }
  });
});

describe('mime-types with its maps built on first use (DEFERRED_REQUIRES)', () => {
  const { deferRequires } = require('../../scripts/bundle.js') as { deferRequires(source: string, filePath: string): string };
  const dir = join(__dirname, '..', '..', 'node_modules', 'mime-types');

  it('answers lookup, extension, contentType, types and extensions as the original does, and builds the maps only when one is used', () => {
    const temp = mkdtempSync(join(tmpdir(), 'mime-types-'));
    try {
      const deferred = deferRequires(readFileSync(join(dir, 'index.js'), 'utf8'), join(dir, 'index.js'))
        .replace("require('mime-db')", `require(${JSON.stringify(require.resolve('mime-db', { paths: [dir] }))})`)
        .replace("require('./mimeScore')", `require(${JSON.stringify(join(dir, 'mimeScore.js'))})`);
      writeFileSync(join(temp, 'index.js'), deferred);
      const dbPath = require.resolve('mime-db', { paths: [dir] });
      const script = `
        // Building the maps lists the whole database (Object.keys(db)): counted through a proxy.
        const db = require(${JSON.stringify(dbPath)});
        let listed = 0;
        require.cache[${JSON.stringify(dbPath)}].exports = new Proxy(db, { ownKeys: (target) => (listed++, Reflect.ownKeys(target)) });
        const lazy = require(${JSON.stringify(join(temp, 'index.js'))});
        const full = lazy.contentType('application/json');
        const listedByFullType = listed;
        lazy.lookup('json');
        const listedByShorthand = listed;
        const original = require(${JSON.stringify(join(dir, 'index.js'))});
        const answers = (m) => [m.lookup('json'), m.lookup('x.html'), m.lookup('nope'), m.extension('text/html'), m.contentType('text'), m.charset('text/plain'), Object.keys(m.types).length, Object.keys(m.extensions).length, m._extensionConflicts.length, m.types.mp4, m.extensions['application/json']];
        console.log(JSON.stringify({ full, listedByFullType, listedByShorthand, same: JSON.stringify(answers(lazy)) === JSON.stringify(answers(original)), answers: answers(lazy) }));
      `;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      const result = JSON.parse(run.stdout) as { full: string; listedByFullType: number; listedByShorthand: number; same: boolean; answers: unknown[] };
      expect(result).toMatchObject({ full: 'application/json; charset=utf-8', listedByFullType: 0, listedByShorthand: 1, same: true });
      expect(result.answers.slice(0, 6)).toEqual(['application/json', 'text/html', false, 'html', 'text/plain; charset=utf-8', 'UTF-8']);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
});

describe('lazyReexports', () => {
  const { lazyReexports } = require('../../scripts/bundle.js') as { lazyReexports(source: string, filePath: string): string };
  const dist = join(__dirname, '..', '..', 'node_modules', '@opentelemetry', 'semantic-conventions', 'dist');
  const index = join(dist, 'index.cjs');

  it('exports the same names and values as semantic-conventions\' index, and loads a deprecated module only when one of its names is read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazy-reexports-'));
    try {
      const lazy = join(dir, 'index.cjs');
      writeFileSync(lazy, lazyReexports(readFileSync(index, 'utf8'), index).replaceAll('require("./', `require(${JSON.stringify(`${dist}/`).slice(0, -1)}`));
      const script = `
        const lazy = require(${JSON.stringify(lazy)});
        const loaded = () => Object.keys(require.cache).filter((file) => /SemanticAttributes|SemanticResourceAttributes/.test(file)).map((file) => file.split('/').pop());
        const before = loaded();
        const stable = lazy.ATTR_SERVICE_NAME;
        const afterStable = loaded();
        const deprecated = lazy.SEMATTRS_HTTP_METHOD;
        const afterDeprecated = loaded();
        const original = require(${JSON.stringify(index)});
        const keys = (o) => Object.keys(o).sort();
        const sameKeys = JSON.stringify(keys(lazy)) === JSON.stringify(keys(original));
        const differing = keys(original).filter((key) => lazy[key] !== original[key]);
        console.log(JSON.stringify({ before, stable, afterStable, deprecated, afterDeprecated, sameKeys, differing, count: keys(lazy).length, descriptor: Object.getOwnPropertyDescriptor(lazy, 'SEMATTRS_HTTP_METHOD') }));
      `;
      const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({
        before: [],
        stable: 'service.name',
        afterStable: [],
        deprecated: 'http.method',
        afterDeprecated: ['SemanticAttributes.cjs'],
        sameKeys: true,
        differing: [],
        count: expect.any(Number),
        descriptor: { value: 'http.method', writable: true, enumerable: true, configurable: true },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the build when the index no longer re-exports the deprecated modules as expected', () => {
    expect(() => lazyReexports('Object.defineProperty(exports, Symbol.toStringTag, { value: "Module" });\n', index)).toThrow(/no longer has the expected re-exports/);
    const reshaped = 'const require_SemanticAttributes = require("./trace/SemanticAttributes.cjs");\nconst require_SemanticResourceAttributes = require("./resource/SemanticResourceAttributes.cjs");\nexports.SEMATTRS_X = require_SemanticAttributes.SEMATTRS_X;\nexports.SEMRESATTRS_Y = require_SemanticResourceAttributes.SEMRESATTRS_Y;\nconst copy = require_SemanticAttributes;\n';
    expect(() => lazyReexports(reshaped, index)).toThrow(/no longer has the expected re-exports/);
  });
});
