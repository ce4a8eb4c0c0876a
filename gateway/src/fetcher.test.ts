/** The gateway's keep-alive fetcher (fetcher.ts): the response headers it hands @apollo/gateway. */
import { describe, expect, it } from '@jest/globals';
import { AnswerHeaders } from './fetcher';

describe('response headers', () => {
  it('read Node’s parsed headers case-insensitively and copy them before any change', () => {
    const parsed = { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] };
    const headers = new AnswerHeaders(parsed);
    expect(headers.get('Content-Type')).toBe('application/json');
    expect(headers.get('set-cookie')).toBe('a=1, b=2');
    expect(headers.has('cache-control')).toBe(false);
    headers.append('Cache-Control', 'no-store');
    headers.delete('content-type');
    expect([...headers]).toEqual([
      ['set-cookie', 'a=1, b=2'],
      ['cache-control', 'no-store'],
    ]);
    expect(parsed).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
  });
});
