/**
 * A character card's prompt through the gateway, against the fake OpenAI-compatible server (issue 16): macros
 * expanded with the conversation's persona, the persona's description, the lorebook entries the history activates
 * (the character's book and the conversation's), the post-history instructions last; promptPreview showing each
 * entry with its key; the stored greeting and its alternatives with their macros expanded.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { expectOk } from '../e2e/helpers';
import { cardV2 } from '../cards/fixtures';
import { importCard } from '../cards/helpers';
import { sendOk, START_TIMEOUT_MS, waitForEnd } from './helpers';

const PERSONA = /* GraphQL */ `mutation($input: PersonaInput!) { createPersona(input: $input) { id } }`;
const BOOK = /* GraphQL */ `mutation($input: LorebookInput!) { createLorebook(input: $input) { id } }`;
const START = /* GraphQL */ `mutation($input: StartConversationInput!) { startConversation(input: $input) { id } }`;
const OPENING = /* GraphQL */ `
  query($id: ID!) { conversation(id: $id) { messages(first: 5) { edges { node { id role content alternatives { content } } } } } }`;
const PREVIEW = /* GraphQL */ `
  query($id: ID!) { promptPreview(conversationId: $id) { parts { kind role content tokens activatedBy } } }`;

/** A card whose every text uses macros, with a book of three entries: one keyed, one keyed on what nobody says, one constant. */
const card = () =>
  cardV2('Captain Nemo', {
    description: '{{char}} commands the Nautilus and distrusts {{user}}.',
    first_mes: 'Welcome aboard, {{user}}. I am {{char}}.',
    alternate_greetings: ['<USER>, sit down.'],
    system_prompt: 'You are {{char}}; the user is {{user}}.',
    post_history_instructions: 'Answer {{user}} in one paragraph, as {{char}}.',
    character_book: {
      entries: [
        { keys: ['kraken'], content: 'The kraken once crippled the Nautilus near {{user}}.', enabled: true, insertion_order: 10, position: 'before_char', extensions: {} },
        { keys: ['atlantis'], content: 'ATLANTIS-LORE', enabled: true, insertion_order: 20, extensions: {} },
        { keys: [], content: 'The Nautilus runs on sodium batteries.', constant: true, enabled: true, insertion_order: 30, position: 'after_char', extensions: {} },
      ],
    },
  });

describe("a character card's prompt through the gateway", () => {
  let t: TestSystem;
  let llm: FakeLlmServer;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Aye', '.'], tokenDelayMs: 1 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', REPLY_FLUSH_INTERVAL_MS: '10' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it('sends the persona, the activated entries and the post-history instructions, macros expanded, and previews them', async () => {
    const user = await t.signUp('Pierre');
    const character = await importCard(t, user.token, Buffer.from(JSON.stringify(card())));
    const persona = expectOk(await t.gql(PERSONA, { input: { name: 'Professor Aronnax', description: '{{user}} is a marine biologist held by {{char}}.' } }, user.token)).createPersona;
    const book = expectOk(await t.gql(BOOK, { input: { name: 'Sea', entries: [{ keys: ['Squid'], content: 'Giant squid hunt at {{char}}\u2019s depth.', priority: 5 }] } }, user.token)).createLorebook;
    const { id } = expectOk(await t.gql(START, { input: { characterId: character.id, personaId: persona.id, lorebookIds: [book.id] } }, user.token)).startConversation;

    // The stored greeting, and its alternative, name the persona and the character.
    const [greeting] = expectOk(await t.gql(OPENING, { id }, user.token)).conversation.messages.edges.map((e: any) => e.node);
    expect(greeting).toMatchObject({ role: 'ASSISTANT', content: 'Welcome aboard, Professor Aronnax. I am Captain Nemo.' });
    expect(greeting.alternatives.map((m: any) => m.content)).toContain('Professor Aronnax, sit down.');

    const { reply } = await sendOk(t, user.token, id, 'Is that a kraken? Or a giant squid?');
    expect((await waitForEnd(t, user.token, reply.id)).status).toBe('COMPLETED');
    const messages: Array<{ role: string; content: string }> = llm.requests.at(-1)!.body.messages;
    const system = messages[0].content;
    expect(system).toContain('You are Captain Nemo; the user is Professor Aronnax.');
    expect(system).toContain('Captain Nemo commands the Nautilus and distrusts Professor Aronnax.');
    expect(system).toContain('Professor Aronnax is a marine biologist held by Captain Nemo.');
    expect(system).toContain('The kraken once crippled the Nautilus near Professor Aronnax.');
    expect(system).toContain('Giant squid hunt at Captain Nemo\u2019s depth.');
    expect(system).toContain('The Nautilus runs on sodium batteries.');
    expect(system).not.toContain('ATLANTIS-LORE');
    expect(system.indexOf('The kraken once')).toBeLessThan(system.indexOf('Captain Nemo commands'));
    expect(system.indexOf('Captain Nemo commands')).toBeLessThan(system.indexOf('sodium batteries'));
    expect(JSON.stringify(messages)).not.toMatch(/\{\{(char|user)\}\}|<USER>|<BOT>/i);
    expect(messages.at(-2)).toEqual({ role: 'user', content: 'Is that a kraken? Or a giant squid?' });
    expect(messages.at(-1)).toEqual({ role: 'system', content: 'Answer Professor Aronnax in one paragraph, as Captain Nemo.' });

    const parts = expectOk(await t.gql(PREVIEW, { id }, user.token)).promptPreview.parts;
    const lore = parts.filter((p: any) => p.kind === 'lorebook').map((p: any) => [p.content, p.activatedBy]);
    expect(lore).toEqual(
      expect.arrayContaining([
        ['The kraken once crippled the Nautilus near Professor Aronnax.', 'kraken'],
        ['Giant squid hunt at Captain Nemo\u2019s depth.', 'Squid'],
        ['The Nautilus runs on sodium batteries.', null],
      ]),
    );
    expect(lore).toHaveLength(3);
    expect(parts.find((p: any) => p.kind === 'persona')?.content).toContain('Professor Aronnax is a marine biologist');
    expect(parts.at(-1)).toMatchObject({ kind: 'post-history', role: 'system', content: 'Answer Professor Aronnax in one paragraph, as Captain Nemo.', activatedBy: null });
  });

  it("names the user by their default persona, else their display name, in the greeting and the prompt", async () => {
    const user = await t.signUp('Ned Land');
    const character = await importCard(t, user.token, Buffer.from(JSON.stringify(card())));
    const plain = expectOk(await t.gql(START, { input: { characterId: character.id } }, user.token)).startConversation;
    const [greeting] = expectOk(await t.gql(OPENING, { id: plain.id }, user.token)).conversation.messages.edges.map((e: any) => e.node);
    expect(greeting.content).toBe('Welcome aboard, Ned Land. I am Captain Nemo.');

    expectOk(await t.gql(PERSONA, { input: { name: 'Harpooner', isDefault: true } }, user.token));
    const { reply } = await sendOk(t, user.token, plain.id, 'Hello.');
    await waitForEnd(t, user.token, reply.id);
    const messages: Array<{ role: string; content: string }> = llm.requests.at(-1)!.body.messages;
    expect(messages[0].content).toContain('the user is Harpooner.');
    expect(messages[0].content).not.toContain('The kraken once');
  });
});
