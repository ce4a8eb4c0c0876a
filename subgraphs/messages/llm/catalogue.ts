/**
 * The model catalogue: every configured provider, the models each offers (configured ones, and those its
 * models endpoint lists, read in the background and never on a request's path), their prices, and each
 * provider's health. Replies are routed through it, to a provider's fallback while that provider is down.
 */
import { chooseModel, priceOf, type LlmProviderConfig, type ModelPrice } from '@chat/shared/llm-config';
import type { Logger } from 'pino';
import { createBaseProvider, createLlmProvider } from './index';
import type { ResilientProvider } from './resilient';
import type { LlmConfig } from './types';

/** Longest wait for a models endpoint before the provider counts as down. */
export const MODELS_LIST_TIMEOUT_MS = 5_000;
/** Longest wait for a validation call's answer. */
export const PROBE_TIMEOUT_MS = 15_000;
/** What a validation call asks: the smallest answer a model can give. */
export const PROBE_REQUEST = { messages: [{ role: 'user' as const, content: 'Reply with one word: ok' }], temperature: 0, maxTokens: 1 };

/** A provider's health as the contract names it. */
export type ProviderStatus = 'UP' | 'DOWN' | 'CIRCUIT_OPEN';

/** A model on offer, priced. */
export interface CatalogueModel extends ModelPrice {
  id: string;
  providerId: string;
  contextWindowTokens?: number;
}

/** One provider of the catalogue. */
export interface CatalogueProvider {
  config: LlmProviderConfig;
  /** The client with the deployment's own key (and its breaker). */
  client: ResilientProvider;
  status(): ProviderStatus;
  models(): CatalogueModel[];
}

/** Where a reply goes: the provider and model that will answer, at that model's price. */
export interface Route {
  provider: CatalogueProvider;
  model: string;
  price: ModelPrice;
  /** The provider asked for, when it was down and its fallback answers instead. */
  fellBackFrom?: string;
}

/** The price of a reply on its user's own key. */
const FREE: ModelPrice = { creditsPerPromptToken: 0, creditsPerCompletionToken: 0 };

/** Catalogue of the configured providers. */
export class LlmCatalogue {
  private readonly entries = new Map<string, CatalogueProvider>();
  private readonly listed = new Map<string, string[]>();
  private readonly down = new Set<string>();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(
    private readonly providers: LlmProviderConfig[],
    private readonly config: LlmConfig & { modelsRefreshMs: number },
    private readonly log?: Logger,
  ) {
    for (const provider of providers) {
      const client = createLlmProvider(provider, config);
      this.entries.set(provider.id, {
        config: provider,
        client,
        status: () => (client.breakerState() === 'open' ? 'CIRCUIT_OPEN' : this.down.has(provider.id) ? 'DOWN' : 'UP'),
        models: () => this.modelsOf(provider),
      });
    }
  }

  /** Every provider, in configured order (the first is the default). */
  list(): CatalogueProvider[] {
    return [...this.entries.values()];
  }

  get(id: string): CatalogueProvider | undefined {
    return this.entries.get(id);
  }

  /** The provider a conversation names; the default (first) one when it names none, or one no longer configured. */
  asked(providerId: string | null | undefined): CatalogueProvider {
    return (providerId != null && this.get(providerId)) || this.list()[0];
  }

  /** Reads every models endpoint now, then again every `modelsRefreshMs`, in the background. */
  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.config.modelsRefreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Lists each provider's models (at most one refresh at a time); a provider whose listing fails is DOWN until one succeeds. */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all(this.list().map((entry) => this.refreshOne(entry))).then(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshOne({ config, client }: CatalogueProvider): Promise<void> {
    if (!client.listModels) return;
    try {
      const ids = await client.listModels(AbortSignal.timeout(MODELS_LIST_TIMEOUT_MS));
      this.listed.set(config.id, ids);
      this.down.delete(config.id);
    } catch (error) {
      if (!this.down.has(config.id)) this.log?.warn({ provider: config.id, err: (error as Error).message }, 'LLM provider models endpoint failed: provider DOWN');
      this.down.add(config.id);
    }
  }

  /** The configured models first (their prices), then the listed ones at the provider's price. */
  private modelsOf(provider: LlmProviderConfig): CatalogueModel[] {
    const models: CatalogueModel[] = provider.models.map((m) => ({ ...m, providerId: provider.id }));
    const known = new Set(models.map((m) => m.id));
    for (const id of this.listed.get(provider.id) ?? []) {
      if (known.has(id)) continue;
      known.add(id);
      models.push({ id, providerId: provider.id, ...provider.price });
    }
    return models;
  }

  /**
   * The provider and model a conversation may ask for: `providerId` (default: the first provider) and `model`
   * (default: the provider's default model, else the first it offers); ModelChoiceError naming the allowed values otherwise.
   */
  choose(providerId: string | null | undefined, model: string | null | undefined): { provider: CatalogueProvider; model: CatalogueModel } {
    const offered = this.list().map((entry) => ({ id: entry.config.id, defaultModel: entry.config.defaultModel, models: entry.models(), entry }));
    const chosen = chooseModel(offered, providerId, model);
    return { provider: chosen.provider.entry, model: chosen.model };
  }

  /**
   * One tiny real call to `provider`'s `model` (with `apiKey` when given, else the configured key),
   * outside its breaker so that a user's test never trips it: the latency, or the provider's error.
   */
  async probe(provider: CatalogueProvider, model: string, apiKey?: string): Promise<{ ok: boolean; error: string | null; latencyMs: number }> {
    const client = createBaseProvider(provider.config, this.config, apiKey ?? provider.config.apiKey);
    const started = performance.now();
    try {
      for await (const _chunk of client.stream({ ...PROBE_REQUEST, model, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })) {
        // Consumed to the end: the call counts when the provider finished it.
      }
      return { ok: true, error: null, latencyMs: Math.round(performance.now() - started) };
    } catch (error) {
      return { ok: false, error: (error as Error).message.slice(0, 500), latencyMs: Math.round(performance.now() - started) };
    }
  }

  /** A reply on the user's own key for `providerId`: that provider, never a fallback (which would cost credits), at no charge. */
  withKey(providerId: string | null | undefined, model: string, apiKey: string): Route {
    const provider = this.asked(providerId);
    const client = createLlmProvider(provider.config, this.config, apiKey);
    return { provider: { ...provider, client }, model, price: FREE };
  }

  /**
   * Where a reply on `providerId`/`model` goes: there while the provider is up, else to its configured
   * fallback's default model. A provider no longer configured answers with the default one.
   */
  route(providerId: string | null | undefined, model: string): Route {
    const asked = this.asked(providerId);
    const fallback = asked.config.fallback ? this.get(asked.config.fallback) : undefined;
    if (asked.status() !== 'UP' && fallback && fallback.status() === 'UP') {
      const fallbackModel = fallback.config.defaultModel ?? fallback.models()[0]?.id;
      if (fallbackModel) return { provider: fallback, model: fallbackModel, price: priceOf(fallback.config, fallbackModel), fellBackFrom: asked.config.id };
    }
    return { provider: asked, model, price: priceOf(asked.config, model) };
  }
}
