import { describe, expect, it } from '@jest/globals';
import { loadConfig } from './config';
import { chooseModel, loadLlmProviders, ModelChoiceError, parseLlmConfig, priceOf } from './llm-config';

const TWO_PROVIDERS = `# a local server for the cheap models, an API for the premium one
providers:
  - id: local
    kind: openai
    baseUrl: http://127.0.0.1:8000/v1
    creditsPerPromptToken: 0.5
    creditsPerCompletionToken: 1
    fallback: cloud
  - id: cloud
    kind: anthropic
    name: Anthropic
    apiKeyEnv: CLOUD_KEY
    models:
      - id: claude-sonnet-4-5
        contextWindowTokens: 200000
        creditsPerPromptToken: 3
        creditsPerCompletionToken: 15
      - claude-haiku-4-5
`;

describe('LLM_CONFIG', () => {
  it('reads a list of providers with their keys from the environment, prices, models and fallback', () => {
    const [local, cloud] = parseLlmConfig(TWO_PROVIDERS, 'llm.yaml', { CLOUD_KEY: 'sk-cloud' });
    expect(local).toMatchObject({ id: 'local', kind: 'openai', name: 'local', models: [], fallback: 'cloud', price: { creditsPerPromptToken: 0.5, creditsPerCompletionToken: 1 } });
    expect(cloud).toMatchObject({ id: 'cloud', kind: 'anthropic', name: 'Anthropic', apiKey: 'sk-cloud', defaultModel: 'claude-sonnet-4-5' });
    expect(cloud.models).toEqual([
      { id: 'claude-sonnet-4-5', contextWindowTokens: 200000, creditsPerPromptToken: 3, creditsPerCompletionToken: 15 },
      { id: 'claude-haiku-4-5', creditsPerPromptToken: 1, creditsPerCompletionToken: 1 },
    ]);
    expect(priceOf(cloud, 'claude-sonnet-4-5')).toEqual({ creditsPerPromptToken: 3, creditsPerCompletionToken: 15 });
    expect(priceOf(local, 'anything-listed')).toEqual({ creditsPerPromptToken: 0.5, creditsPerCompletionToken: 1 });
  });

  it('reads JSON too', () => {
    const json = JSON.stringify({ providers: [{ id: 'demo', kind: 'offline', models: ['demo-1'] }] });
    expect(parseLlmConfig(json, 'llm.json', {})).toMatchObject([{ id: 'demo', kind: 'offline', defaultModel: 'demo-1' }]);
  });

  it.each([
    ['providers: []\n', 'llm.yaml:1: "providers" must be a non-empty list'],
    ['providers:\n  - id: a\n    kind: openai\n', 'llm.yaml:2: missing "baseUrl"'],
    ['providers:\n  - id: a\n    kind: gemini\n', 'llm.yaml:3: kind must be one of openai, anthropic, offline, got "gemini"'],
    ['providers:\n  - id: a\n    kind: offline\n    models: [m]\n    colour: red\n', 'llm.yaml:5: unknown provider field "colour"'],
    ['providers:\n  - id: a\n    kind: offline\n    models: [m]\n    fallback: b\n', 'llm.yaml:5: fallback "b" is not a provider id here (a)'],
    ['providers:\n  - id: a\n    kind: anthropic\n    apiKeyEnv: NOPE\n', 'llm.yaml:4: the environment variable NOPE (apiKeyEnv) is not set'],
    ['providers:\n  - id: a\n    kind: offline\n    models:\n      - id: m\n        creditsPerPromptToken: -1\n', 'llm.yaml:6: "creditsPerPromptToken" must be a number >= 0'],
    ['providers:\n  - id: a\n    kind: offline\n    models: [m]\n  - id: a\n    kind: offline\n    models: [m]\n', 'llm.yaml:5: provider id "a" is used twice'],
    ['providers:\n  - id: a\n   kind: offline\n', 'llm.yaml:3:'],
  ])('refuses a mistake, naming its line: %j', (text, message) => {
    expect(() => parseLlmConfig(text, 'llm.yaml', {})).toThrow(message);
  });

  it('keeps the single-provider variables working as a one-entry list', () => {
    expect(loadLlmProviders({ LLM_PROVIDER: 'openai', LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_MODEL: 'qwen', LLM_API_KEY: 'k' })).toEqual([
      { id: 'openai', kind: 'openai', name: 'openai', baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'k', models: [{ id: 'qwen', creditsPerPromptToken: 1, creditsPerCompletionToken: 1 }], defaultModel: 'qwen', price: { creditsPerPromptToken: 1, creditsPerCompletionToken: 1 } },
    ]);
    const config = loadConfig({});
    expect(config.llm).toMatchObject({ defaultProvider: 'offline', model: 'local-model' });
  });

  it('reports an unreadable LLM_CONFIG as a configuration error', () => {
    expect(() => loadConfig({ LLM_CONFIG: '/nonexistent/llm.yaml' })).toThrow('LLM_CONFIG: cannot read /nonexistent/llm.yaml');
  });
});

describe('deploy/llm.example.yaml', () => {
  it('is a valid LLM_CONFIG, as the README shows it', () => {
    const file = new URL('../../../deploy/llm.example.yaml', import.meta.url).pathname;
    const providers = loadLlmProviders({ LLM_CONFIG: file, ANTHROPIC_API_KEY: 'sk-ant-test' });
    expect(providers.map((p) => [p.id, p.kind, p.fallback])).toEqual([
      ['local', 'openai', 'cloud'],
      ['cloud', 'anthropic', undefined],
    ]);
  });
});

describe('chooseModel', () => {
  const offered = [
    { id: 'local', models: [{ id: 'a' }, { id: 'b' }] },
    { id: 'cloud', defaultModel: 'c2', models: [{ id: 'c1' }, { id: 'c2' }] },
    { id: 'empty', models: [] },
  ];

  it('takes the first provider, its default model, else its first model, when none is named', () => {
    expect(chooseModel(offered, null, null)).toEqual({ provider: offered[0], model: { id: 'a' } });
    expect(chooseModel(offered, 'cloud', undefined).model).toEqual({ id: 'c2' });
    expect(chooseModel(offered, 'cloud', 'c1').model).toEqual({ id: 'c1' });
  });

  it('refuses what is not offered, naming the allowed values and the setting at fault', () => {
    expect(() => chooseModel(offered, 'gemini', null)).toThrow(new ModelChoiceError('provider', 'must be one of local, cloud, empty'));
    expect(() => chooseModel(offered, 'cloud', 'a')).toThrow('must be one of the models of provider "cloud": c1, c2');
    expect(() => chooseModel(offered, 'empty', null)).toThrow('provider "empty" offers no models yet; try again shortly');
    const refusal = (providerId: string, model: string | null) => {
      try {
        chooseModel(offered, providerId, model);
      } catch (error) {
        return error as ModelChoiceError;
      }
      throw new Error('not refused');
    };
    expect([refusal('gemini', null).field, refusal('cloud', 'a').field]).toEqual(['provider', 'model']);
  });
});
