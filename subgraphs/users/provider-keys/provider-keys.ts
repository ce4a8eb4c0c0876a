/**
 * Users' own provider keys in the API: set and deleted by the user themself, listed (last four
 * characters only) for them and admins, and revealed only to the messages service acting for the
 * key's owner, to make that user's replies with it.
 */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { text } from '@chat/shared/validate';
import type { Context } from '../context';
import type { ProviderKey, UserResolvers } from '../generated/graphql';
import type { ProviderKeyInfo } from './provider-key-store';

/** The bounds of a key a user gives: printable ASCII, as every provider's keys are. */
export const API_KEY_MIN = 8;
export const API_KEY_MAX = 500;
const API_KEY_PATTERN = new RegExp(`^[\\x20-\\x7e]{${API_KEY_MIN},${API_KEY_MAX}}$`);
/** The longest provider id (llm-config.ts's PROVIDER_ID_PATTERN allows 40). */
const PROVIDER_ID_MAX = 40;

/** The providers a user may bring a key for: the deployment's, but the offline one (it takes none). */
function keyedProviders(ctx: Context): string[] {
  return ctx.config.llm.providers.filter((p) => p.kind !== 'offline').map((p) => p.id);
}

/** `provider`, when a user may keep a key for it; BAD_USER_INPUT naming those they may. */
function keyedProvider(ctx: Context, provider: string): string {
  const allowed = keyedProviders(ctx);
  if (allowed.includes(provider)) return provider;
  throw badInput('provider', allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : 'no provider of this deployment takes a key of your own');
}

/** A stored key as the contract's ProviderKey (the provider as an entity of the messages subgraph). */
const asProviderKey = (info: ProviderKeyInfo): ProviderKey => ({ provider: { id: info.provider }, last4: info.last4, createdAt: info.created_at });

/** setProviderKey: the caller's key for a provider, stored encrypted (replacing theirs); answers what may be shown of it. */
export async function setProviderKey(ctx: Context, args: { provider: string; apiKey: string }): Promise<ProviderKey> {
  const viewer = requireViewer(ctx.viewer);
  const provider = keyedProvider(ctx, args.provider);
  // Pasted keys often carry a line break or spaces around them; the message never repeats the key.
  const apiKey = args.apiKey.trim();
  if (!API_KEY_PATTERN.test(apiKey)) throw badInput('apiKey', `must be ${API_KEY_MIN} to ${API_KEY_MAX} printable characters`);
  return asProviderKey(await ctx.providerKeys.set(viewer.id, provider, apiKey));
}

/**
 * deleteProviderKey: false when the caller had no key for it. A key for a provider the deployment
 * no longer has can still be deleted; naming one it never had is BAD_USER_INPUT.
 */
export async function deleteProviderKey(ctx: Context, args: { provider: string }): Promise<boolean> {
  const viewer = requireViewer(ctx.viewer);
  const provider = text('provider', args.provider, { min: 1, max: PROVIDER_ID_MAX });
  if (await ctx.providerKeys.delete(viewer.id, provider)) return true;
  keyedProvider(ctx, provider);
  return false;
}

/** User.providerKeys: the user themself and admins; last four characters only, for the providers the deployment has. */
export const userProviderKeys: UserResolvers['providerKeys'] = async (user, _args, ctx) => {
  if (!canAccess(ctx.viewer, user.id)) throw forbidden("Only the user themself and admins may see a user's provider keys.");
  const keyed = keyedProviders(ctx);
  // A provider removed from the configuration is no LlmProvider any more: its key is not listed (nor used).
  return (await ctx.providerKeys.list(user.id)).filter((key) => keyed.includes(key.provider)).map(asProviderKey);
};

/**
 * The key of the user the messages service acts for, for `provider`, decrypted: undefined when
 * they have none, it does not open, or the provider takes none (any more).
 */
export async function ownKeyOf(ctx: Context, userId: string, provider: string | null | undefined): Promise<string | undefined> {
  if (!provider || !keyedProviders(ctx).includes(provider)) return undefined;
  return ctx.providerKeys.reveal(userId, provider);
}

/** Query.providerKey (internal): the messages service only, acting for the key's owner; null when there is none. */
export async function providerKey(ctx: Context, args: { provider: string }): Promise<string | null> {
  const actingFor = requireService(ctx, 'messages');
  return (await ownKeyOf(ctx, actingFor.id, args.provider)) ?? null;
}
