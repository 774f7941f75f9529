/**
 * The Dockerfile: linted with dockerfile-utils, then its essentials asserted from the parsed
 * instructions (multi-stage, digest-pinned Node.js 24 bases, production dependencies only, non-root, exec form with the
 * tracing bootstrap loaded first) and its build context checked against .dockerignore and the repo.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { repoRoot } from './support/paths';

const source = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(source);
const instructions = dockerfile.getInstructions();

/** Default values of the ARGs declared before the first FROM (what `docker build` uses). */
const globalArgs = new Map(
  dockerfile
    .getInitialARGs()
    .map((arg) => arg.getProperty())
    .filter((p) => p !== null)
    .map((p) => [p.getName(), p.getValue() ?? '']),
);
const expand = (text: string): string => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => globalArgs.get((a ?? b)!) ?? '');

interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}
const stages: Stage[] = [];
for (const instruction of instructions) {
  if (instruction.getKeyword() === 'FROM') {
    const [image, , name] = (instruction.getArgumentsContent() ?? '').split(/\s+/);
    stages.push({ name: name ?? String(stages.length), image: expand(image!), instructions: [] });
  } else if (stages.length > 0) {
    stages.at(-1)!.instructions.push(instruction);
  }
}
const finalStage = stages.at(-1)!;
const stageNamed = (name: string): Stage => stages.find((s) => s.name === name)!;
const run = (stage: Stage): string => stage.instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent()).join('\n');
const inFinal = (keyword: string): Instruction[] => finalStage.instructions.filter((i) => i.getKeyword() === keyword);
const execForm = (instruction: Instruction): string[] => JSON.parse(instruction.getArgumentsContent() ?? 'null') as string[];
const flagsOf = (instruction: Instruction): Map<string, string> =>
  new Map(
    (instruction as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] })
      .getFlags()
      .map((f) => [f.getName(), f.getValue() ?? '']),
  );

/** .dockerignore patterns (Go filepath.Match plus `**`), enough for the patterns we use. */
function dockerIgnored(file: string): boolean {
  const patterns = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+/, '');
    let body = '';
    for (let i = 0; i < pattern.length; i++) {
      if (pattern.startsWith('**/', i)) {
        body += '(.*/)?';
        i += 2;
      } else if (pattern.startsWith('**', i)) {
        body += '.*';
        i += 1;
      } else if (pattern[i] === '*') body += '[^/]*';
      else if (pattern[i] === '?') body += '[^/]';
      else body += pattern[i]!.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    const regex = new RegExp(`^${body}(/.*)?$`);
    if (regex.test(file)) ignored = !negate;
  }
  return ignored;
}

describe('Dockerfile', () => {
  it('passes the dockerfile-utils linter with no problem at all', () => {
    expect(validate(source).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('is multi-stage: compile with dev dependencies, install production dependencies apart, run on a minimal image', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime-node', 'compile-cache', 'dev', 'runtime']);
    expect(run(stages[0]!)).toMatch(/npm ci\b/);
    expect(run(stages[0]!)).toContain('npm run build');
    expect(run(stages[1]!)).toMatch(/npm ci .*--omit=dev/);
    expect(inFinal('RUN')).toEqual([]);
    const copies = inFinal('COPY').map((c) => ({ from: flagsOf(c).get('from'), args: c.getArgumentsContent() }));
    expect(copies).toContainEqual({ from: 'deps', args: '/app/node_modules ./node_modules' });
    expect(copies).toContainEqual({ from: 'build', args: '/app/dist ./dist' });
    expect(copies.some((c) => c.from === 'build' && c.args?.includes('node_modules'))).toBe(false);
  });

  it('pins every base image by digest: FROM ${IMAGE}@${DIGEST}, each digest a sha256 (scripts/base-images.sh pin)', () => {
    const froms = instructions.filter((i) => i.getKeyword() === 'FROM').map((i) => (i.getArgumentsContent() ?? '').split(/\s+/)[0]!);
    expect(froms).toEqual([
      '${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST}',
      '${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST}',
      '${RUNTIME_IMAGE}@${RUNTIME_IMAGE_DIGEST}',
      '${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST}',
      '${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST}',
      '${RUNTIME_IMAGE}@${RUNTIME_IMAGE_DIGEST}',
    ]);
    for (const stage of stages) {
      expect(stage.image).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[a-f0-9]{64}$/);
      expect(stage.image).not.toMatch(/:latest\b/);
    }
  });

  it('builds on the Node.js version of .node-version and runs on distroless Node.js 24 (Debian 13, nonroot)', () => {
    const nodeVersion = readFileSync(path.join(repoRoot, '.node-version'), 'utf8').trim();
    expect(nodeVersion).toMatch(/^24\.\d+\.\d+$/);
    expect(globalArgs.get('NODE_VERSION')).toBe(nodeVersion);
    expect(stages[0]!.image).toMatch(new RegExp(`^node:${nodeVersion.replace(/\./g, '\\.')}-trixie-slim@`));
    expect(finalStage.image).toMatch(/^gcr\.io\/distroless\/nodejs24-debian13:nonroot@sha256:/);
  });

  it('the image, CI and the docs name the same Node.js version (and the same engines floor)', () => {
    const nodeVersion = readFileSync(path.join(repoRoot, '.node-version'), 'utf8').trim();
    const major = nodeVersion.split('.')[0]!;
    const ci = readFileSync(path.join(repoRoot, '.ci/run'), 'utf8');
    expect(ci).toContain('node_version="$(cat .node-version)"');
    expect(ci).toMatch(/scripts\/node-from-npm\.sh "\$node_version"/);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };
    const floor = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)![1]!;
    expect(pkg.scripts['test:floor']).toBeDefined();
    const deployment = readFileSync(path.join(repoRoot, 'docs/deployment.md'), 'utf8');
    expect(deployment).toContain(`\`.node-version\` (${nodeVersion})`);
    expect(deployment).toContain(`nodejs${major}-debian13`);
    expect(deployment).toContain(`Node.js ${floor.split('.').slice(0, 2).join('.')} or later`);
    expect(readFileSync(path.join(repoRoot, 'charts/okta-token-hook/README.md'), 'utf8')).toContain(`Node.js ${major} LTS (distroless \`nodejs${major}-debian13\``);
    expect(readFileSync(path.join(repoRoot, 'docs/getting-started.md'), 'utf8')).toContain(`Node.js ${floor.split('.').slice(0, 2).join('.')}+`);
  });

  it('scripts/base-images.sh check accepts the pins, and rejects a digest-less base image', () => {
    const run = (dir: string): number => spawnSync('bash', [path.join(dir, 'scripts/base-images.sh'), 'check'], { encoding: 'utf8' }).status ?? -1;
    expect(run(repoRoot)).toBe(0);
    const copy = mkdtempSync(path.join(tmpdir(), 'base-images-'));
    try {
      mkdirSync(path.join(copy, 'scripts'));
      copyFileSync(path.join(repoRoot, 'scripts/base-images.sh'), path.join(copy, 'scripts/base-images.sh'));
      copyFileSync(path.join(repoRoot, '.node-version'), path.join(copy, '.node-version'));
      writeFileSync(path.join(copy, 'Dockerfile'), source.replace(/^ARG RUNTIME_IMAGE_DIGEST=.*$/m, 'ARG RUNTIME_IMAGE_DIGEST='));
      expect(run(copy)).toBe(1);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('ships the esbuild bundles: the build stage runs `npm run build:bundle` (tsc, then scripts/bundle.js) with the script copied in', () => {
    const build = stageNamed('build');
    expect(run(build)).toContain('npm run build:bundle');
    const copied = build.instructions.filter((i) => i.getKeyword() === 'COPY' && !flagsOf(i).has('from')).flatMap((i) => i.getArgumentsContent()!.split(/\s+/).slice(0, -1));
    expect(copied).toContain('scripts/bundle.js');
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['build:bundle']).toBe('npm run build --silent && node scripts/bundle.js');
    // The bundled files are the ones the runtime stage copies (dist/) and the entry point loads.
    expect(readFileSync(path.join(repoRoot, 'scripts/bundle.js'), 'utf8')).toMatch(/ENTRIES = \['instrumentation\.js', 'main\.js'\]/);
  });

  it('ships a compile cache made by the runtime image\'s own Node.js, as the runtime user, in the runtime layout, read-only', () => {
    const cache = stageNamed('compile-cache');
    const nodeStage = stageNamed('runtime-node');
    expect(nodeStage.image).toBe(finalStage.image);
    const copies = cache.instructions.filter((i) => i.getKeyword() === 'COPY').map((c) => ({ from: flagsOf(c).get('from'), args: c.getArgumentsContent() }));
    expect(copies).toContainEqual({ from: 'runtime-node', args: '/nodejs /nodejs' });
    // The runtime's files at the runtime's paths: cache entries are keyed by path and contents.
    expect(copies).toContainEqual({ from: 'deps', args: '/app/node_modules ./node_modules' });
    expect(copies).toContainEqual({ from: 'build', args: '/app/dist ./dist' });
    expect(cache.instructions.find((i) => i.getKeyword() === 'WORKDIR')!.getArgumentsContent()).toBe(finalStage.instructions.find((i) => i.getKeyword() === 'WORKDIR')!.getArgumentsContent());
    // Node files the cache under the user id that wrote it: the runtime's.
    const users = cache.instructions.filter((i) => i.getKeyword() === 'USER').map((u) => u.getArgumentsContent());
    expect(users).toEqual(inFinal('USER').map((u) => u.getArgumentsContent()));
    const generate = cache.instructions.filter((i) => i.getKeyword() === 'RUN').at(-1)!;
    // Made with the ENTRYPOINT's Node flags, which are part of the cache's key (scripts/compile-cache.js passes them on).
    const entrypointFlags = execForm(inFinal('ENTRYPOINT')[0]!).slice(1, -1);
    expect(execForm(generate)).toEqual(['/nodejs/bin/node', ...entrypointFlags, 'scripts/compile-cache.js', '/app/.compile-cache']);
    expect(readFileSync(path.join(repoRoot, 'scripts/compile-cache.js'), 'utf8')).toContain('[...process.execArgv, ');
    expect(cache.instructions.indexOf(generate)).toBeGreaterThan(cache.instructions.findIndex((i) => i.getKeyword() === 'USER'));
    const finalCopies = inFinal('COPY').map((c) => ({ from: flagsOf(c).get('from'), args: c.getArgumentsContent() }));
    expect(finalCopies).toContainEqual({ from: 'compile-cache', args: '/app/.compile-cache ./.compile-cache' });
    // Where dist/entrypoint.js looks for it: beside dist/.
    expect(readFileSync(path.join(repoRoot, 'src/entrypoint.ts'), 'utf8')).toContain("join(__dirname, '..', '.compile-cache')");
  });

  it('has a dev stage for skaffold\'s sync loop (tsc --watch + node --watch, non-root) that is never the default target', () => {
    const dev = stages.find((s) => s.name === 'dev')!;
    expect(finalStage.name).toBe('runtime');
    const cmd = execForm(dev.instructions.find((i) => i.getKeyword() === 'CMD')!).join(' ');
    expect(cmd).toContain('tsc -p tsconfig.build.json --watch');
    expect(cmd).toContain('exec node --watch --require ./dist/instrumentation.js dist/main.js');
    expect(dev.instructions.filter((i) => i.getKeyword() === 'USER').map((u) => u.getArgumentsContent())).toEqual(['65532:65532']);
  });

  it('runs as a non-root user with the app files owned by root (read-only to the process)', () => {
    const users = inFinal('USER').map((u) => u.getArgumentsContent()!);
    expect(users).toEqual(['65532:65532']);
    expect(inFinal('COPY').every((c) => !flagsOf(c).has('chown'))).toBe(true);
  });

  it('starts Node directly as PID 1 in exec form through the dispatching entry point, with no default arguments', () => {
    const [entrypoint] = inFinal('ENTRYPOINT');
    const [cmd] = inFinal('CMD');
    expect(inFinal('ENTRYPOINT')).toHaveLength(1);
    expect(inFinal('CMD')).toHaveLength(1);
    // `docker run IMAGE` -> the service; `docker run IMAGE check /rules/rules.yaml` -> the CLI
    // (test/packaging/entrypoint.test.ts runs dist/entrypoint.js with both argument lists).
    const argv = execForm(entrypoint!);
    expect(argv[0]).toBe('/nodejs/bin/node');
    expect(argv.at(-1)).toBe('/app/dist/entrypoint.js');
    // Between them only Node/V8 flags (npm run bench reads them from here to run the service as the image does).
    expect(argv.slice(1, -1).every((arg) => /^--[a-z-]+(=\S+)?$/.test(arg))).toBe(true);
    expect(execForm(cmd!)).toEqual([]);
    expect(existsSync(path.join(repoRoot, 'src/entrypoint.ts'))).toBe(true);
    expect(execForm(entrypoint!).join(' ')).not.toMatch(/\b(npm|sh|bash)\b/);
  });

  it('sizes V8\'s young generation for short-lived per-call garbage (docs/performance.md, "Young generation")', () => {
    const argv = execForm(inFinal('ENTRYPOINT')[0]!);
    const semiSpace = argv.find((arg) => arg.startsWith('--max-semi-space-size='));
    expect(semiSpace).toBeDefined();
    const megabytes = Number(semiSpace!.split('=')[1]);
    // Node 24's default is up to 32 MB per semi-space; 0 would mean "V8 decides" again.
    expect(megabytes).toBeGreaterThanOrEqual(1);
    expect(megabytes).toBeLessThan(32);
  });

  it('carries OCI labels and exposes the hook and metrics ports', () => {
    const labels = inFinal('LABEL').flatMap((l) => (l as unknown as { getProperties(): { getName(): string }[] }).getProperties().map((p) => p.getName()));
    for (const label of ['title', 'description', 'version', 'revision', 'created', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${label}`);
    expect(inFinal('EXPOSE').map((e) => e.getArgumentsContent())).toEqual(['8080 9464']);
    expect(inFinal('ENV').map((e) => e.getArgumentsContent())).toContain('NODE_ENV=production');
  });

  it('copies only files that exist in the build context and are not excluded by .dockerignore', () => {
    const sources = stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.getKeyword() === 'COPY' && !flagsOf(i).has('from'))
      .flatMap((i) => i.getArgumentsContent()!.split(/\s+/).slice(0, -1));
    expect([...new Set(sources)].sort()).toEqual(['package-lock.json', 'package.json', 'scripts/bundle.js', 'scripts/compile-cache.js', 'src', 'tsconfig.build.json', 'tsconfig.json']);
    for (const file of sources) {
      expect(existsSync(path.join(repoRoot, file))).toBe(true);
      expect(dockerIgnored(file)).toBe(false);
    }
    for (const excluded of ['node_modules', 'dist', '.git', 'test', 'charts', '.env', '.env.local', 'src/app.test.ts', 'src/hook/x.test.ts', 'README.md']) {
      expect(dockerIgnored(excluded)).toBe(true);
    }
    expect(dockerIgnored('src/hook/builder.ts')).toBe(false);
  });

  it('runs files the build produces: tsconfig.build.json compiles src/ to dist/, main and instrumentation exist', () => {
    const build = JSON.parse(readFileSync(path.join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { build: string } };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(path.join(repoRoot, 'src/main.ts'))).toBe(true);
    expect(existsSync(path.join(repoRoot, 'src/instrumentation.ts'))).toBe(true);
  });
});
