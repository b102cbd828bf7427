import type { Reporter, TestCase, TestModule } from 'vitest/node';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Prints the tests per Vitest project (unit, memory, single, cluster, sentinel, chaos), the passed
 * tests per target of the shared suites (memory, single, cluster, sentinel), and one plain closing line,
 * `tests: N passed, N failed`, that any CI can read.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const total: Counts = { passed: 0, failed: 0, skipped: 0 };
    const perProject = new Map<string, Counts>();
    const perTarget = new Map<string, Counts>();
    const count = (map: Map<string, Counts>, key: string, state: keyof Counts): void => {
      const counts = map.get(key) ?? { passed: 0, failed: 0, skipped: 0 };
      counts[state] += 1;
      map.set(key, counts);
    };
    for (const module of testModules) {
      const project = module.project.name || 'default';
      for (const test of module.children.allTests()) {
        const result = test.result().state;
        const state = result === 'passed' || result === 'failed' ? result : 'skipped';
        total[state] += 1;
        count(perProject, project, state);
        const target = targetOf(test);
        if (target && state !== 'skipped') count(perTarget, target, state);
      }
      if (module.state() === 'failed' && module.children.size === 0) {
        total.failed += 1;
        count(perProject, project, 'failed');
      }
    }
    // A crashed worker or an error outside any test fails the run too.
    total.failed += unhandledErrors.length;
    const line = (name: string, c: Counts): string => `  ${name.padEnd(8)} ${c.passed} passed, ${c.failed} failed${c.skipped > 0 ? `, ${c.skipped} skipped` : ''}`;
    const lines = (map: Map<string, Counts>): string => [...map].sort(([a], [b]) => rank(a) - rank(b)).map(([name, c]) => line(name, c)).join('\n');
    if (perProject.size > 0) process.stdout.write(`\ntests per project:\n${lines(perProject)}\n`);
    if (perTarget.size > 0) process.stdout.write(`\nshared behaviour suites per target:\n${lines(perTarget)}\n`);
    const tail = total.skipped > 0 ? `, ${total.skipped} skipped` : '';
    process.stdout.write(`\ntests: ${total.passed} passed, ${total.failed} failed${tail}\n`);
  }
}

const ORDER = ['unit', 'memory', 'single', 'cluster', 'sentinel', 'chaos'];
const rank = (name: string): number => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

/** The target a shared suite ran the test on: `describe.each(targets)('on $name')` names it. */
function targetOf(test: TestCase): string | undefined {
  return /\bon '(memory|single|cluster|sentinel)'/.exec(test.fullName)?.[1];
}
