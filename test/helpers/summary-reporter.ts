import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * Prints the passed tests per target (memory, single, cluster) and one plain closing line,
 * `tests: N passed, N failed`, that any CI can read.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const perTarget = new Map<string, { passed: number; failed: number }>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failed += 1;
        else skipped += 1;
        const target = targetOf(test);
        if (target && (state === 'passed' || state === 'failed')) {
          const counts = perTarget.get(target) ?? { passed: 0, failed: 0 };
          counts[state] += 1;
          perTarget.set(target, counts);
        }
      }
      if (module.state() === 'failed' && module.children.size === 0) failed += 1;
    }
    // A crashed worker or an error outside any test fails the run too.
    failed += unhandledErrors.length;
    const lines = [...perTarget].map(([target, c]) => `  ${target.padEnd(8)} ${c.passed} passed, ${c.failed} failed`);
    if (lines.length > 0) process.stdout.write(`\nshared behaviour suites per target:\n${lines.join('\n')}\n`);
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${tail}\n`);
  }
}

/** The target a shared suite ran the test on: `describe.each(targets)('on $name')` names it. */
function targetOf(test: TestCase): string | undefined {
  return /\bon '(memory|single|cluster)'/.exec(test.fullName)?.[1];
}
