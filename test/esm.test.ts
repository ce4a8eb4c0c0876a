import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';

describe('module system', () => {
  it('loads ESM-only packages such as jose 6', async () => {
    const token = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('k'.repeat(32)));
    expect(token.split('.')).toHaveLength(3);
  });
});
