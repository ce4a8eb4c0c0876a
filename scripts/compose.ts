/**
 * Composes supergraph.graphql from supergraph.yaml with @apollo/composition (rover's binary is not
 * available here). `--check` exits 1 when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { parse as parseYaml } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface SupergraphConfig {
  subgraphs: Record<string, { routing_url: string; schema: { file: string } }>;
}

/** The composed supergraph SDL of the subgraphs listed in supergraph.yaml. */
export function composeSupergraph(configFile = resolve(root, 'supergraph.yaml')): string {
  const config = parseYaml(readFileSync(configFile, 'utf8')) as SupergraphConfig;
  const services = Object.entries(config.subgraphs).map(([name, subgraph]) => ({
    name,
    url: subgraph.routing_url,
    typeDefs: parse(readFileSync(resolve(dirname(configFile), subgraph.schema.file), 'utf8')),
  }));
  const result = composeServices(services);
  if (result.errors) throw new Error(`Composition failed:\n${result.errors.map((e) => e.message).join('\n')}`);
  return result.supergraphSdl;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const target = resolve(root, 'supergraph.graphql');
  const sdl = composeSupergraph();
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== sdl) {
      console.error('supergraph.graphql is stale: run `npm run compose` and commit it.');
      process.exit(1);
    }
    console.log('supergraph.graphql is up to date.');
  } else {
    writeFileSync(target, sdl);
    console.log(`Wrote ${target}`);
  }
}
