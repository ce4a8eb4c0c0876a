// Temporary: at each test file's start, report handles a previous file in this worker left open.
import { beforeAll, afterAll } from '@jest/globals';
beforeAll(() => {
  const path = expect.getState().testPath;
  const counts = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  const interesting = Object.entries(counts).filter(([k]) => !['TTYWrap', 'PipeWrap', 'ProcessWrap', 'FSReqCallback', 'Immediate'].includes(k));
  if (process.__lastTestFile && interesting.length) console.error(`[leak] after ${process.__lastTestFile} (before ${path}): ${JSON.stringify(Object.fromEntries(interesting))}`);
  process.__lastTestFile = path;
});
afterAll(() => {
  // After this file's own afterAll hooks (declared later, run earlier in jest-circus? we log both ways).
  const counts = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  console.error(`[end] ${expect.getState().testPath}: ${JSON.stringify(counts)}`);
});
