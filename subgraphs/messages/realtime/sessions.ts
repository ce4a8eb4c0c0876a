import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '@chat/shared/log';
import { METRIC_PREFIX } from '@chat/shared/metrics';
import type { CallIdentity, PeerClient } from '@chat/shared/peer-client';
import { RecordSessionDocument } from '../generated/peers/conversations';
import type { MessagesStore } from '../store';
import type { Presence } from './presence';

/**
 * Chat sessions: a conversation is in session while someone subscribes to it; when the last
 * subscriber has been gone for the grace period, the session closes and the conversation's
 * statistics are brought up to date in the conversations subgraph.
 */
export class SessionTracker {
  private readonly timers = new Set<NodeJS.Timeout>();
  private subscribers = 0;

  constructor(
    private readonly deps: { presence: Presence; store: MessagesStore; conversations: PeerClient; log: Logger; graceMs: number },
  ) {}

  /** A subscriber arrived. */
  join(conversationId: string): Promise<void> {
    this.subscribers += 1;
    return this.deps.presence.join(conversationId, new Date());
  }

  /** Subscriptions to conversation events open on this instance. */
  openSubscriptions(): number {
    return this.subscribers;
  }

  /** A subscriber left; the session is reported for them (`user`) if it closes. */
  async leave(conversationId: string, user: CallIdentity): Promise<void> {
    this.subscribers = Math.max(0, this.subscribers - 1);
    if ((await this.deps.presence.leave(conversationId)) > 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.close(conversationId, user).catch((err) => this.deps.log.warn({ err, conversationId }, 'closing a chat session failed'));
    }, this.deps.graceMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Stops waiting on sessions (at shutdown; another instance or the next session reports them). */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async close(conversationId: string, user: CallIdentity): Promise<void> {
    const startedAt = await this.deps.presence.close(conversationId);
    if (!startedAt) return;
    const totals = await this.deps.store.totals(conversationId);
    const endedAt = new Date();
    // Kept here too: Conversation.stats counts sessions without asking the conversations subgraph.
    await this.deps.store.analytics.recordSession(conversationId, startedAt, endedAt);
    await this.deps.conversations.call(
      RecordSessionDocument,
      { input: { conversationId, startedAt: startedAt.toISOString(), endedAt: endedAt.toISOString(), ...totals } },
      { actingFor: user },
    );
  }
}

/** The gauge of conversationEvents subscriptions open on this instance (read from `sessions` at each scrape). */
export function watchOpenSubscriptions(registry: Registry, sessions: Pick<SessionTracker, 'openSubscriptions'>): void {
  new Gauge({
    name: `${METRIC_PREFIX}conversation_subscriptions`,
    help: 'conversationEvents subscriptions open on this messages instance.',
    registers: [registry],
    collect() {
      this.set(sessions.openSubscriptions());
    },
  });
}
