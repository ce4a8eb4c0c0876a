import { describe, expect, it } from '@jest/globals';
import { chatPersona, expandMacros } from './macros';

const names = { char: 'Aria', user: 'Sam' };

describe('expandMacros', () => {
  it('replaces {{char}} and {{user}} in any case, and V1 <BOT> and <USER>', () => {
    expect(expandMacros('{{char}} greets {{user}}; {{CHAR}} and {{User}}; <BOT> to <USER>, <bot>/<user>', names)).toBe(
      'Aria greets Sam; Aria and Sam; Aria to Sam, Aria/Sam',
    );
  });
  it('keeps names with replacement patterns literal and leaves other braces alone', () => {
    expect(expandMacros('{{user}} {{random}}', { char: 'x', user: '$& $1' })).toBe('$& $1 {{random}}');
  });
});

describe('chatPersona', () => {
  const user = { displayName: 'sam', personas: [{ name: 'Other', isDefault: false }, { name: 'Def', description: 'd', isDefault: true }] };
  it("prefers the conversation's persona, then the default persona, then the display name", () => {
    expect(chatPersona({ name: 'Knight', description: 'k' }, user)).toEqual({ name: 'Knight', description: 'k' });
    expect(chatPersona(null, user)).toEqual({ name: 'Def', description: 'd' });
    expect(chatPersona(undefined, { displayName: 'sam', personas: [{ name: 'Other', isDefault: false }] })).toEqual({ name: 'sam', description: '' });
    expect(chatPersona(null, null)).toEqual({ name: '', description: '' });
  });
});
