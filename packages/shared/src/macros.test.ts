import { describe, expect, it } from '@jest/globals';
import { expandMacros, userMacroName } from './macros';

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

describe('userMacroName', () => {
  it("prefers the conversation's persona, then the default persona, then the display name", () => {
    expect(userMacroName({ name: 'Knight' }, { name: 'Def' }, 'sam')).toBe('Knight');
    expect(userMacroName(null, { name: 'Def' }, 'sam')).toBe('Def');
    expect(userMacroName(undefined, null, 'sam')).toBe('sam');
  });
});
