// Writes jest's own totals to a file so .ci/run can print the plain "N passed, N failed" line.
import { writeFileSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const file = process.env.JEST_SUMMARY_FILE;
    if (!file) return;
    const { numPassedTests, numFailedTests, numPendingTests, numTotalTestSuites, numFailedTestSuites, numRuntimeErrorTestSuites } = results;
    writeFileSync(file, JSON.stringify({ numPassedTests, numFailedTests, numPendingTests, numTotalTestSuites, numFailedTestSuites, numRuntimeErrorTestSuites }));
  }
}
