/**
 * The audit trail of admin actions: one structured log line per action (who, what, on what) and a counter per action
 * in the service's metrics, so operators can both read and alert on what admins do.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from './log';
import { METRIC_PREFIX } from './metrics';

/** The message every audit line carries (what log queries select on). */
export const AUDIT_MESSAGE = 'admin action';

/** The counter's name in /metrics. */
export const AUDIT_METRIC = `${METRIC_PREFIX}admin_actions_total`;

/** What an admin did: the admin's id, the action (an operation's name), its target (an id), and a few facts (never secrets or texts). */
export interface AdminAction {
  admin: string;
  action: string;
  target: string;
  details?: Record<string, string | number | boolean | readonly string[]>;
}

/** Records admin actions for one service. */
export class AuditLog {
  private readonly actions: Counter<'action'>;

  constructor(
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.actions = new Counter({ name: AUDIT_METRIC, help: 'Admin actions, by action.', labelNames: ['action'], registers: [registry] });
  }

  /** One line, `audit: true`, with the admin, the action and the target; and the action counted. */
  record(action: AdminAction): void {
    this.log.info({ audit: true, admin: action.admin, action: action.action, target: action.target, ...action.details }, AUDIT_MESSAGE);
    this.actions.inc({ action: action.action });
  }
}
