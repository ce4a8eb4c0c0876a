/** `npm run check:cycles`: lists import cycles among our modules and exits 1 when there is any (scripts/import-cycles.ts). */
import { CHECKED_FOLDERS, importGraph, importProblems } from './import-cycles';

const problems = importProblems(await importGraph());
if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exitCode = 1;
} else {
  console.log(`no import cycles in ${CHECKED_FOLDERS.join(', ')}`);
}
