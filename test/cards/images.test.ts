/**
 * Character images as clients load them, from the gateway's avatarUrl: the re-encoded bytes with
 * their content type, an ETag (304 when the client has it) and cache headers; a private
 * character's image only through its signed URL, and not once that has expired or been altered.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { startTestSystem, type TestSystem } from '../support/system';
import { expectOk, START_TIMEOUT_MS } from '../e2e/helpers';
import { imageUrls } from '../../subgraphs/characters/images/urls';
import { cardV2, picture, pngCard } from './fixtures';
import { importCard } from './helpers';

const SECRET = 'test-image-url-secret-0123456789abcdef';
const CREATE = /* GraphQL */ `mutation($input: CharacterInput!) { createCharacter(input: $input) { id avatarUrl } }`;
const UPDATE = /* GraphQL */ `mutation($id: ID!, $input: CharacterUpdateInput!) { updateCharacter(id: $id, input: $input) { id avatarUrl visibility } }`;
const GET = /* GraphQL */ `query($id: ID!) { character(id: $id) { avatarUrl } }`;

describe('character images (pglite)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };

  const create = async (input: Record<string, unknown>) => expectOk(await t.gql(CREATE, { input }, alice.token)).createCharacter;
  const avatarOf = async (id: string, token?: string) => expectOk(await t.gql(GET, { id }, token)).character?.avatarUrl ?? null;

  beforeAll(async () => {
    t = await startTestSystem('pglite', { IMAGE_URL_SECRET: SECRET });
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it("serves a public character's image from the gateway: WebP, an ETag, public caching, 304 when unchanged", async () => {
    const character = await create({ name: 'Pictured', visibility: 'PUBLIC', avatar: (await picture('jpeg', 2000, 3000)).toString('base64') });
    const url = new URL(character.avatarUrl);
    expect(url.origin).toBe(new URL(t.gatewayUrl).origin);
    expect(url.pathname).toBe(`/images/characters/${character.id}`);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const body = Buffer.from(await response.arrayBuffer());
    expect(Number(response.headers.get('content-length'))).toBe(body.length);
    const meta = await sharp(body).metadata();
    expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({ format: 'webp', width: 1024, height: 1536 });
    // The client has it: 304, no body, same headers.
    const again = await fetch(url, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    expect((await fetch(url, { headers: { 'if-none-match': '"something-else"' } })).status).toBe(200);
    const head = await fetch(url, { method: 'HEAD' });
    expect({ status: head.status, type: head.headers.get('content-type') }).toEqual({ status: 200, type: 'image/webp' });
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    // Anyone, signed in or not, loads it; a new image is a new version (URL and ETag).
    expect((await fetch(await avatarOf(character.id, bob.token))).status).toBe(200);
    const replaced = expectOk(await t.gql(UPDATE, { id: character.id, input: { avatar: (await picture('png', 30, 30)).toString('base64') } }, alice.token)).updateCharacter;
    expect(replaced.avatarUrl).not.toBe(character.avatarUrl);
    const fresh = await fetch(replaced.avatarUrl, { headers: { 'if-none-match': etag! } });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).not.toBe(etag);
  });

  it('serves what a card PNG looked like, without its card text, and 404s a character without an image', async () => {
    const character = await importCard(t, alice.token, await pngCard({ v2: cardV2('Card face') }), 'PUBLIC');
    const body = Buffer.from(await (await fetch(character.avatarUrl)).arrayBuffer());
    expect(body.includes(Buffer.from('chara'))).toBe(false);
    expect(body.includes(Buffer.from('Nautilus'))).toBe(false);
    const plain = await create({ name: 'Faceless', visibility: 'PUBLIC' });
    expect(plain.avatarUrl).toBeNull();
    const missing = await fetch(new URL(`/images/characters/${plain.id}`, t.gatewayUrl));
    expect(missing.status).toBe(404);
    expect((await fetch(new URL('/images/characters/not-an-id', t.gatewayUrl))).status).toBe(404);
    // Removing the image: no URL, and the old one answers 404.
    const pictured = await create({ name: 'Soon faceless', visibility: 'PUBLIC', avatar: (await picture('webp')).toString('base64') });
    expect(expectOk(await t.gql(UPDATE, { id: pictured.id, input: { avatar: '' } }, alice.token)).updateCharacter.avatarUrl).toBeNull();
    expect((await fetch(pictured.avatarUrl)).status).toBe(404);
  });

  it("serves a private character's image only through a signed URL, not expired and not altered", async () => {
    const character = await create({ name: 'Hidden face', avatar: (await picture('png')).toString('base64') });
    const signed = new URL(character.avatarUrl);
    expect(signed.searchParams.get('exp')).toMatch(/^\d+$/);
    expect(signed.searchParams.get('sig')).toBeTruthy();
    const ok = await fetch(signed);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    expect(Number(/max-age=(\d+)/.exec(ok.headers.get('cache-control')!)![1])).toBeLessThanOrEqual(3600);
    // Others see no URL (they do not see the character).
    expect(await avatarOf(character.id, bob.token)).toBeNull();
    const refused = async (url: URL) => {
      const response = await fetch(url);
      expect({ url: url.search, status: response.status }).toEqual({ url: url.search, status: 404 });
      expect(response.headers.get('content-type')).not.toContain('image');
    };
    const bare = new URL(signed);
    bare.searchParams.delete('exp');
    bare.searchParams.delete('sig');
    await refused(bare);
    const altered = new URL(signed);
    altered.searchParams.set('sig', `${signed.searchParams.get('sig')!.slice(0, -2)}AA`);
    await refused(altered);
    const extended = new URL(signed);
    extended.searchParams.set('exp', String(Number(signed.searchParams.get('exp')) + 3600));
    await refused(extended);
    // A URL signed with this deployment's key hours ago has expired.
    const old = imageUrls(t.config.images.publicUrl, Buffer.from(SECRET, 'utf8')).url(character.id, 'v', false, new Date(Date.now() - 3 * 3600_000));
    await refused(new URL(old));
    // The same signature for another character opens nothing.
    const other = await create({ name: 'Other face', avatar: (await picture('png')).toString('base64') });
    const borrowed = new URL(other.avatarUrl);
    borrowed.searchParams.set('exp', signed.searchParams.get('exp')!);
    borrowed.searchParams.set('sig', signed.searchParams.get('sig')!);
    await refused(borrowed);
  });

  it('closes the open URL when a character becomes private, and opens it when it becomes public', async () => {
    const character = await create({ name: 'Shy', visibility: 'PUBLIC', avatar: (await picture('png')).toString('base64') });
    const open = new URL(character.avatarUrl);
    expect(open.searchParams.has('sig')).toBe(false);
    expect((await fetch(open)).status).toBe(200);
    const hidden = expectOk(await t.gql(UPDATE, { id: character.id, input: { visibility: 'PRIVATE' } }, alice.token)).updateCharacter;
    expect((await fetch(open)).status).toBe(404);
    expect(new URL(hidden.avatarUrl).searchParams.has('sig')).toBe(true);
    expect((await fetch(hidden.avatarUrl)).status).toBe(200);
    expectOk(await t.gql(UPDATE, { id: character.id, input: { visibility: 'PUBLIC' } }, alice.token));
    expect((await fetch(open)).status).toBe(200);
  });
});
