/**
 * The benchmarks' third-party tools: autocannon (the load generator) and Hive Gateway (a gateway
 * compared with ours). They are installed in this folder (bench/tools/node_modules, from its own
 * package.json and lockfile; `npm run bench` installs them, see install.ts), not with the
 * repository, whose default install carries only the product and its tests. The benchmark's other
 * modules reach them through here only, and so keep resolving graphql and everything else from the
 * repository's install, as the product does (Hive Gateway brings its own graphql, used in its own process).
 */
import { join } from 'node:path';
import { TOOLS_DIR } from './install';

export { default as autocannon } from 'autocannon';
export { toolVersion } from './install';

/** Hive Gateway's command line script (`node <it> supergraph <file> ...`). */
export const HIVE_GATEWAY_BIN = join(TOOLS_DIR, 'node_modules/@graphql-hive/gateway/dist/bin.js');
