import { describe, expect, it } from '@jest/globals';
import { buildPrompt } from '../llm';
import { previewParts } from './preview-parts';

describe('previewParts', () => {
  it('lists every message, with the persona and the active entries (and their keys) right after the system message', () => {
    const prompt = buildPrompt({
      character: {
        name: 'Aria',
        postHistoryInstructions: 'Be brief with {{user}}.',
        persona: { name: 'Sam', description: 'A smuggler.' },
        lorebooks: [{ entries: [{ keys: ['nebula'], content: 'The nebula is cold.' }, { keys: [], constant: true, content: 'Ether.' }] }],
      },
      history: [{ role: 'USER', content: 'Into the nebula!' }],
      contextWindowTokens: 4096,
      maxTokens: 256,
    });
    const parts = previewParts(prompt);
    expect(parts.map((p) => [p.kind, p.role, p.activatedBy])).toEqual([
      ['system', 'system', null],
      ['lorebook', 'system', 'nebula'],
      ['lorebook', 'system', null],
      ['persona', 'system', null],
      ['history', 'user', null],
      ['post-history', 'system', null],
    ]);
    expect(parts[0].content).toContain('The nebula is cold.');
    expect(parts.at(-1)?.content).toBe('Be brief with Sam.');
    expect(parts.filter((p) => p.kind !== 'lorebook' && p.kind !== 'persona').map((p) => p.content)).toEqual(prompt.messages.map((m) => m.content));
  });
});
