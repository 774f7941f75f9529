/**
 * scripts/release.sh (image build + push + cosign, helm package + push to OCI + cosign) in --dry-run:
 * the commands it would run, with the versions from package.json and Chart.yaml, and its refusals.
 * It never runs docker, helm or cosign here and needs no credentials.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chartDir, readYaml, repoRoot } from './support/paths';

const chart = readYaml(path.join(chartDir, 'Chart.yaml')) as Record<string, string>;
const releaseDir = mkdtempSync(path.join(tmpdir(), 'release-'));
afterAll(() => rmSync(releaseDir, { recursive: true, force: true }));

function release(env: Record<string, string>, args = ['--dry-run']): { status: number | null; out: string } {
  const result = spawnSync('bash', [path.join(repoRoot, 'scripts/release.sh'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', RELEASE_DIR: releaseDir, ...env },
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

describe('scripts/release.sh', () => {
  const env = { IMAGE_REPO: 'registry.example.com/acme/okta-token-hook', CHART_REPO: 'oci://registry.example.com/acme/charts' };

  it('--dry-run prints: multi-platform image build and push, cosign of the image, helm package, helm push to OCI, cosign of the chart', () => {
    const { status, out } = release(env);
    expect(status).toBe(0);
    const commands = out.split('\n').filter((l) => l.startsWith('+ ')).map((l) => l.slice(2));
    expect(commands.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['docker buildx', 'cosign sign', 'helm package', 'helm push', 'cosign sign']);
    expect(commands[0]).toContain(`--tag ${env.IMAGE_REPO}:${chart.appVersion} `);
    expect(commands[0]).toContain('--platform linux/amd64,linux/arm64');
    expect(commands[1]).toContain(`${env.IMAGE_REPO}@sha256:`);
    expect(commands[2]).toBe(`helm package charts/okta-token-hook --version ${chart.version} --app-version ${chart.appVersion} --destination ${releaseDir}`);
    expect(commands[3]).toBe(`helm push ${releaseDir}/okta-token-hook-${chart.version}.tgz ${env.CHART_REPO}`);
    expect(commands[4]).toContain('registry.example.com/acme/charts/okta-token-hook@sha256:');
    expect(out).not.toMatch(/password|token=/i);
  });

  it('signs with a key when COSIGN_KEY is set (keyless otherwise)', () => {
    const { out } = release({ ...env, COSIGN_KEY: 'kms://example/key' });
    expect(out).toContain('+ cosign sign --yes --key kms://example/key registry.example.com/acme/okta-token-hook@');
  });

  it.each([
    [{ IMAGE_REPO: env.IMAGE_REPO }, /CHART_REPO/],
    [{ ...env, CHART_REPO: 'https://charts.example.com' }, /must be an oci:\/\/ URL/],
  ])('refuses incomplete settings %j', (settings, message) => {
    const { status, out } = release(settings);
    expect(status).not.toBe(0);
    expect(out).toMatch(message);
  });
});
