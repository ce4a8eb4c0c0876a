/** The messages service's own metrics: replies, their speed and cost, and the generation queue. */
import { BoundedLabel, LATENCY_BUCKETS, MAX_MODEL_NAMES, METRIC_PREFIX } from '@chat/shared/metrics';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a reply ended, or that it started. */
export type ReplyOutcome = 'started' | 'completed' | 'failed' | 'cancelled';

/** Rates a streaming model reaches, tokens per second. */
const TOKEN_RATE_BUCKETS = [1, 5, 10, 20, 40, 80, 160, 320, 640];

/** Replies, time to first token, token rate, tokens and credits, queue depth and job age, in `registry`. */
export class ReplyMetrics {
  readonly replies: Counter<'outcome'>;
  readonly timeToFirstToken: Histogram<'provider' | 'model'>;
  readonly tokensPerSecond: Histogram<'provider' | 'model'>;
  readonly tokens: Counter<'provider' | 'model' | 'kind'>;
  readonly credits: Counter;
  readonly jobAge: Histogram;
  readonly progressWrites: Counter;
  private readonly models = new BoundedLabel(MAX_MODEL_NAMES);

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.replies = new Counter({ name: `${METRIC_PREFIX}replies_total`, help: 'Replies started and how they ended.', labelNames: ['outcome'], registers });
    this.timeToFirstToken = new Histogram({
      name: `${METRIC_PREFIX}reply_time_to_first_token_seconds`,
      help: 'From asking the provider to its first token.',
      labelNames: ['provider', 'model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tokensPerSecond = new Histogram({
      name: `${METRIC_PREFIX}reply_tokens_per_second`,
      help: 'Completion tokens per second of streaming, per reply.',
      labelNames: ['provider', 'model'],
      buckets: TOKEN_RATE_BUCKETS,
      registers,
    });
    this.tokens = new Counter({ name: `${METRIC_PREFIX}tokens_total`, help: 'Tokens spent, prompt and completion.', labelNames: ['provider', 'model', 'kind'], registers });
    this.credits = new Counter({ name: `${METRIC_PREFIX}credits_charged_total`, help: 'Credits charged for replies.', registers });
    this.jobAge = new Histogram({ name: `${METRIC_PREFIX}generation_job_age_seconds`, help: 'From a reply being queued to a worker starting it.', buckets: LATENCY_BUCKETS, registers });
    // The write load streaming puts on the database (bounded by REPLY_PROGRESS_WRITES_PER_SECOND).
    this.progressWrites = new Counter({ name: `${METRIC_PREFIX}reply_progress_writes_total`, help: 'Texts-so-far of streaming replies written to the database.', registers });
  }

  /** The queue depth gauge, reading `load` at each scrape (the generator calls this once). */
  watchLoad(load: () => Promise<{ generating: number; waiting: number; pending: number }>): void {
    new Gauge({
      name: `${METRIC_PREFIX}generation_queue_depth`,
      help: 'Generation jobs waiting, taken but unfinished (pending), and generating here.',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const now = await load().catch(() => undefined);
        if (!now) return;
        this.set({ state: 'waiting' }, now.waiting);
        this.set({ state: 'pending' }, now.pending);
        this.set({ state: 'generating' }, now.generating);
      },
    });
  }

  /** The model label, bounded (conversations may name any model). */
  model(name: string): string {
    return this.models.of(name);
  }
}
