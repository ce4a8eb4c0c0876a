/** validateLlmSettings: one tiny real call to the provider and model a conversation would use. */
import { requireViewer } from '@chat/shared/auth';
import { badInput } from '@chat/shared/errors';
import { ModelChoiceError } from '@chat/shared/llm-config';
import { rateLimited } from '@chat/shared/rate-limit';
import type { Context } from '../context';
import type { ConversationSettingsInput } from '../generated/graphql';
import { ProviderKeyDocument } from '../generated/peers/users';

/** Validation calls one user may make a minute: each is a real (if tiny) call to a provider. */
export const VALIDATIONS_PER_MINUTE = 10;

/** The provider's answer to a one-token request (with the caller's own key when they set one): ok with its latency, or its error. */
export async function validateLlmSettings(ctx: Context, settings: ConversationSettingsInput) {
  const viewer = requireViewer(ctx.viewer);
  let choice;
  try {
    choice = ctx.catalogue.choose(settings.provider, settings.model);
  } catch (error) {
    if (error instanceof ModelChoiceError) throw badInput(`settings.${error.field}`, error.message);
    throw error;
  }
  const decision = await ctx.rateLimiter.hit(`llm-validate:${viewer.id}`, VALIDATIONS_PER_MINUTE, 60_000);
  if (!decision.allowed) throw rateLimited(decision, 'LLM validations');
  // With the caller's own key for the provider when they set one: that is what their replies would use.
  const { providerKey } = await ctx.peers.users.call(ProviderKeyDocument, { provider: choice.provider.config.id }, { actingFor: viewer });
  return ctx.catalogue.probe(choice.provider, choice.model.id, providerKey ?? undefined);
}
