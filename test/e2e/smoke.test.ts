import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { START_TIMEOUT_MS } from './helpers';

describe('smoke', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('pglite');
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('registers, creates a character, starts a conversation and reads it back', async () => {
    const me = await t.signUp('Ana');
    const created = await t.gql(`mutation { createCharacter(input: { name: "Sherlock", greeting: "Ah, a visitor.", visibility: PUBLIC }) { id name owner { id displayName } } }`, {}, me.token);
    expect(created.errors).toBeUndefined();
    const characterId = created.data.createCharacter.id;
    expect(created.data.createCharacter.owner.displayName).toBe('Ana');
    const started = await t.gql(`mutation($id: ID!) { startConversation(input: { characterId: $id }) { id title character { name } user { displayName } messages { edges { node { role content } } } messageCount } }`, { id: characterId }, me.token);
    expect(started.errors).toBeUndefined();
    expect(started.data.startConversation.title).toBe('Chat with Sherlock');
    expect(started.data.startConversation.messages.edges).toEqual([{ node: { role: 'ASSISTANT', content: 'Ah, a visitor.' } }]);
  });
});
