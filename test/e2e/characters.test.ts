/** Characters through the gateway: defaults, visibility, listing with cursors, search, and who may change what. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ENGINES, startTestSystem, uniqueName, type TestSystem } from '../support/system';
import { CHARACTER_FIELDS, createCharacter, expectError, expectOk, readAllPages, START_TIMEOUT_MS, startConversation } from './helpers';

const GET = /* GraphQL */ `query($id: ID!) { character(id: $id) { ${CHARACTER_FIELDS} } }`;
const LIST = /* GraphQL */ `
  query($first: Int, $after: String, $search: String, $tag: String) {
    characters(first: $first, after: $after, search: $search, tag: $tag) {
      edges { cursor node { id name createdAt visibility owner { id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
const UPDATE = /* GraphQL */ `
  mutation($id: ID!, $input: CharacterUpdateInput!) { updateCharacter(id: $id, input: $input) { ${CHARACTER_FIELDS} } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteCharacter(id: $id) }`;

/** A lower-case word no other character contains, so filters see only a test's own characters. */
const uniqueWord = (prefix: string) => uniqueName(prefix).toLowerCase();

describe.each(ENGINES)('characters (%s)', (engine) => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let admin: { token: string; id: string };

  beforeAll(async () => {
    t = await startTestSystem(engine);
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
    const registered = await t.gql(`mutation { register(input: { email: "admin@example.com", password: "admin password 1", displayName: "Admin" }) { accessToken user { id role } } }`);
    const payload = expectOk(registered).register;
    expect(payload.user.role).toBe('ADMIN');
    admin = { token: payload.accessToken, id: payload.user.id };
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  const list = async (variables: Record<string, unknown>, token?: string) => expectOk(await t.gql(LIST, variables, token)).characters;
  const listedIds = async (variables: Record<string, unknown>, token?: string): Promise<string[]> =>
    (await list({ first: 100, ...variables }, token)).edges.map((e: any) => e.node.id);

  it('creates a character with defaults: PRIVATE, a greeting, no tags, empty persona fields', async () => {
    const character = await createCharacter(t, alice.token, { name: '  Marple  ' });
    expect(character).toMatchObject({
      name: 'Marple',
      description: '',
      personality: '',
      scenario: '',
      exampleDialogue: '',
      systemPrompt: '',
      tags: [],
      visibility: 'PRIVATE',
      owner: { id: alice.id },
    });
    expect(character.greeting.trim().length).toBeGreaterThan(0);
    expect(character.greeting).toContain('Marple');
    expect(character.createdAt).toBe(character.updatedAt);
    expect(Date.now() - new Date(character.createdAt).getTime()).toBeLessThan(60_000);
    expect(expectOk(await t.gql(GET, { id: character.id }, alice.token)).character).toEqual(character);
    // A blank greeting is defaulted too; given fields are kept as given.
    const full = await createCharacter(t, alice.token, {
      name: 'Poirot',
      greeting: '   ',
      description: 'A Belgian detective.',
      tags: [' detective ', 'belgian', 'detective'],
      visibility: 'PUBLIC',
    });
    expect(full.greeting).toContain('Poirot');
    expect(full).toMatchObject({ description: 'A Belgian detective.', tags: ['detective', 'belgian'], visibility: 'PUBLIC' });
  });

  it('requires a signed-in caller to create', async () => {
    const res = await t.gql(`mutation { createCharacter(input: { name: "Ghost" }) { id } }`);
    expectError(res, 'UNAUTHENTICATED');
  });

  it("hides a PRIVATE character from everyone but its owner and admins, without an error", async () => {
    const secret = await createCharacter(t, alice.token, { name: 'Secret Agent' });
    for (const token of [bob.token, undefined]) {
      const res = await t.gql(GET, { id: secret.id }, token);
      expect(res).toEqual({ status: 200, data: { character: null }, errors: undefined });
    }
    expect(expectOk(await t.gql(GET, { id: secret.id }, admin.token)).character.id).toBe(secret.id);
    // An id that is no id at all is simply not found.
    expect(expectOk(await t.gql(GET, { id: 'not-a-uuid' }, alice.token)).character).toBeNull();
    expect(expectOk(await t.gql(GET, { id: '00000000-0000-4000-8000-000000000000' }, alice.token)).character).toBeNull();
  });

  it('shows a PUBLIC character to other users and to anonymous callers', async () => {
    const open = await createCharacter(t, alice.token, { name: 'Open Book', visibility: 'PUBLIC' });
    for (const token of [bob.token, undefined]) {
      const seen = expectOk(await t.gql(GET, { id: open.id }, token)).character;
      expect(seen).toMatchObject({ id: open.id, name: 'Open Book', owner: { id: alice.id } });
    }
  });

  it('pages through the list newest first with cursors, without duplicates or gaps', async () => {
    const tag = uniqueWord('page');
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await createCharacter(t, alice.token, { name: `Paged ${i}`, tags: [tag], visibility: 'PUBLIC' })).id);
    for (const token of [bob.token, undefined]) {
      const pages = await readAllPages((after) => list({ first: 3, after, tag }, token));
      expect(pages.map((p) => p.edges.length)).toEqual([3, 3, 1]);
      expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
      expect(pages.map((p) => p.pageInfo.hasPreviousPage)).toEqual([false, true, true]);
      for (const page of pages) {
        expect(page.pageInfo.startCursor).toBe(page.edges[0].cursor);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)!.cursor);
      }
      const nodes = pages.flatMap((p) => p.edges.map((e) => e.node));
      expect(nodes.map((n) => n.id)).toEqual([...created].reverse());
      const times = nodes.map((n) => new Date(n.createdAt).getTime());
      expect(times).toEqual([...times].sort((a, b) => b - a));
    }
    // Past the end: an empty page.
    const last = await list({ first: 3, tag, after: (await list({ first: 7, tag })).pageInfo.endCursor });
    expect(last).toEqual({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null } });
    // first: 0 reads nothing but says there is more.
    const none = await list({ first: 0, tag });
    expect(none.edges).toEqual([]);
    expect(none.pageInfo.hasNextPage).toBe(true);
  });

  it('searches names and descriptions by word, names also by part, case-insensitively', async () => {
    const word = uniqueWord('astro');
    const nameWord = uniqueWord('zorb');
    const byDescription = await createCharacter(t, alice.token, { name: 'Stargazer', description: `A melancholy ${word} from Mars.`, visibility: 'PUBLIC' });
    const byName = await createCharacter(t, bob.token, { name: `${nameWord} the Wanderer`, visibility: 'PUBLIC' });
    const bystander = await createCharacter(t, bob.token, { name: 'Bystander', description: 'Nothing to see.', visibility: 'PUBLIC' });

    expect(await listedIds({ search: word })).toEqual([byDescription.id]);
    expect(await listedIds({ search: word.toUpperCase() }, bob.token)).toEqual([byDescription.id]);
    expect(await listedIds({ search: nameWord })).toEqual([byName.id]);
    expect(await listedIds({ search: nameWord.slice(0, -3) })).toEqual([byName.id]);
    expect(await listedIds({ search: `${nameWord} wanderer` })).toEqual([byName.id]);
    expect(await listedIds({ search: uniqueWord('nothing') })).toEqual([]);
    // LIKE wildcards are matched literally, and query syntax never breaks the search.
    for (const search of ['%', '_', '%%', '"unclosed', '!&|():*', "o'hara", '\\']) {
      const found = await listedIds({ search });
      expect([search, found.includes(bystander.id)]).toEqual([search, false]);
    }
  });

  it('filters by one exact tag', async () => {
    const tag = uniqueWord('noir');
    const tagged = await createCharacter(t, alice.token, { name: 'Marlowe', tags: [tag, 'detective'], visibility: 'PUBLIC' });
    await createCharacter(t, alice.token, { name: 'Spade', tags: [`${tag}x`], visibility: 'PUBLIC' });
    expect(await listedIds({ tag }, bob.token)).toEqual([tagged.id]);
    expect(await listedIds({ tag: tag.slice(0, -1) }, bob.token)).toEqual([]);
    expect(await listedIds({ tag, search: 'Marlowe' }, bob.token)).toEqual([tagged.id]);
    expect(await listedIds({ tag, search: 'Spade' }, bob.token)).toEqual([]);
  });

  it("never lists other users' PRIVATE characters; owners see their own", async () => {
    const tag = uniqueWord('hidden');
    const hidden = await createCharacter(t, bob.token, { name: `Hidden ${tag}`, tags: [tag] });
    const shown = await createCharacter(t, bob.token, { name: `Shown ${tag}`, tags: [tag], visibility: 'PUBLIC' });
    for (const token of [alice.token, undefined]) {
      expect(await listedIds({ tag }, token)).toEqual([shown.id]);
      expect(await listedIds({ search: tag }, token)).toEqual([shown.id]);
      expect(await listedIds({ search: 'Hidden' }, token)).not.toContain(hidden.id);
    }
    expect(await listedIds({ tag }, bob.token)).toEqual([shown.id, hidden.id]);
    // The unfiltered list of another user holds none of Bob's private characters either.
    const all = (await list({ first: 100 }, alice.token)).edges.map((e: any) => e.node);
    expect(all.filter((n: any) => n.owner.id === bob.id && n.visibility === 'PRIVATE')).toEqual([]);
  });

  it('keeps a character that turns PRIVATE in the conversations already started with it, and nowhere else', async () => {
    const tag = uniqueWord('unlisted');
    const character = await createCharacter(t, alice.token, { name: 'Lestrade', greeting: 'Inspector here.', tags: [tag], visibility: 'PUBLIC' });
    const conversation = await startConversation(t, bob.token, character.id);
    const carol = await t.signUp('Carol');
    expectOk(await t.gql(UPDATE, { id: character.id, input: { visibility: 'PRIVATE' } }, alice.token));

    // Bob's conversation keeps its character, whole, and he can go on chatting.
    const read = await t.gql(`query($id: ID!) { conversation(id: $id) { character { id name greeting visibility } } }`, { id: conversation.id }, bob.token);
    expect(expectOk(read).conversation.character).toEqual({ id: character.id, name: 'Lestrade', greeting: 'Inspector here.', visibility: 'PRIVATE' });
    const mine = expectOk(await t.gql(`{ me { conversations(first: 100) { edges { node { id character { name } } } } } }`, {}, bob.token));
    expect(mine.me.conversations.edges).toContainEqual({ node: { id: conversation.id, character: { name: 'Lestrade' } } });
    expect(expectOk(await t.gql(GET, { id: character.id }, bob.token)).character).toMatchObject({ id: character.id, visibility: 'PRIVATE' });
    const sent = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "Any news?" }) { message { id } } }`, { id: conversation.id }, bob.token);
    expect(expectOk(sent).sendMessage.message.id).toEqual(expect.any(String));
    // Seeing it is not owning it.
    expectError(await t.gql(UPDATE, { id: character.id, input: { name: 'Hijacked' } }, bob.token), 'FORBIDDEN');

    // Nobody else sees it: not listed, not found, no new conversations with it.
    for (const token of [bob.token, carol.token, undefined]) expect(await listedIds({ tag }, token)).toEqual([]);
    for (const token of [carol.token, undefined]) expect(expectOk(await t.gql(GET, { id: character.id }, token)).character).toBeNull();
    const refused = await t.gql(`mutation($id: ID!) { startConversation(input: { characterId: $id }) { id } }`, { id: character.id }, carol.token);
    expectError(refused, 'NOT_FOUND');
  });

  it('lets the owner update: given fields change, updatedAt moves, the rest stays', async () => {
    const original = await createCharacter(t, alice.token, { name: 'Holmes', description: 'Consulting detective.', tags: ['baker-street'] });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const res = await t.gql(UPDATE, { id: original.id, input: { scenario: '221B', tags: ['london'], visibility: 'PUBLIC', name: null } }, alice.token);
    const updated = expectOk(res).updateCharacter;
    expect(updated).toMatchObject({ ...original, scenario: '221B', tags: ['london'], visibility: 'PUBLIC', updatedAt: updated.updatedAt });
    expect(updated.createdAt).toBe(original.createdAt);
    expect(new Date(updated.updatedAt).getTime()).toBeGreaterThan(new Date(original.updatedAt).getTime());
    expect(expectOk(await t.gql(GET, { id: original.id }, bob.token)).character).toEqual(updated);
  });

  it('keeps a greeting when an update blanks it, so conversations still open with one', async () => {
    const character = await createCharacter(t, alice.token, { name: 'Watson', greeting: 'Good evening.' });
    const blanked = expectOk(await t.gql(UPDATE, { id: character.id, input: { greeting: '  ' } }, alice.token)).updateCharacter;
    expect(blanked.greeting.trim().length).toBeGreaterThan(0);
    expect(blanked.greeting).toContain('Watson');
    const renamed = expectOk(await t.gql(UPDATE, { id: character.id, input: { greeting: '', name: 'John Watson' } }, alice.token)).updateCharacter;
    expect(renamed.greeting).toContain('John Watson');
  });

  it("refuses changes by other users: FORBIDDEN when they can see it, NOT_FOUND when they cannot", async () => {
    const open = await createCharacter(t, alice.token, { name: 'Irene', visibility: 'PUBLIC' });
    const secret = await createCharacter(t, alice.token, { name: 'Mycroft' });
    expectError(await t.gql(UPDATE, { id: open.id, input: { name: 'Hijacked' } }, bob.token), 'FORBIDDEN');
    expectError(await t.gql(DELETE, { id: open.id }, bob.token), 'FORBIDDEN');
    expectError(await t.gql(UPDATE, { id: secret.id, input: { name: 'Hijacked' } }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(DELETE, { id: secret.id }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE, { id: open.id, input: { name: 'Hijacked' } }), 'UNAUTHENTICATED');
    expectError(await t.gql(DELETE, { id: open.id }), 'UNAUTHENTICATED');
    expectError(await t.gql(UPDATE, { id: 'not-a-uuid', input: { name: 'X' } }, bob.token), 'NOT_FOUND');
    // Nothing changed.
    expect(expectOk(await t.gql(GET, { id: open.id }, alice.token)).character).toEqual(open);
    expect(expectOk(await t.gql(GET, { id: secret.id }, alice.token)).character).toEqual(secret);
  });

  it("lets an admin update and delete anyone's character", async () => {
    const secret = await createCharacter(t, alice.token, { name: 'Moriarty' });
    const updated = expectOk(await t.gql(UPDATE, { id: secret.id, input: { description: 'Moderated.' } }, admin.token)).updateCharacter;
    expect(updated).toMatchObject({ id: secret.id, description: 'Moderated.', owner: { id: alice.id } });
    expect(expectOk(await t.gql(DELETE, { id: secret.id }, admin.token)).deleteCharacter).toBe(true);
    expect(expectOk(await t.gql(GET, { id: secret.id }, alice.token)).character).toBeNull();
  });

  it('deletes: the character is gone from reads, lists and further changes', async () => {
    const tag = uniqueWord('gone');
    const doomed = await createCharacter(t, alice.token, { name: 'Doomed', tags: [tag], visibility: 'PUBLIC' });
    expect(await listedIds({ tag })).toEqual([doomed.id]);
    expect(expectOk(await t.gql(DELETE, { id: doomed.id }, alice.token)).deleteCharacter).toBe(true);
    for (const token of [alice.token, bob.token, admin.token, undefined]) {
      expect(expectOk(await t.gql(GET, { id: doomed.id }, token)).character).toBeNull();
      expect(await listedIds({ tag }, token)).toEqual([]);
    }
    expectError(await t.gql(DELETE, { id: doomed.id }, alice.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE, { id: doomed.id, input: { name: 'Revived' } }, alice.token), 'NOT_FOUND');
  });
});
