import type { PromptCharacter } from '../llm';

/** The model settings of the conversation a reply belongs to. */
export interface ReplySettings {
  /** The provider's id (llm/catalogue.ts); absent in jobs queued before providers were listed (the default one). */
  provider?: string;
  model: string;
  temperature: number;
  maxTokens: number;
  contextWindowTokens: number;
}

/** Everything a worker needs to generate one reply, gathered when it was asked for. It carries no credential: it may wait in Redis. */
export interface GenerationJob {
  replyId: string;
  conversationId: string;
  userId: string;
  settings: ReplySettings;
  character: PromptCharacter;
  /** A continued reply: the key of the continuation's hold (the job is stale once the reply holds under another). */
  continuation?: string;
  /** The trace context of the request that queued it (W3C headers), so the reply joins its trace. */
  trace?: Record<string, string>;
  /** When it was queued (epoch ms), for the job-age metric. */
  enqueuedAt?: number;
}
