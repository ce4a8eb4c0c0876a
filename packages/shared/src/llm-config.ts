/**
 * The LLM providers a deployment talks to: a list read from the file LLM_CONFIG names (YAML or JSON),
 * or the single provider of LLM_PROVIDER / LLM_BASE_URL / LLM_API_KEY / LLM_MODEL as a one-entry list.
 * Errors name the file's line, so an operator finds the mistake at once.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/** Which wire protocol a provider speaks. */
export const LLM_PROVIDER_KINDS = ['openai', 'anthropic', 'offline'] as const;
export type LlmProviderKindName = (typeof LLM_PROVIDER_KINDS)[number];

/** Credits a token costs when nothing else is configured: one for either kind (the behaviour before prices). */
export const DEFAULT_CREDITS_PER_TOKEN = 1;
/** A provider id: what `settings.provider` and `setProviderKey` name. */
export const PROVIDER_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** Credits per prompt token and per completion token. */
export interface ModelPrice {
  creditsPerPromptToken: number;
  creditsPerCompletionToken: number;
}

/** A model an operator configured, with its price and context window. */
export interface LlmModelConfig extends ModelPrice {
  id: string;
  contextWindowTokens?: number;
}

/** One provider of the list. */
export interface LlmProviderConfig {
  id: string;
  kind: LlmProviderKindName;
  /** What people see (default: the id). */
  name: string;
  /** OpenAI-compatible: API base including `/v1`. Anthropic: API origin. */
  baseUrl?: string;
  /** The key itself, read from the environment variable the file names (`apiKeyEnv`). */
  apiKey?: string;
  /** Models configured here: offered even when the provider's models endpoint lists none, priced as given. */
  models: LlmModelConfig[];
  /** The model a conversation on this provider gets when it names none (default: the first configured one). */
  defaultModel?: string;
  /** The price of a model listed by the provider but not configured here. */
  price: ModelPrice;
  /** The provider replies move to while this one is down. */
  fallback?: string;
}

/** The variables the single-provider form reads. */
type Env = Record<string, string | undefined>;

/** A configuration mistake; the message names the variable or the file and line. */
export class LlmConfigError extends Error {}

/** The providers of this deployment, from LLM_CONFIG when set, else from the single-provider variables. */
export function loadLlmProviders(env: Env): LlmProviderConfig[] {
  const file = env.LLM_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new LlmConfigError(`LLM_CONFIG: cannot read ${file} (${(error as Error).message})`);
    }
    return parseLlmConfig(text, file, env);
  }
  return [singleProvider(env)];
}

/** Today's single-provider variables as a one-entry list (id: the kind). */
function singleProvider(env: Env): LlmProviderConfig {
  const kind = (env.LLM_PROVIDER || 'offline') as LlmProviderKindName;
  if (!LLM_PROVIDER_KINDS.includes(kind)) {
    throw new LlmConfigError(`LLM_PROVIDER must be one of ${LLM_PROVIDER_KINDS.join(', ')}, got "${env.LLM_PROVIDER}"`);
  }
  const baseUrl = env.LLM_BASE_URL || (kind === 'openai' ? 'http://localhost:1234/v1' : undefined);
  if (baseUrl !== undefined && !isUrl(baseUrl)) throw new LlmConfigError(`LLM_BASE_URL must be a URL, got "${baseUrl}"`);
  const model = env.LLM_MODEL || (kind === 'anthropic' ? 'claude-sonnet-4-5' : 'local-model');
  const price = { creditsPerPromptToken: DEFAULT_CREDITS_PER_TOKEN, creditsPerCompletionToken: DEFAULT_CREDITS_PER_TOKEN };
  return { id: kind, kind, name: kind, baseUrl, apiKey: env.LLM_API_KEY || undefined, models: [{ id: model, ...price }], defaultModel: model, price };
}

/** Parses and validates an LLM_CONFIG document (YAML, of which JSON is a part). */
export function parseLlmConfig(text: string, file: string, env: Env): LlmProviderConfig[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new LlmConfigError(`${file}:${lineOf(node)}: ${message}`);
  };
  if (doc.errors.length > 0) {
    const [first] = doc.errors;
    throw new LlmConfigError(`${file}:${lineCounter.linePos(first.pos[0]).line}: ${first.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) fail(root, 'expected a mapping with a "providers" list');
  const providersNode = (root as any).get('providers', true) as Node | undefined;
  if (!isSeq(providersNode) || providersNode.items.length === 0) fail(providersNode ?? root, '"providers" must be a non-empty list');
  const seq = providersNode as unknown as { items: Node[] };

  const providers = seq.items.map((item) => provider(item));
  const ids = new Set<string>();
  for (const [i, p] of providers.entries()) {
    if (ids.has(p.id)) fail(seq.items[i], `provider id "${p.id}" is used twice`);
    ids.add(p.id);
  }
  for (const [i, p] of providers.entries()) {
    if (p.fallback === undefined) continue;
    const at = (seq.items[i] as any).get('fallback', true) as Node;
    if (!ids.has(p.fallback)) fail(at, `fallback "${p.fallback}" is not a provider id here (${[...ids].join(', ')})`);
    if (p.fallback === p.id) fail(at, 'a provider cannot fall back to itself');
  }
  return providers;

  function provider(node: Node): LlmProviderConfig {
    if (!isMap(node)) fail(node, 'each provider must be a mapping (id, kind, baseUrl, ...)');
    const map = node as any;
    const known = ['id', 'kind', 'name', 'baseUrl', 'apiKeyEnv', 'models', 'defaultModel', 'creditsPerPromptToken', 'creditsPerCompletionToken', 'fallback'];
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!known.includes(key)) fail(pair.key, `unknown provider field "${key}" (known: ${known.join(', ')})`);
    }
    const id = str(map, 'id', true)!;
    if (!PROVIDER_ID_PATTERN.test(id)) fail(map.get('id', true), `provider id "${id}" must be lowercase letters, digits, - or _ (at most 40)`);
    const kind = str(map, 'kind', true)! as LlmProviderKindName;
    if (!LLM_PROVIDER_KINDS.includes(kind)) fail(map.get('kind', true), `kind must be one of ${LLM_PROVIDER_KINDS.join(', ')}, got "${kind}"`);
    const baseUrl = str(map, 'baseUrl', kind === 'openai');
    if (baseUrl !== undefined && !isUrl(baseUrl)) fail(map.get('baseUrl', true), `baseUrl must be a URL, got "${baseUrl}"`);
    const apiKeyEnv = str(map, 'apiKeyEnv', false);
    if (apiKeyEnv !== undefined && !env[apiKeyEnv]) fail(map.get('apiKeyEnv', true), `the environment variable ${apiKeyEnv} (apiKeyEnv) is not set`);
    const price = {
      creditsPerPromptToken: num(map, 'creditsPerPromptToken') ?? DEFAULT_CREDITS_PER_TOKEN,
      creditsPerCompletionToken: num(map, 'creditsPerCompletionToken') ?? DEFAULT_CREDITS_PER_TOKEN,
    };
    const modelsNode = map.get('models', true) as Node | undefined;
    if (modelsNode !== undefined && !isSeq(modelsNode)) fail(modelsNode, '"models" must be a list of model ids or mappings (id, contextWindowTokens, prices)');
    const models = ((modelsNode as any)?.items ?? []).map((m: Node) => model(m, price));
    const defaultModel = str(map, 'defaultModel', false) ?? models[0]?.id;
    if (kind === 'offline' && models.length === 0) fail(map, 'an offline provider lists its models (it has no models endpoint)');
    return { id, kind, name: str(map, 'name', false) ?? id, baseUrl, apiKey: apiKeyEnv ? env[apiKeyEnv] : undefined, models, defaultModel, price, fallback: str(map, 'fallback', false) };
  }

  function model(node: Node, providerPrice: ModelPrice): LlmModelConfig {
    if (isScalar(node) && typeof node.value === 'string' && node.value) return { id: node.value, ...providerPrice };
    if (!isMap(node)) fail(node, 'a model is an id or a mapping (id, contextWindowTokens, creditsPerPromptToken, creditsPerCompletionToken)');
    const map = node as any;
    const contextWindowTokens = num(map, 'contextWindowTokens');
    if (contextWindowTokens !== undefined && (!Number.isInteger(contextWindowTokens) || contextWindowTokens < 1)) {
      fail(map.get('contextWindowTokens', true), 'contextWindowTokens must be a positive integer');
    }
    return {
      id: str(map, 'id', true)!,
      contextWindowTokens,
      creditsPerPromptToken: num(map, 'creditsPerPromptToken') ?? providerPrice.creditsPerPromptToken,
      creditsPerCompletionToken: num(map, 'creditsPerCompletionToken') ?? providerPrice.creditsPerCompletionToken,
    };
  }

  function str(map: any, key: string, required: boolean): string | undefined {
    const node = map.get(key, true) as Node | undefined;
    if (node === undefined) return required ? fail(map, `missing "${key}"`) : undefined;
    if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') fail(node, `"${key}" must be a non-empty string`);
    return String((node as any).value).trim();
  }

  function num(map: any, key: string): number | undefined {
    const node = map.get(key, true) as Node | undefined;
    if (node === undefined) return undefined;
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value) || node.value < 0) fail(node, `"${key}" must be a number >= 0`);
    return (node as any).value as number;
  }
}

function isUrl(raw: string): boolean {
  try {
    new URL(raw);
    return true;
  } catch {
    return false;
  }
}

/** The price of `model` on `provider`: its own when configured, else the provider's. */
export function priceOf(provider: LlmProviderConfig, model: string): ModelPrice {
  const configured = provider.models.find((m) => m.id === model);
  return configured
    ? { creditsPerPromptToken: configured.creditsPerPromptToken, creditsPerCompletionToken: configured.creditsPerCompletionToken }
    : provider.price;
}

/** A provider as a catalogue offers it: its id, its configured default model, and the models it offers now. */
export interface OfferedProvider<M extends { id: string }> {
  id: string;
  defaultModel?: string;
  models: M[];
}

/** Why a provider or model is refused, naming what may be picked instead; `field` is the setting at fault. */
export class ModelChoiceError extends Error {
  constructor(
    readonly field: 'provider' | 'model',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The provider and model a conversation may ask for among `offered` (the messages subgraph's catalogue, as either
 * subgraph sees it): `providerId` (default: the first provider) and `model` (default: the provider's default model,
 * else the first it offers); ModelChoiceError naming the allowed values otherwise.
 */
export function chooseModel<P extends OfferedProvider<{ id: string }>>(
  offered: readonly P[],
  providerId: string | null | undefined,
  model: string | null | undefined,
): { provider: P; model: P['models'][number] } {
  const provider = providerId == null ? offered[0] : offered.find((p) => p.id === providerId);
  if (!provider) throw new ModelChoiceError('provider', `must be one of ${offered.map((p) => p.id).join(', ')}`);
  const wanted = model ?? provider.defaultModel ?? provider.models[0]?.id;
  const found = provider.models.find((m) => m.id === wanted);
  if (found) return { provider, model: found };
  if (provider.models.length === 0) throw new ModelChoiceError('model', `provider "${provider.id}" offers no models yet; try again shortly`);
  throw new ModelChoiceError('model', `must be one of the models of provider "${provider.id}": ${provider.models.map((m) => m.id).join(', ')}`);
}
