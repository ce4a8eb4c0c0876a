/** importCharacter and exportCharacter: characters to and from the community's card files. */
import { requireViewer } from '@chat/shared/auth';
import { visibleCharacter } from '../access';
import type { MutationResolvers } from '../generated/graphql';
import { encodeCard } from './encode';
import { readCardImport } from './import';

export const cardMutations: Pick<MutationResolvers, 'importCharacter' | 'exportCharacter'> = {
  async importCharacter(_root, { input }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const { fields, attachments } = await readCardImport(input.file, input.visibility);
    return ctx.store.create(viewer.id, fields, attachments);
  },
  async exportCharacter(_root, { id, format }, ctx) {
    const character = await visibleCharacter(ctx, id);
    const [lorebook, image] = await Promise.all([
      ctx.loaders.characterLorebook.load(character.id),
      character.image_etag ? ctx.store.images.data(character.id) : undefined,
    ]);
    const file = await encodeCard({ character, lorebook, image }, format);
    return { filename: file.filename, mimeType: file.mimeType, base64: file.data.toString('base64') };
  },
};
