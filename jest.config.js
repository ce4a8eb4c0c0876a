/** Jest runs the TypeScript sources as native ES modules, exactly as `tsx` runs them for `npm start`. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.data/'],
  // Generous: starting a whole system on a loaded 2-core machine can take tens of seconds; tests bound their own waits.
  testTimeout: 120000,
  maxWorkers: 2,
  // A worker exits once its event loop is empty, then frees its heap: 0.3 s at 400 MB, over 0.5 s (jest's
  // default grace) for the GBs a worker holds after many systems, on a loaded machine. A leaked handle still shows.
  workerGracefulExitTimeout: 10_000,
  reporters: ['default', ['<rootDir>/test/summary-reporter.js', {}]],
};
