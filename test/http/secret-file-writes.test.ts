/**
 * A secret file caught half-way through a non-atomic, in-place write is never loaded: the content
 * must be the same on two reads and look whole, or the accepted secrets stay as they are.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeaderAuthenticator, SecretStore } from '../../src/http/header-auth';
import { sleep } from '../helpers/engines';

const OLD = 'Basic b2xkLXNlY3JldC12YWx1ZQ==';
const NEW = 'Basic bmV3LXNlY3JldC12YWx1ZQ==';

describe('secret files written in place', () => {
  let dir: string;
  let file: string;
  let store: SecretStore | undefined;
  const events: Array<{ ok: boolean; error?: string; count?: number }> = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'secret-writes-'));
    file = join(dir, 'hook-secret');
    events.length = 0;
    await writeFile(file, `${OLD}\n`);
    // A long poll: only the explicit reloads below (and the watcher) read the file.
    store = await SecretStore.fromFile(file, { onReload: (result) => events.push(result) }, 600_000);
    store.settleMs = 200;
  });
  afterEach(async () => {
    store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const accepts = (value: string): boolean => new HeaderAuthenticator('authorization', store as SecretStore).check({ authorization: value }).ok;

  it('keeps the accepted secrets while the file changes between two reads, then loads the finished file', async () => {
    await writeFile(file, `${OLD}\n${NEW.slice(0, 9)}`);
    const reading = (store as SecretStore).reload();
    await sleep(50);
    await writeFile(file, `${OLD}\n${NEW}\n`);
    await reading;
    expect(events[0]).toEqual({ ok: false, error: 'secret file changed while it was read (a non-atomic write?); keeping the previous secrets, reading it again' });
    expect(accepts(OLD)).toBe(true);
    expect(accepts(NEW.slice(0, 9))).toBe(false);
    // The store reads the file again by itself and takes the finished content.
    const deadline = Date.now() + 5000;
    while (!accepts(NEW) && Date.now() < deadline) await sleep(25);
    expect(accepts(NEW)).toBe(true);
    expect(accepts(OLD)).toBe(true);
  });

  it('refuses a file whose line is a truncated copy of the accepted secret (old and new would both fail)', async () => {
    await writeFile(file, OLD.slice(0, 12));
    await (store as SecretStore).reload();
    expect(events).toContainEqual({ ok: false, error: 'secret file looks partly written (a line is a truncated copy of an accepted secret); keeping the previous secrets' });
    expect(accepts(OLD)).toBe(true);
  });

  it('refuses a file with control characters in a line', async () => {
    await writeFile(file, `${OLD}\n\u0000\u0000garbage\n`);
    await (store as SecretStore).reload();
    expect(events).toContainEqual({ ok: false, error: 'secret file looks partly written (a line holds control characters); keeping the previous secrets' });
    expect(accepts(OLD)).toBe(true);
  });
});
