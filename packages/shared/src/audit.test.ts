/** The audit trail: a structured line per admin action and a counter per action. */
import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AUDIT_MESSAGE, AUDIT_METRIC, AuditLog } from './audit';

describe('AuditLog', () => {
  it('writes who did what to what as one JSON line, and counts it by action', async () => {
    const lines: any[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const registry = new Registry();
    const audit = new AuditLog(pino({ name: 'users' }, sink), registry);
    audit.record({ admin: 'admin-1', action: 'grantCredits', target: 'user-9', details: { amount: 50 } });
    audit.record({ admin: 'admin-1', action: 'grantCredits', target: 'user-8' });
    audit.record({ admin: 'admin-2', action: 'setModerationPolicy', target: 'moderation-policy', details: { refuse: ['SPAM'] } });
    expect(lines).toEqual([
      expect.objectContaining({ msg: AUDIT_MESSAGE, audit: true, admin: 'admin-1', action: 'grantCredits', target: 'user-9', amount: 50 }),
      expect.objectContaining({ msg: AUDIT_MESSAGE, audit: true, admin: 'admin-1', action: 'grantCredits', target: 'user-8' }),
      expect.objectContaining({ msg: AUDIT_MESSAGE, admin: 'admin-2', action: 'setModerationPolicy', refuse: ['SPAM'] }),
    ]);
    const metrics = await registry.metrics();
    expect(metrics).toContain(`${AUDIT_METRIC}{action="grantCredits"} 2`);
    expect(metrics).toContain(`${AUDIT_METRIC}{action="setModerationPolicy"} 1`);
  });
});
