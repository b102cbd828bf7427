import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * One project per target (`npx vitest run --project <name>`; `vitest run` runs them all):
 *
 * - unit: no Redis at all;
 * - browser: the AsyncAPI docs page in Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH); no Redis;
 * - memory, single, cluster, sentinel: the shared behaviour suites (test/redis) on that target only,
 *   plus the files only that target can run;
 * - chaos: the tests that kill processes or move slots, on their own.
 *
 * `REDSTREAM_TARGETS` tells test/helpers/redis.ts the targets of `targets` and `realTargets`;
 * `REDSTREAM_NEEDS` names the Redis processes the project needs: checked by the global setup before
 * it starts, and where the keys each file created are deleted after it.
 */
const behaviour = ['test/redis/**/*.test.ts'];
/** Kill Redis nodes or consumer processes, fail over, migrate slots. */
const chaos = ['test/redis/chaos.test.ts', 'test/redis/crash.test.ts', 'test/redis/sentinel-failover.test.ts', 'test/redis/partitions-chaos.test.ts'];
const onlyMemory = ['examples/**/*.test.ts'];
const onlySingle = ['test/redis/validation.test.ts', 'test/redis/testing.test.ts'];
const onlyCluster = ['test/redis/cluster.test.ts'];
/** On their target's real Redis only (TLS: the single TLS node in `single`, the TLS cluster in `cluster`). */
const onlyReal = ['test/redis/secure.test.ts', 'test/redis/connections.test.ts'];

function project(name: string, options: { include: string[]; exclude?: string[]; targets?: string[]; needs: string[] }): TestProjectInlineConfiguration {
  return {
    extends: true,
    test: {
      name,
      include: options.include,
      exclude: [...configDefaults.exclude, ...(options.exclude ?? [])],
      env: { REDSTREAM_TARGETS: (options.targets ?? []).join(','), REDSTREAM_NEEDS: options.needs.join(',') },
      globalSetup: options.needs.length > 0 ? ['test/helpers/global-setup.ts'] : [],
    },
  };
}

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      project('unit', { include: ['test/unit/**/*.test.ts'], needs: [] }),
      project('browser', { include: ['test/browser/**/*.test.ts'], needs: [] }),
      project('memory', {
        include: [...behaviour, ...onlyMemory],
        exclude: [...chaos, ...onlySingle, ...onlyCluster, ...onlyReal],
        targets: ['memory'],
        needs: [],
      }),
      // The CLI runs as a child process against the single node.
      project('single', { include: [...behaviour, 'test/cli/**/*.test.ts', 'test/readme/**/*.test.ts', 'test/outage/**/*.test.ts'], exclude: [...chaos, ...onlyCluster], targets: ['single'], needs: ['single', 'tls-single'] }),
      project('cluster', { include: behaviour, exclude: [...chaos, ...onlySingle], targets: ['cluster'], needs: ['cluster', 'tls-cluster', 'single'] }),
      project('sentinel', {
        include: behaviour,
        exclude: [...chaos, ...onlySingle, ...onlyCluster],
        targets: ['sentinel'],
        needs: ['sentinel', 'tls-sentinel'],
      }),
      project('chaos', { include: chaos, targets: ['single', 'cluster'], needs: ['single', 'cluster', 'chaos', 'sentinel-chaos'] }),
    ],
  },
});
