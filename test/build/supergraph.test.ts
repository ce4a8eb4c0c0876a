/** The committed supergraph.graphql is what supergraph.yaml composes to: the gateway serves that file as is. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { composeSupergraph } from '../../scripts/compose';

const committed = () => readFileSync(new URL('../../supergraph.graphql', import.meta.url), 'utf8');

describe('supergraph.graphql', () => {
  it('is fresh: composing supergraph.yaml gives the committed file (else run `npm run compose`)', () => {
    const composed = composeSupergraph();
    if (composed !== committed()) {
      throw new Error('supergraph.graphql is stale: a subgraph schema changed since it was composed. Run `npm run compose` and commit supergraph.graphql.');
    }
    expect(composed).toBe(committed());
  });
});
