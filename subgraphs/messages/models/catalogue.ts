/** The model catalogue in the graph: llmProviders, the LlmProvider entity and its models. */
import { requireViewer } from '@chat/shared/auth';
import type { Context } from '../context';
import type { LlmProviderKind, Resolvers } from '../generated/graphql';
import type { CatalogueProvider } from '../llm/catalogue';

/** The contract's names of the configured kinds. */
export const PROVIDER_KINDS: Record<CatalogueProvider['config']['kind'], LlmProviderKind> = {
  openai: 'OPENAI_COMPATIBLE',
  anthropic: 'ANTHROPIC',
  offline: 'OFFLINE',
};

/** llmProviders: every configured provider, for signed-in users (what a model picker shows). */
export function llmProviders(ctx: Context): CatalogueProvider[] {
  requireViewer(ctx.viewer);
  return ctx.catalogue.list();
}

/** The fields of LlmProvider and LlmModel. */
export const catalogueResolvers: Pick<Resolvers, 'LlmProvider' | 'LlmModel'> = {
  LlmProvider: {
    __resolveReference: (ref, ctx) => ctx.catalogue.get(ref.id) ?? null,
    id: (provider) => provider.config.id,
    kind: (provider) => PROVIDER_KINDS[provider.config.kind],
    name: (provider) => provider.config.name,
    status: (provider) => provider.status(),
    models: (provider) => provider.models(),
  },
  LlmModel: {
    provider: (model, _args, ctx) => ctx.catalogue.get(model.providerId)!,
    contextWindowTokens: (model) => model.contextWindowTokens ?? null,
  },
};
