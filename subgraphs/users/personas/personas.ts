/**
 * Personas in the API: a user's own, listed and changed by them alone. Anyone else's persona is
 * NOT_FOUND, through `_entities` too; admins read them (a conversation they may see shows its
 * persona) but change none.
 */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden, notFound } from '@chat/shared/errors';
import { LIMITS, optionalText, text } from '@chat/shared/validate';
import type { Context } from '../context';
import type { MutationResolvers, PersonaInput, PersonaResolvers, UserResolvers } from '../generated/graphql';
import type { PersonaFields } from './persona-store';

/** The input's fields, checked; only those given (a new persona fills the rest). */
function personaFields(input: PersonaInput): Partial<PersonaFields> & Pick<PersonaFields, 'name'> {
  return {
    name: text('name', input.name, { min: 1, max: LIMITS.displayNameMax }).trim(),
    ...(input.description != null ? { description: optionalText('description', input.description, { max: LIMITS.personaFieldMax }) } : {}),
    ...(input.isDefault != null ? { is_default: input.isDefault } : {}),
  };
}

export const personaMutations: Pick<MutationResolvers, 'createPersona' | 'updatePersona' | 'deletePersona'> = {
  async createPersona(_root, { input }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const fields = personaFields(input);
    const created = await ctx.store.personas.create(viewer.id, { description: '', is_default: false, ...fields }, LIMITS.personasMax);
    if (!created) throw badInput('input', `at most ${LIMITS.personasMax} personas per user`);
    ctx.loaders.persona.prime(created.id, created);
    return created;
  },
  async updatePersona(_root, { id, input }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const updated = await ctx.store.personas.update(viewer.id, id, personaFields(input));
    if (!updated) throw notFound('Persona');
    return updated;
  },
  async deletePersona(_root, { id }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    if (!(await ctx.store.personas.softDelete(viewer.id, id))) throw notFound('Persona');
    return true;
  },
};

export const Persona: PersonaResolvers = {
  async __resolveReference(ref, ctx: Context) {
    const persona = await ctx.loaders.persona.load(ref.id);
    if (!persona || !canAccess(ctx.viewer, persona.owner_id)) throw notFound('Persona');
    return persona;
  },
  isDefault: (persona) => persona.is_default,
  // Personas go with their user (ON DELETE CASCADE): the owner is always there.
  owner: async (persona, _args, ctx) => (await ctx.loaders.user.load(persona.owner_id))!,
  deletedAt: (persona) => persona.deleted_at,
};

/** User.personas: the user themself only. */
export const userPersonas: UserResolvers['personas'] = async (user, _args, ctx) => {
  const viewer = requireViewer(ctx.viewer);
  if (viewer.id !== user.id) throw forbidden("Only the user themself may list their personas.");
  const personas = await ctx.store.personas.ofOwner(user.id);
  for (const persona of personas) ctx.loaders.persona.prime(persona.id, persona);
  return personas;
};
