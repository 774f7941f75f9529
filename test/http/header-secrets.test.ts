import { mkdtemp, rename, rm, symlink, writeFile, mkdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeaderAuthenticator, parseSecretFile, SecretStore } from '../../src/http/header-auth';
import { sleep } from '../helpers/engines';

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('header secrets from a file', () => {
  let dir: string;
  const stores: SecretStore[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hook-secret-'));
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads one secret per line, trimming whitespace and ignoring blank lines', () => {
    expect(parseSecretFile('  first  \r\n\nBasic c2Vjb25k\n')).toEqual(['first', 'Basic c2Vjb25k']);
  });

  it('accepts both secrets during a rotation and reports the slot', async () => {
    const file = join(dir, 'hook-secret');
    await writeFile(file, 'old\nnew\n');
    const store = await SecretStore.fromFile(file);
    stores.push(store);
    const auth = new HeaderAuthenticator('authorization', store);
    expect(auth.check({ authorization: 'old' })).toEqual({ ok: true, method: 'header', credential: 'slot-1' });
    expect(auth.check({ authorization: 'new' })).toEqual({ ok: true, method: 'header', credential: 'slot-2' });
    expect(auth.check({ authorization: 'other' })).toEqual({ ok: false, method: 'header', reason: 'invalid_credentials' });
  });

  it('picks up a rewritten file without a restart', async () => {
    const file = join(dir, 'hook-secret');
    await writeFile(file, 'first\n');
    const reloads: unknown[] = [];
    const store = await SecretStore.fromFile(file, { onReload: (r) => reloads.push(r) });
    stores.push(store);
    await writeFile(file, 'first\nsecond\n');
    await waitFor(() => store.match('second') === 1);
    expect(reloads).toContainEqual({ ok: true, count: 2 });
  });

  it('follows a Kubernetes Secret mount update (..data symlink swap)', async () => {
    // Layout kubelet uses: dir/hook-secret -> ..data/hook-secret, ..data -> ..2026_01_01_v1
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'hook-secret'), 'alpha\n');
    await symlink('..v1', join(dir, '..data'));
    await symlink(join('..data', 'hook-secret'), join(dir, 'hook-secret'));
    const store = await SecretStore.fromFile(join(dir, 'hook-secret'));
    stores.push(store);
    expect(store.match('alpha')).toBe(0);

    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'hook-secret'), 'alpha\nbeta\n');
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor(() => store.match('beta') === 1);
    expect(store.match('alpha')).toBe(0);
  });

  it('keeps the previous secrets when the file becomes empty or disappears', async () => {
    const file = join(dir, 'hook-secret');
    await writeFile(file, 'keep-me\n');
    const failures: string[] = [];
    const store = await SecretStore.fromFile(file, { onReload: (r) => !r.ok && failures.push(r.error) });
    stores.push(store);
    await writeFile(file, '\n');
    await waitFor(() => failures.length >= 1);
    expect(store.match('keep-me')).toBe(0);
    await unlink(file);
    expect(await store.reload()).toBe(1);
    expect(failures.some((f) => f.includes('ENOENT'))).toBe(true);
    expect(store.match('keep-me')).toBe(0);
  });

  it('refuses to start from an unreadable or empty file, naming the file', async () => {
    await expect(SecretStore.fromFile(join(dir, 'missing'))).rejects.toThrow(`Cannot read secret file ${join(dir, 'missing')}: ENOENT`);
    await writeFile(join(dir, 'empty'), '\n\n');
    await expect(SecretStore.fromFile(join(dir, 'empty'))).rejects.toThrow('contains no secret');
  });

  it('reports no_secret_configured when the store is empty', () => {
    const auth = new HeaderAuthenticator('authorization', SecretStore.fromValues([]));
    expect(auth.check({ authorization: 'x' })).toEqual({ ok: false, method: 'header', reason: 'no_secret_configured' });
  });
});
