import { describe, expect, it } from '@jest/globals';
import { KeyedSerializer } from './serial';

describe('KeyedSerializer', () => {
  it('runs tasks of one key one after another, in order, failures included; other keys alongside', async () => {
    const serial = new KeyedSerializer();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => async () => {
      log.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([serial.run('a', task('a1', 30, true)), serial.run('a', task('a2', 1)), serial.run('b', task('b1', 5))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log.indexOf('a2 start')).toBeGreaterThan(log.indexOf('a1 end'));
    expect(log.indexOf('b1 start')).toBeLessThan(log.indexOf('a1 end'));
  });
});
