/**
 * Authorization where the gateway cannot help: entity lookups (`_entities`) and internal mutations
 * sent straight to the subgraphs, which must check the caller themselves. The calls are signed as
 * the services that make them (the gateway forwarding a user's token, or a peer acting for a user):
 * unsigned ones are refused before any of this (test/security/service-identity.test.ts).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kind, parse, type ObjectTypeDefinitionNode } from 'graphql';
import { SUPERGRAPH_FILE } from '@chat/gateway';
import { startTestSystem, type SubgraphCaller, type TestSystem } from '../support/system';
import { createCharacter, errorCodes, expectError, expectOk, START_TIMEOUT_MS, startConversation } from './helpers';

const ENTITIES = (selection: string) => /* GraphQL */ `
  query($representations: [_Any!]!) { _entities(representations: $representations) { ${selection} } }`;

describe('authorization at the subgraphs (postgres)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let conversationId: string;
  let greetingId: string;
  let secretId: string;
  type Subgraph = 'users' | 'characters' | 'conversations' | 'messages';
  /** A fetch of the gateway's to `subgraph`, for the user whose token it forwards (none: anonymous). */
  const viaGateway = (subgraph: Subgraph, query: string, variables: Record<string, unknown>, token?: string) => t.subgraphGql(subgraph, query, variables, { token });
  /** A peer's call to `subgraph`, signed as `caller.as`. */
  const asPeer = (subgraph: Subgraph, query: string, variables: Record<string, unknown>, caller: SubgraphCaller) => t.subgraphGql(subgraph, query, variables, caller);
  const user = (who: { id: string }) => ({ id: who.id, role: 'USER' as const });

  beforeAll(async () => {
    t = await startTestSystem('postgres');
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
    secretId = (await createCharacter(t, alice.token, { name: 'Classified', greeting: 'Top secret hello.' })).id;
    conversationId = (await startConversation(t, alice.token, secretId, { title: 'Private talk' })).id;
    const read = await t.gql(`query($id: ID!) { conversation(id: $id) { messages { edges { node { id } } } } }`, { id: conversationId }, alice.token);
    greetingId = expectOk(read).conversation.messages.edges[0].node.id;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  /** `_entities` at a subgraph as each caller: the owner sees the entity, others and anonymous get null. */
  async function expectOwnerOnly(subgraph: 'characters' | 'conversations' | 'messages', representation: object, selection: string, shown: object) {
    const query = ENTITIES(selection);
    const variables = { representations: [representation] };
    expect(expectOk(await viaGateway(subgraph, query, variables, alice.token))._entities).toEqual([shown]);
    for (const token of [bob.token, undefined]) {
      const res = await viaGateway(subgraph, query, variables, token);
      expect(res.status).toBeLessThan(500);
      expect(res.data?._entities ?? [null]).toEqual([null]);
      expect(JSON.stringify(res)).not.toContain(JSON.stringify(shown).slice(1, -1));
    }
  }

  it("returns null for another user's conversation in the conversations subgraph", async () => {
    await expectOwnerOnly('conversations', { __typename: 'Conversation', id: conversationId }, '... on Conversation { title }', { title: 'Private talk' });
  });

  it("returns null for another user's conversation and messages in the messages subgraph", async () => {
    await expectOwnerOnly(
      'messages',
      { __typename: 'Conversation', id: conversationId },
      '... on Conversation { messages { edges { node { content } } } }',
      { messages: { edges: [{ node: { content: 'Top secret hello.' } }] } },
    );
    await expectOwnerOnly('messages', { __typename: 'Conversation', id: conversationId }, '... on Conversation { messageCount }', { messageCount: 1 });
    await expectOwnerOnly('messages', { __typename: 'Message', id: greetingId }, '... on Message { content }', { content: 'Top secret hello.' });
  });

  it("returns null for another user's private character in the characters subgraph", async () => {
    await expectOwnerOnly('characters', { __typename: 'Character', id: secretId }, '... on Character { name greeting }', {
      name: 'Classified',
      greeting: 'Top secret hello.',
    });
  });

  it("grants nothing through recordCharacterUse at the characters subgraph: another user's private character stays hidden", async () => {
    const use = `mutation($id: ID!) { recordCharacterUse(characterId: $id) { id name } }`;
    // Even the service that may call it, acting for another user, gets nothing.
    expect(expectOk(await asPeer('characters', use, { id: secretId }, { as: 'conversations', actingFor: user(bob) })).recordCharacterUse).toBeNull();
    // Anyone else may not call it at all: a user's token through the gateway's signature, or a peer acting for nobody.
    expectError(await viaGateway('characters', use, { id: secretId }, bob.token), 'FORBIDDEN');
    expectError(await asPeer('characters', use, { id: secretId }, { as: 'conversations' }), 'FORBIDDEN');
    await expectOwnerOnly('characters', { __typename: 'Character', id: secretId }, '... on Character { name }', { name: 'Classified' });
    expect(expectOk(await t.gql(`query($id: ID!) { character(id: $id) { id } }`, { id: secretId }, bob.token)).character).toBeNull();
  });

  it("refuses another user's email and conversations as entities (FORBIDDEN)", async () => {
    const user = { representations: [{ __typename: 'User', id: alice.id }] };
    const email = await viaGateway('users', ENTITIES('... on User { displayName email }'), user, bob.token);
    expectError(email, 'FORBIDDEN');
    expect(JSON.stringify(email)).not.toContain('@example.com');
    const conversations = await viaGateway('conversations', ENTITIES('... on User { conversations { edges { node { id } } } }'), user, bob.token);
    expectError(conversations, 'FORBIDDEN');
    expect(JSON.stringify(conversations)).not.toContain(conversationId);
    // displayName is anyone's to see.
    expect(expectOk(await viaGateway('users', ENTITIES('... on User { displayName }'), user, bob.token))._entities).toEqual([{ displayName: 'Alice' }]);
  });

  it("hides a message by id from other users through the gateway", async () => {
    const query = `query($id: ID!) { message(id: $id) { id content } }`;
    expect(expectOk(await t.gql(query, { id: greetingId }, alice.token)).message).toEqual({ id: greetingId, content: 'Top secret hello.' });
    for (const token of [bob.token, undefined]) expect(expectOk(await t.gql(query, { id: greetingId }, token)).message).toBeNull();
  });

  it('keeps internal operations out of the public graph', async () => {
    const supergraph = parse(readFileSync(SUPERGRAPH_FILE, 'utf8'));
    const hidden = supergraph.definitions
      .filter((d): d is ObjectTypeDefinitionNode => d.kind === Kind.OBJECT_TYPE_DEFINITION && (d.name.value === 'Query' || d.name.value === 'Mutation'))
      .flatMap((type) => (type.fields ?? []).filter((f) => f.directives?.some((d) => d.name.value === 'inaccessible')).map((f) => [type.name.value, f.name.value]));
    expect(hidden).toContainEqual(['Mutation', 'recordConversationStart']);
    expect(hidden).toContainEqual(['Mutation', 'recordCharacterUse']);
    const introspection = expectOk(await t.gql(`{ query: __type(name: "Query") { fields { name } } mutation: __type(name: "Mutation") { fields { name } } }`));
    const visible = [...introspection.query.fields.map((f: any) => ['Query', f.name]), ...introspection.mutation.fields.map((f: any) => ['Mutation', f.name])];
    expect(visible).toContainEqual(['Mutation', 'startConversation']);
    for (const [type, field] of hidden) {
      expect(visible).not.toContainEqual([type, field]);
      const res = await t.gql(`${type === 'Mutation' ? 'mutation' : 'query'} { ${field} }`, {}, alice.token);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(errorCodes(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    }
    // Nor does the gateway answer entity lookups.
    const entities = await t.gql(ENTITIES('... on Conversation { id }'), { representations: [{ __typename: 'Conversation', id: conversationId }] }, alice.token);
    expect(entities.status).toBeLessThan(500);
    expect(new Set(errorCodes(entities))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
  });

  it("refuses recordConversationStart at the messages subgraph for another user's conversation", async () => {
    const record = `mutation($id: ID!) { recordConversationStart(conversationId: $id) { id content } }`;
    expectError(await asPeer('messages', record, { id: conversationId }, { as: 'conversations', actingFor: user(bob) }), 'NOT_FOUND');
    expectError(await asPeer('messages', record, { id: conversationId }, { as: 'conversations' }), 'FORBIDDEN');
    expectError(await viaGateway('messages', record, { id: conversationId }, alice.token), 'FORBIDDEN');
    // The owner repeating it is harmless: the greeting is stored once.
    expect(expectOk(await asPeer('messages', record, { id: conversationId }, { as: 'conversations', actingFor: user(alice) })).recordConversationStart.id).toBe(greetingId);
    const count = await t.gql(`query($id: ID!) { conversation(id: $id) { messageCount } }`, { id: conversationId }, alice.token);
    expect(expectOk(count).conversation.messageCount).toBe(1);
  });

  it('verifies tokens at every subgraph, not only at the gateway', async () => {
    const forged = `${alice.token.slice(0, -4)}AAAA`;
    for (const name of ['users', 'characters', 'conversations', 'messages'] as const) {
      const res = await viaGateway(name, '{ __typename }', {}, forged);
      expect([name, res.status, errorCodes(res)]).toEqual([name, 401, ['UNAUTHENTICATED']]);
    }
  });
});
