/** Measuring JSON without writing it (json-size.ts): exactly JSON.stringify's UTF-8 bytes, and a stop at the bound. */
import { describe, expect, it } from '@jest/globals';
import { GraphQLError } from 'graphql';
import { jsonByteLength } from './json-size';

const written = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

describe('jsonByteLength', () => {
  it('counts what JSON.stringify writes, byte for byte', () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -0,
      -12.5e-7,
      1e21,
      Number.NaN,
      'plain',
      'quote " backslash \\ newline \n tab \t control \u0001',
      'ünïcödé ✓ 😀 and a lone surrogate \ud800',
      [],
      {},
      [1, 'two', null, undefined, () => 3, { three: [3] }],
      { a: 1, skipped: undefined, fn: () => 1, nested: { deeper: ['x', { y: false }] }, 'key "quoted"': 'v' },
      { when: new Date(0), error: new GraphQLError('boom', { extensions: { code: 'BAD_USER_INPUT' } }) },
      { data: { conversation: { messages: { edges: Array.from({ length: 20 }, (_, i) => ({ node: { id: `m${i}`, content: 'é'.repeat(i) } })) } } } },
    ];
    for (const value of values) expect([value, jsonByteLength(value)]).toEqual([value, written(value)]);
  });

  it('stops counting once past the bound', () => {
    const huge = Array.from({ length: 200_000 }, (_, i) => ({ id: i, text: 'x'.repeat(50) }));
    // Stopped within one element of the bound, not after all 200,000.
    const counted = jsonByteLength(huge, 1_000);
    expect(counted).toBeGreaterThan(1_000);
    expect(counted).toBeLessThan(1_000 + written(huge[0]) + 1);
    expect(jsonByteLength({ a: 'b' }, written({ a: 'b' }))).toBe(written({ a: 'b' }));
  });
});
