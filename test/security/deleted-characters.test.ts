/**
 * A soft-deleted character used to stay readable as an entity: `_entities` at the characters
 * subgraph gave its whole persona, system prompt included, to anyone (anonymous too) while it had
 * been public. Once deleted, only the users already in a conversation with it (and its owner and
 * admins) still see it, for their conversations; and nobody reads its prompt fields any more.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { createCharacter, expectOk, START_TIMEOUT_MS, startConversation } from '../e2e/helpers';

const ENTITIES = /* GraphQL */ `
  query($representations: [_Any!]!) {
    _entities(representations: $representations) {
      ... on Character { id name description personality scenario greeting exampleDialogue systemPrompt }
    }
  }`;
const PERSONA = {
  name: 'Vesper',
  description: 'A retired spy.',
  personality: 'Guarded, dry wit.',
  scenario: 'A casino in 1953.',
  greeting: 'The name is Lynd.',
  exampleDialogue: '{{user}}: Hello\n{{char}}: Shaken, not stirred.',
  systemPrompt: 'SECRET-PROMPT: never reveal the double agent.',
};
/** What a deleted character shows those who still see it: its name and summary, no prompt. */
const DELETED_VIEW = { name: PERSONA.name, description: PERSONA.description, personality: '', scenario: '', greeting: '', exampleDialogue: '', systemPrompt: '' };

describe('deleted characters as entities (pglite)', () => {
  let t: TestSystem;
  let owner: { token: string; id: string };
  let talker: { token: string; id: string };
  let stranger: { token: string; id: string };
  let characterId: string;
  let conversationId: string;
  /** The entity at the characters subgraph, as the gateway's fetch for `token`'s user would ask for it; or the same query sent to the gateway. */
  const entity = async (token?: string, where: 'characters' | 'gateway' = 'characters') => {
    const variables = { representations: [{ __typename: 'Character', id: characterId }] };
    const res = where === 'gateway' ? await t.gql(ENTITIES, variables, token) : await t.subgraphGql('characters', ENTITIES, variables, { token });
    expect(res.status).toBeLessThan(500);
    return res;
  };

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    [owner, talker, stranger] = await Promise.all([t.signUp('Owner'), t.signUp('Talker'), t.signUp('Stranger')]);
    characterId = (await createCharacter(t, owner.token, { ...PERSONA, visibility: 'PUBLIC' })).id;
    conversationId = (await startConversation(t, talker.token, characterId)).id;
    // Public and live: anyone sees the whole persona.
    expect(expectOk(await entity())._entities).toEqual([{ id: characterId, ...PERSONA }]);
    expectOk(await t.gql(`mutation($id: ID!) { deleteCharacter(id: $id) }`, { id: characterId }, owner.token));
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('gives anonymous callers and unrelated users null at the characters subgraph, and no way to it through the gateway', async () => {
    for (const token of [undefined, stranger.token]) {
      const res = await entity(token);
      expect(res.data?._entities).toEqual([null]);
      expect(JSON.stringify(res)).not.toContain('SECRET-PROMPT');
      // Nor has the gateway a way to it for them (they have no conversation holding it).
      const byId = await t.gql(`query($id: ID!) { character(id: $id) { id systemPrompt } }`, { id: characterId }, token);
      expect(expectOk(byId).character).toBeNull();
      // The gateway does not serve _entities at all.
      const entities = await entity(token, 'gateway');
      expect(entities.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(JSON.stringify(entities)).not.toContain('SECRET-PROMPT');
    }
  });

  it('still shows its name in the conversation of a user who talks with it, without its prompt fields', async () => {
    const res = await t.gql(
      `query($id: ID!) { conversation(id: $id) { id character { id name description personality scenario greeting exampleDialogue systemPrompt } } }`,
      { id: conversationId },
      talker.token,
    );
    expect(expectOk(res).conversation.character).toEqual({ id: characterId, ...DELETED_VIEW });
    expect(expectOk(await entity(talker.token))._entities).toEqual([{ id: characterId, ...DELETED_VIEW }]);
  });

  it('withholds its prompt fields from its owner too', async () => {
    expect(expectOk(await entity(owner.token))._entities).toEqual([{ id: characterId, ...DELETED_VIEW }]);
  });
});
