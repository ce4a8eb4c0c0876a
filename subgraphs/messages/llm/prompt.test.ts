import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { encodeChat } from 'gpt-tokenizer/model/gpt-4o';
import { startFakeLlm, type FakeLlmServer } from '../../../test/support/fake-llm';
import { createOpenAiProvider } from './openai';
import {
  buildPrompt,
  buildSystemMessage,
  SECTION_HEADINGS,
  SUMMARY_BUFFER_MIN_CONTEXT_TOKENS,
  SUMMARY_PREFIX,
  summarizeHistory,
  type HistoryMessage,
  type PromptCharacter,
} from './prompt';
import { countChatMessageTokens, countMessageTokens, countTokens, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE } from './tokens';

const character: PromptCharacter = {
  name: 'Aria',
  description: 'The AI of the starship {{char}} calls home.',
  personality: 'Dry humour, fiercely loyal.',
  scenario: '',
  exampleDialogue: null,
  systemPrompt: 'You are Aria. Never break character.',
};

/** History of `count` alternating messages, oldest first, each tagged with its index. */
const history = (count: number, words = 20): HistoryMessage[] =>
  Array.from({ length: count }, (_, i) => ({
    role: i % 2 === 0 ? 'USER' : 'ASSISTANT',
    content: `#${i} ` + 'talk '.repeat(words).trim(),
  }));

describe('tokens', () => {
  it('counts chat prompts exactly like gpt-tokenizer encodes them for gpt-4o', () => {
    const messages = [
      { role: 'system' as const, content: 'You are Aria.' },
      { role: 'user' as const, content: 'Hi there! <|endoftext|> is just text here.' },
      { role: 'assistant' as const, content: 'Hello, captain.' },
    ];
    // user text containing special-token markup is counted as plain text instead of throwing
    expect(countMessageTokens(messages)).toBe(encodeChat(messages, undefined, { disallowedSpecial: new Set() }).length);
    expect(countChatMessageTokens(messages[2])).toBe(countTokens('Hello, captain.') + TOKENS_PER_MESSAGE);
    expect(countMessageTokens([])).toBe(REPLY_PRIMING_TOKENS);
    expect(countTokens('')).toBe(0);
  });
});

describe('buildSystemMessage', () => {
  it('holds system prompt, description, personality, scenario and example dialogue under headings, skipping empty ones', () => {
    const { role, content } = buildSystemMessage(character);
    expect(role).toBe('system');
    expect(content).toBe(
      [
        'You are Aria. Never break character.',
        `${SECTION_HEADINGS.character}\nName: Aria\nThe AI of the starship Aria calls home.`,
        `${SECTION_HEADINGS.personality}\nDry humour, fiercely loyal.`,
      ].join('\n\n'),
    );
    const full = buildSystemMessage({ ...character, systemPrompt: '  ', scenario: 'Deep space.', exampleDialogue: 'Aria: Hull at 40%.' });
    expect(full.content).toMatch(/^You are Aria\. Stay in character/);
    expect(full.content).toContain(`${SECTION_HEADINGS.scenario}\nDeep space.`);
    expect(full.content).toContain(`${SECTION_HEADINGS.exampleDialogue}\nAria: Hull at 40%.`);
  });
});

describe('character cards in the prompt', () => {
  const card: PromptCharacter = {
    name: 'Aria',
    systemPrompt: 'You are {{char}}, talking with {{USER}}.',
    description: '<BOT> pilots the ship for <user>.',
    personality: '{{char}} teases {{user}}.',
    scenario: '{{user}} boards the ship.',
    exampleDialogue: '{{user}}: hi\n{{char}}: hello',
    postHistoryInstructions: 'Answer {{user}} in one line, as {{char}}.',
    persona: { name: 'Sam', description: '{{user}} is a smuggler who owes {{char}} money.' },
    lorebooks: [
      {
        entries: [
          { keys: ['nebula'], content: 'The nebula hides {{user}}.', enabled: true, insertionOrder: 2 },
          { keys: ['engine'], content: 'The engine is broken.', enabled: true },
          { keys: [], content: 'Ships run on ether.', constant: true, enabled: true, position: 'AFTER_CHARACTER' },
        ],
      },
      { entries: [{ keys: ['NEBULA'], content: 'A second book on the nebula.', enabled: true, insertionOrder: 1 }] },
    ],
  };
  const talk: HistoryMessage[] = [
    { role: 'ASSISTANT', content: 'Welcome aboard.' },
    { role: 'USER', content: 'Hide us in the nebula!' },
  ];

  it('expands macros everywhere, names the persona, places the active entries, and ends with the post-history instructions', () => {
    const built = buildPrompt({ character: card, history: talk, contextWindowTokens: 8192, maxTokens: 512 });
    const system = built.messages[0].content;
    expect(system).not.toMatch(/\{\{|<bot>|<user>/i);
    expect(system).toContain('You are Aria, talking with Sam.');
    expect(system).toContain('Aria pilots the ship for Sam.');
    expect(system).toContain(`${SECTION_HEADINGS.user}\nThe user is Sam.\nSam is a smuggler who owes Aria money.`);
    expect(system).toContain('Sam: hi\nAria: hello');
    // Before the character in insertion order (the second book's earlier one first), the constant one after it.
    const at = (text: string) => system.indexOf(text);
    expect(at('A second book on the nebula.')).toBeLessThan(at('The nebula hides Sam.'));
    expect(at('The nebula hides Sam.')).toBeLessThan(at(SECTION_HEADINGS.character));
    expect(at(SECTION_HEADINGS.character)).toBeLessThan(at('Ships run on ether.'));
    expect(system).not.toContain('The engine is broken.');
    expect(built.messages.at(-1)).toEqual({ role: 'system', content: 'Answer Sam in one line, as Aria.' });
    expect(built.parts.map((p) => p.kind)).toEqual(['system', 'history', 'history', 'post-history']);
    expect(built.sections).toEqual([
      { kind: 'lorebook', content: 'A second book on the nebula.', tokens: expect.any(Number), activatedBy: 'NEBULA' },
      { kind: 'lorebook', content: 'The nebula hides Sam.', tokens: expect.any(Number), activatedBy: 'nebula' },
      { kind: 'lorebook', content: 'Ships run on ether.', tokens: expect.any(Number), activatedBy: null },
      { kind: 'persona', content: expect.stringContaining('Sam is a smuggler'), tokens: expect.any(Number) },
    ]);
    expect(built.totalTokens).toBe(countMessageTokens(built.messages));
  });

  it('pays for the post-history instructions before history, which is dropped first', () => {
    const input = { character: card, history: history(30), contextWindowTokens: 700, maxTokens: 200 };
    const built = buildPrompt(input);
    expect(built.parts.at(-1)?.kind).toBe('post-history');
    expect(built.droppedMessages).toBeGreaterThan(0);
    expect(built.totalTokens).toBeLessThanOrEqual(built.budgetTokens);
  });

  it("expands the macros of the character's messages in the history (greetings stored unexpanded), not the user's", () => {
    const built = buildPrompt({
      character: card,
      history: [
        { role: 'ASSISTANT', content: 'Welcome, {{user}}. I am {{char}}.' },
        { role: 'USER', content: 'What does {{char}} mean?' },
      ],
      contextWindowTokens: 8192,
      maxTokens: 512,
    });
    expect(built.messages.slice(1, 3).map((m) => m.content)).toEqual(['Welcome, Sam. I am Aria.', 'What does {{char}} mean?']);
  });

  it('names the user User without a persona and shows no user section', () => {
    const built = buildPrompt({ character: { ...card, persona: null, lorebooks: null }, history: talk, contextWindowTokens: 8192, maxTokens: 512 });
    expect(built.messages[0].content).toContain('You are Aria, talking with User.');
    expect(built.messages[0].content).not.toContain(SECTION_HEADINGS.user);
    expect(built.sections).toEqual([]);
  });
});

describe('buildPrompt', () => {
  it('keeps everything when it fits', () => {
    const built = buildPrompt({ character, history: history(4), contextWindowTokens: 8192, maxTokens: 512 });
    expect(built.droppedMessages).toBe(0);
    expect(built.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
    expect(built.strategy).toBe('token-buffer');
  });

  it('token buffer: drops the oldest whole messages, keeps the newest in order and fits the budget', () => {
    const input = { character, history: history(30), contextWindowTokens: 600, maxTokens: 200 };
    const built = buildPrompt(input);

    expect(built.strategy).toBe('token-buffer');
    expect(built.budgetTokens).toBe(400);
    expect(built.droppedMessages).toBeGreaterThan(0);
    expect(built.totalTokens).toBeLessThanOrEqual(built.budgetTokens);
    const kept = built.messages.slice(1);
    // newest messages, oldest first, never split
    expect(kept.map((m) => m.content)).toEqual(input.history.slice(built.droppedMessages).map((m) => m.content));
    expect(built.parts.slice(1).map((p) => (p.kind === 'history' ? p.historyIndex : -1))).toEqual(
      kept.map((_, i) => built.droppedMessages + i),
    );
    // the next older message would not have fitted
    const next = input.history[built.droppedMessages - 1];
    expect(built.totalTokens + countChatMessageTokens({ role: 'user', content: next.content })).toBeGreaterThan(built.budgetTokens);
  });

  it('reports per-part token counts that add up to the whole prompt', () => {
    const built = buildPrompt({ character, history: history(12), contextWindowTokens: 1000, maxTokens: 300 });
    built.parts.forEach((part, i) => {
      expect(part.role).toBe(built.messages[i].role);
      expect(part.tokens).toBe(countTokens(built.messages[i].content) + TOKENS_PER_MESSAGE);
    });
    expect(built.parts[0].kind).toBe('system');
    expect(built.totalTokens).toBe(built.parts.reduce((sum, p) => sum + p.tokens, REPLY_PRIMING_TOKENS));
    expect(built.totalTokens).toBe(countMessageTokens(built.messages));
    expect(built.totalTokens).toBe(encodeChat(built.messages).length);
  });

  it('token buffer ignores a summary', () => {
    const built = buildPrompt({ character, history: history(30), contextWindowTokens: 600, maxTokens: 200, summary: 'They met.' });
    expect(built.parts.some((p) => p.kind === 'summary')).toBe(false);
  });

  describe('summary buffer (windows of 128k tokens and more)', () => {
    // 40 messages of ~5k tokens each: far more than 128k
    const long = history(40, 5000);
    const summary = 'Aria and the captain escaped the nebula and argued about coffee.';

    it('includes the summary as a system message when history was dropped, within budget', () => {
      const built = buildPrompt({
        character,
        history: long,
        contextWindowTokens: SUMMARY_BUFFER_MIN_CONTEXT_TOKENS,
        maxTokens: 4096,
        summary,
      });
      expect(built.strategy).toBe('summary-buffer');
      expect(built.droppedMessages).toBeGreaterThan(0);
      expect(built.parts.map((p) => p.kind).slice(0, 3)).toEqual(['system', 'summary', 'history']);
      expect(built.messages[1]).toEqual({ role: 'system', content: SUMMARY_PREFIX + summary });
      expect(built.parts[1].tokens).toBe(countChatMessageTokens(built.messages[1]));
      expect(built.totalTokens).toBeLessThanOrEqual(SUMMARY_BUFFER_MIN_CONTEXT_TOKENS - 4096);
      expect(built.totalTokens).toBe(countMessageTokens(built.messages));
      expect(built.messages.at(-1)?.content).toBe(long.at(-1)?.content);
    });

    it('leaves the summary out when nothing was dropped or none is given', () => {
      const fits = buildPrompt({ character, history: history(4), contextWindowTokens: 200_000, maxTokens: 4096, summary });
      expect(fits.strategy).toBe('summary-buffer');
      expect(fits.parts.some((p) => p.kind === 'summary')).toBe(false);
      const without = buildPrompt({ character, history: long, contextWindowTokens: 200_000, maxTokens: 4096 });
      expect(without.droppedMessages).toBeGreaterThan(0);
      expect(without.parts.some((p) => p.kind === 'summary')).toBe(false);
    });

    it('uses the token buffer just below the threshold', () => {
      const built = buildPrompt({
        character,
        history: long,
        contextWindowTokens: SUMMARY_BUFFER_MIN_CONTEXT_TOKENS - 1,
        maxTokens: 4096,
        summary,
      });
      expect(built.strategy).toBe('token-buffer');
      expect(built.parts.some((p) => p.kind === 'summary')).toBe(false);
    });
  });

  it('rejects a reply reservation that leaves no room for a prompt', () => {
    expect(() => buildPrompt({ character, history: [], contextWindowTokens: 100, maxTokens: 100 })).toThrow(RangeError);
  });
});

describe('summarizeHistory', () => {
  let server: FakeLlmServer;
  beforeAll(async () => {
    server = await startFakeLlm({ tokens: ['They', ' escaped', ' the', ' nebula.', ' '] });
  });
  afterAll(async () => {
    await server.close();
  });

  it('asks the provider for a summary of the transcript and returns the trimmed text', async () => {
    const summary = await summarizeHistory(
      createOpenAiProvider({ baseUrl: server.baseUrl }),
      'summary-model',
      [
        { role: 'USER', content: 'Get us out of the nebula!' },
        { role: 'ASSISTANT', content: 'Engines at full.' },
      ],
      { characterName: 'Aria', previousSummary: 'They met at the docks.' },
    );
    expect(summary).toBe('They escaped the nebula.');
    const [sent] = server.requests;
    expect(sent.body.model).toBe('summary-model');
    expect(sent.body.messages[0].role).toBe('system');
    expect(sent.body.messages[1].content).toBe(
      'Summary so far: They met at the docks.\n\nConversation:\nUser: Get us out of the nebula!\nAria: Engines at full.',
    );
  });
});
