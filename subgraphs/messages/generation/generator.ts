import type { Logger } from '@chat/shared/log';
import { contextFrom, inSpan, SpanKind, traceHeaders, type Span, type Tracer } from '@chat/shared/tracing';
import { countTokens, isAbortError, type BuiltPrompt, type ResilientProvider, type TokenUsage } from '../llm';
import type { LlmCatalogue, Route } from '../llm/catalogue';
import type { EventBus } from '../realtime/events';
import type { PartialUsage, ReplyLifecycle } from '../replies/lifecycle';
import type { ReplyMetrics, ReplyOutcome } from '../replies/metrics';
import { onOwnKey, type MessageRow, type MessagesStore } from '../store';
import type { GenerationJob } from './job';
import { replyPrompt } from './prompt';
import type { JobQueue } from './queue';

/**
 * How long one streaming reply waits between progress writes: `flushIntervalMs`, stretched when
 * `generating` replies at that pace would exceed `writesPerSecond` together, so that under load the
 * database (PGlite shares the process) keeps up with the streams rather than delaying them.
 */
export function progressIntervalMs(flushIntervalMs: number, generating: number, writesPerSecond: number): number {
  return Math.max(flushIntervalMs, (generating * 1000) / writesPerSecond);
}

/** What the generator needs from its surroundings. */
export interface GeneratorDeps {
  store: MessagesStore;
  queue: JobQueue;
  bus: EventBus;
  /** The providers replies are routed to (to a fallback while one is down). */
  catalogue: LlmCatalogue;
  /** A user's own key for a provider (from the users subgraph), for their replies that run on it; null when they have none. */
  providerKey: (userId: string, providerId: string) => Promise<string | null>;
  /** Every change of a reply's state goes through it. */
  replies: ReplyLifecycle;
  log: Logger;
  flushIntervalMs: number;
  /** Progress writes a second this instance allows itself, all replies together (see `progressIntervalMs`). */
  progressWritesPerSecond: number;
  concurrency: number;
  metrics: ReplyMetrics;
  tracer: Tracer;
}

/** What one provider stream produced. */
interface StreamOutcome {
  /** False when the reply was taken elsewhere before its first token (nothing more to do). */
  proceeded: boolean;
  finishReason: string;
  usage?: TokenUsage;
  /** Milliseconds from asking the provider to its first token, and to its last. */
  firstTokenMs?: number;
  lastTokenMs?: number;
  /** Pieces received in this stream. */
  pieces: number;
}

/** A reply being generated here. */
interface Inflight {
  replyId: string;
  conversationId: string;
  text: string;
  /** Sequence of the last piece of `text`; -1 before the first. */
  sequence: number;
  abort: AbortController;
}

/**
 * Generates replies: builds each prompt, streams it from the provider, publishes every
 * delta, writes the text as it grows, and ends the reply through the lifecycle.
 */
export class ReplyGenerator {
  private readonly inflight = new Map<string, Inflight>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: GeneratorDeps) {
    deps.metrics.watchLoad(() => this.load());
  }

  /** Starts taking jobs from the queue, and listening for cancel requests from any instance. */
  start(): void {
    this.deps.bus.onCancelRequest((replyId) => this.inflight.get(replyId)?.abort.abort());
    this.deps.queue.consume((job, delivery) => this.run(job, delivery), this.deps.concurrency);
  }

  /** Queues a reply; a worker (here or on another instance) starts it as soon as it has room. */
  /** Removes an erased user's jobs from the queue (JobQueue.forgetUser). */
  forgetUser(userId: string): Promise<number> {
    return this.deps.queue.forgetUser(userId);
  }

  enqueue(job: GenerationJob): Promise<void> {
    return this.deps.queue.enqueue({ ...job, trace: traceHeaders(), enqueuedAt: Date.now() });
  }

  /** Stops a reply generated here and waits until it has ended; false when it is not running here (see requestCancel). */
  async cancel(replyId: string): Promise<boolean> {
    const running = this.inflight.get(replyId);
    if (!running) return false;
    running.abort.abort();
    await this.running.get(replyId);
    return true;
  }

  /** Replies generating here, and jobs waiting in (or taken from but not finished by) the queue. */
  async load(): Promise<{ generating: number; waiting: number; pending: number }> {
    return { generating: this.inflight.size, ...(await this.deps.queue.depth()) };
  }

  /** The newest dead-lettered jobs. */
  deadLetters(limit: number) {
    return this.deps.queue.deadLetters(limit);
  }

  /** Stops taking jobs and lets the running replies finish. */
  drain(): Promise<void> {
    return this.deps.queue.close();
  }

  /** Assembles the prompt a reply answering `leafId` would get now (also used by promptPreview); `llm` writes summaries (default: the job's provider). */
  prompt(
    job: Pick<GenerationJob, 'conversationId' | 'settings' | 'character'>,
    leafId: string | null,
    options?: Parameters<typeof replyPrompt>[3],
    llm: ResilientProvider = this.deps.catalogue.route(job.settings.provider, job.settings.model).provider.client,
  ): Promise<BuiltPrompt> {
    return replyPrompt({ store: this.deps.store, provider: llm }, job, leafId, options);
  }

  private run(job: GenerationJob, delivery: number): Promise<void> {
    // The reply's span continues the trace of the request that queued it, across the queue.
    const attributes = { 'chat.reply.id': job.replyId, 'chat.conversation.id': job.conversationId, 'chat.job.delivery': delivery };
    const generating = inSpan(this.deps.tracer, 'reply generate', { kind: SpanKind.CONSUMER, attributes, parent: contextFrom(job.trace) }, (span) =>
      this.generate(job, delivery, span),
    );
    const run = generating.finally(() => this.running.delete(job.replyId));
    this.running.set(job.replyId, run);
    return run;
  }

  /**
   * Generates one reply. A job delivered again after its worker died finds the reply STREAMING:
   * it continues from the text so far (the model is asked to go on from it) and keeps numbering
   * deltas where they stopped, so subscribers' concatenated deltas stay equal to the content. A
   * continued reply starts STREAMING with its stored text, which the model goes on from: its deltas
   * (numbered from 0) carry only the new text, and only the new text is charged.
   */
  private async generate(job: GenerationJob, delivery: number, span: Span): Promise<void> {
    const { store, bus, catalogue, log, metrics, replies } = this.deps;
    const reply = await store.byId(job.replyId);
    if (!reply) return;
    const continuing = job.continuation !== undefined;
    // A continuation's job is stale once the reply was continued again (or never continued under this hold).
    if (continuing && reply.hold_key !== job.continuation) return;
    const resuming = reply.status === 'STREAMING' && delivery > 1;
    if (reply.status !== 'PENDING' && !resuming && !(continuing && reply.status === 'STREAMING')) return;
    const progress = resuming ? (await bus.progress(job.conversationId)).find((p) => p.replyId === job.replyId) : undefined;
    const state: Inflight = {
      replyId: job.replyId,
      conversationId: job.conversationId,
      text: progress?.text ?? (continuing ? reply.content : ''),
      sequence: progress?.sequence ?? -1,
      abort: new AbortController(),
    };
    // Text an earlier generation wrote: never charged again.
    const priorChars = continuing ? (reply.continued_from ?? 0) : 0;
    if (resuming) log.info({ replyId: job.replyId, delivery, from: state.sequence }, 'continuing a reply whose worker stopped');
    else if (job.enqueuedAt) metrics.jobAge.observe(Math.max(0, Date.now() - job.enqueuedAt) / 1000);
    metrics.replies.inc({ outcome: 'started' });
    this.inflight.set(job.replyId, state);
    const startedAt = Date.now();
    let route: Route;
    try {
      route = await this.routeOf(job, reply);
    } catch (error) {
      this.inflight.delete(job.replyId);
      await replies.fail(job.replyId, readable(error));
      return;
    }
    const provider = route.provider.client;
    if (route.fellBackFrom) log.warn({ replyId: job.replyId, from: route.fellBackFrom, to: provider.name, model: route.model }, 'provider down: the reply comes from its fallback');
    const model = metrics.model(route.model);
    let streamed: StreamOutcome | undefined;
    let writing: Promise<void> = Promise.resolve();
    let outcome: ReplyOutcome = 'failed';
    // Tokens of the prompt once the provider is asked: a reply ended early still used them.
    let asked: PartialUsage | undefined;
    try {
      // The history it answers is the path above it; text already written is the model's to go on from.
      const pending = state.text ? { role: 'ASSISTANT' as const, content: state.text } : undefined;
      const prompt = await this.prompt(job, reply.parent_id, { signal: state.abort.signal, pending }, provider);
      asked = { promptTokens: prompt.totalTokens, priorChars, price: route.price };
      streamed = await this.stream(job, route, state, prompt.messages, resuming || continuing, (saving) => (writing = saving(writing)));
      if (!streamed.proceeded) return;
      await writing;
      const usage = streamed.usage;
      const promptTokens = usage?.promptTokens ?? prompt.totalTokens;
      const completionTokens = usage?.completionTokens ?? countTokens(state.text.slice(priorChars));
      const totalTokens = usage?.totalTokens ?? promptTokens + completionTokens;
      metrics.tokens.inc({ provider: provider.name, model, kind: 'prompt' }, promptTokens);
      metrics.tokens.inc({ provider: provider.name, model, kind: 'completion' }, completionTokens);
      const streamingMs = (streamed.lastTokenMs ?? 0) - (streamed.firstTokenMs ?? 0);
      if (streamingMs > 0 && completionTokens > 1) metrics.tokensPerSecond.observe({ provider: provider.name, model }, (completionTokens - 1) / (streamingMs / 1000));
      span.setAttributes({ 'gen_ai.usage.input_tokens': promptTokens, 'gen_ai.usage.output_tokens': completionTokens });
      const done = await replies.complete(
        job.replyId,
        {
          content: state.text,
          model: route.model,
          provider: provider.name,
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: totalTokens,
          finish_reason: streamed.finishReason,
          latency_ms: Date.now() - startedAt,
          first_token_ms: streamed.firstTokenMs === undefined ? null : Math.round(streamed.firstTokenMs),
        },
        route.price,
      );
      if (done) outcome = 'completed';
    } catch (error) {
      await writing;
      const cancelled = isAbortError(error) && state.abort.signal.aborted;
      outcome = cancelled ? 'cancelled' : 'failed';
      const ending = { content: state.text, model: route.model, provider: provider.name, latency_ms: Date.now() - startedAt };
      // The provider is paid for a prompt it read: charged once a token came back, not for a refused call.
      const used = state.sequence >= 0 ? asked : undefined;
      if (cancelled) await replies.cancel(job.replyId, ending, used);
      else if (await replies.fail(job.replyId, readable(error), ending, used)) log.warn({ replyId: job.replyId, err: error }, 'reply failed');
    } finally {
      this.inflight.delete(job.replyId);
      if (streamed?.proceeded !== false) {
        metrics.replies.inc({ outcome });
        span.setAttribute('chat.reply.outcome', outcome);
        // One line per reply: how it went, never what it said.
        log.info(
          {
            replyId: job.replyId,
            conversationId: job.conversationId,
            userId: job.userId,
            outcome,
            provider: provider.name,
            model: route.model,
            delivery,
            timeToFirstTokenMs: streamed?.firstTokenMs === undefined ? undefined : Math.round(streamed.firstTokenMs),
            pieces: streamed?.pieces ?? 0,
            latencyMs: Date.now() - startedAt,
          },
          'reply',
        );
      }
    }
  }

  /**
   * The provider that answers and the model's price: with the user's own key, their provider at no
   * charge; otherwise the asked provider, or its fallback while it is down.
   */
  private async routeOf(job: GenerationJob, reply: MessageRow): Promise<Route> {
    const { catalogue, providerKey } = this.deps;
    if (!onOwnKey(reply)) return catalogue.route(job.settings.provider, job.settings.model);
    const providerId = catalogue.asked(job.settings.provider).config.id;
    const key = await providerKey(job.userId, providerId);
    if (!key) throw new Error(`your own key for ${providerId} was removed; set it again, or regenerate to use credits.`);
    return catalogue.withKey(providerId, job.settings.model, key);
  }

  /**
   * Streams the reply from the provider in a span of its own (time to first token, pieces, finish):
   * publishes every delta and hands progress writes to `queueWrite`, which runs them one at a time.
   * `streaming`: the reply is STREAMING already (resumed, or continued), so its first token changes no state.
   */
  private stream(
    job: GenerationJob,
    route: Route,
    state: Inflight,
    messages: BuiltPrompt['messages'],
    streaming: boolean,
    queueWrite: (saving: (previous: Promise<void>) => Promise<void>) => void,
  ): Promise<StreamOutcome> {
    const { store, bus, log, metrics, tracer, replies, flushIntervalMs, progressWritesPerSecond } = this.deps;
    const provider = route.provider.client;
    const attributes = { 'gen_ai.system': provider.name, 'gen_ai.request.model': route.model, 'gen_ai.request.max_tokens': job.settings.maxTokens };
    return inSpan(tracer, `llm ${provider.name} stream`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const asked = performance.now();
      const outcome: StreamOutcome = { proceeded: true, finishReason: 'stop', pieces: 0 };
      let flushed = Date.now();
      for await (const chunk of provider.stream({
        model: route.model,
        messages,
        temperature: job.settings.temperature,
        maxTokens: job.settings.maxTokens,
        signal: state.abort.signal,
      })) {
        if (chunk.type === 'done') {
          outcome.finishReason = chunk.finishReason;
          outcome.usage = chunk.usage;
          continue;
        }
        if (chunk.text === '') continue;
        if (state.sequence === -1 && !streaming && !(await replies.startStreaming(job.replyId))) return { ...outcome, proceeded: false };
        if (outcome.firstTokenMs === undefined) {
          outcome.firstTokenMs = performance.now() - asked;
          metrics.timeToFirstToken.observe({ provider: provider.name, model: metrics.model(route.model) }, outcome.firstTokenMs / 1000);
          span.addEvent('first token');
        }
        outcome.lastTokenMs = performance.now() - asked;
        outcome.pieces += 1;
        state.text += chunk.text;
        state.sequence += 1;
        await bus.publish(job.conversationId, { kind: 'REPLY_DELTA', messageId: job.replyId, delta: chunk.text, sequence: state.sequence });
        if (Date.now() - flushed >= progressIntervalMs(flushIntervalMs, this.inflight.size, progressWritesPerSecond)) {
          flushed = Date.now();
          const text = state.text;
          // Progress writes run behind the stream, one at a time, never holding up the next token.
          metrics.progressWrites.inc();
          queueWrite((previous) => previous.then(() => store.saveProgress(job.replyId, text)).catch((err) => log.warn({ err }, 'saving reply progress failed')));
        }
      }
      span.setAttributes({
        'gen_ai.response.finish_reasons': [outcome.finishReason],
        'llm.time_to_first_token_ms': Math.round(outcome.firstTokenMs ?? -1),
        'llm.pieces': outcome.pieces,
        ...(outcome.usage ? { 'gen_ai.usage.input_tokens': outcome.usage.promptTokens, 'gen_ai.usage.output_tokens': outcome.usage.completionTokens } : {}),
      });
      return outcome;
    });
  }
}

/** A failure (an error, or what went wrong in words) as a user can read it. */
function readable(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `The character could not reply: ${message}`.slice(0, 1000);
}

/** Ends a reply whose job failed every delivery (the queue's dead-letter hook). */
export function abandonReply(replies: ReplyLifecycle) {
  return async (job: GenerationJob, deliveries: number): Promise<void> => {
    await replies.fail(job.replyId, readable(`generation failed ${deliveries} times.`));
  };
}
