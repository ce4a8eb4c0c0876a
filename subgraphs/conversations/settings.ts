/**
 * A conversation's model settings: bounds of each number, and a provider and model that the
 * messages subgraph's catalogue offers (it reads each provider's models in the background).
 */
import type { Viewer } from '@chat/shared/auth';
import { badInput } from '@chat/shared/errors';
import { chooseModel, ModelChoiceError } from '@chat/shared/llm-config';
import { numberIn, text } from '@chat/shared/validate';
import type { Context } from './context';
import type { ConversationSettingsInput } from './generated/graphql';
import { ModelCatalogueDocument } from './generated/peers/messages';
import { mergeLanguage } from './search-language';
import type { ConversationSettings } from './store';

/** Bounds of the model settings a conversation may ask for. */
export const SETTINGS_BOUNDS = {
  temperature: { min: 0, max: 2, default: 0.8 },
  maxTokens: { min: 1, max: 32_768, default: 512 },
  contextWindowTokens: { min: 512, max: 2_000_000, default: 8_192 },
  idMax: 200,
} as const;

/** The settings a conversation stored before providers were listed name none: the default one. */
export function providerOf(ctx: Pick<Context, 'config'>, settings: ConversationSettings): string {
  return settings.provider ?? ctx.config.llm.defaultProvider;
}

/** A new conversation's settings: the defaults (the first provider, its default model) under what `input` asks. */
export function startSettings(ctx: Context, viewer: Viewer, input: ConversationSettingsInput | null | undefined): Promise<ConversationSettings> {
  const defaults: ConversationSettings = {
    provider: ctx.config.llm.defaultProvider,
    model: ctx.config.llm.model ?? '',
    temperature: SETTINGS_BOUNDS.temperature.default,
    maxTokens: SETTINGS_BOUNDS.maxTokens.default,
    contextWindowTokens: SETTINGS_BOUNDS.contextWindowTokens.default,
  };
  return mergeSettings(ctx, viewer, defaults, input, true);
}

/**
 * Settings merged over `base` and validated: each number within its bounds, maxTokens leaving room
 * for the prompt, and (when the provider or model changes, or `choose`) a provider and model of
 * the catalogue, BAD_USER_INPUT naming the allowed ones otherwise.
 */
export async function mergeSettings(
  ctx: Context,
  viewer: Viewer,
  base: ConversationSettings,
  input: ConversationSettingsInput | null | undefined,
  choose = false,
): Promise<ConversationSettings> {
  const merged = { ...base, provider: providerOf(ctx, base) };
  if (input?.temperature != null) {
    const { min, max } = SETTINGS_BOUNDS.temperature;
    merged.temperature = numberIn('settings.temperature', input.temperature, min, max);
  }
  if (input?.maxTokens != null) {
    const { min, max } = SETTINGS_BOUNDS.maxTokens;
    merged.maxTokens = numberIn('settings.maxTokens', input.maxTokens, min, max);
  }
  if (input?.contextWindowTokens != null) {
    const { min, max } = SETTINGS_BOUNDS.contextWindowTokens;
    merged.contextWindowTokens = numberIn('settings.contextWindowTokens', input.contextWindowTokens, min, max);
  }
  const provider = input?.provider == null ? undefined : text('settings.provider', input.provider, { min: 1, max: SETTINGS_BOUNDS.idMax }).trim();
  const model = input?.model == null ? undefined : text('settings.model', input.model, { min: 1, max: SETTINGS_BOUNDS.idMax }).trim();
  if (choose || provider !== undefined || model !== undefined) {
    const chosen = await catalogueChoice(ctx, viewer, provider ?? merged.provider, model ?? (provider === undefined || provider === merged.provider ? merged.model : undefined));
    merged.provider = chosen.provider;
    merged.model = chosen.model;
    // A model's own context window is the conversation's unless it asks for another.
    if (input?.contextWindowTokens == null && chosen.contextWindowTokens) {
      const { min, max } = SETTINGS_BOUNDS.contextWindowTokens;
      merged.contextWindowTokens = Math.min(max, Math.max(min, chosen.contextWindowTokens));
    }
  }
  if (merged.maxTokens >= merged.contextWindowTokens) throw badInput('settings.maxTokens', 'must be less than contextWindowTokens');
  merged.language = mergeLanguage(base, input);
  return merged;
}

/** A provider of the messages subgraph's catalogue and one of its models (`model` unset or empty: its default, else the first it offers). */
async function catalogueChoice(ctx: Context, viewer: Viewer, providerId: string, model: string | undefined) {
  const { llmProviders } = await ctx.peers.messages.call(ModelCatalogueDocument, {}, { actingFor: viewer });
  const offered = llmProviders.map((p) => ({ ...p, defaultModel: ctx.config.llm.providers.find((c) => c.id === p.id)?.defaultModel }));
  try {
    const chosen = chooseModel(offered, providerId, model || undefined);
    return { provider: chosen.provider.id, model: chosen.model.id, contextWindowTokens: chosen.model.contextWindowTokens ?? undefined };
  } catch (error) {
    if (error instanceof ModelChoiceError) throw badInput(`settings.${error.field}`, error.message);
    throw error;
  }
}
