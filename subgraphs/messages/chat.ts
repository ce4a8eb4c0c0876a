import { requireViewer, type Viewer } from '@chat/shared/auth';
import { badInput, conflict, contractError, ErrorCode, notFound } from '@chat/shared/errors';
import { createChannel } from '@chat/shared/channel';
import { rateLimited } from '@chat/shared/rate-limit';
import { LIMITS, text } from '@chat/shared/validate';
import type { ConversationEvent } from './events';
import { moderate, SPAM_RECENT_MESSAGES } from './moderation';
import type { GenerationJob } from './generation';
import type { Context } from './context';
import type { MessageRow } from './store';

/** The most messages one conversation may hold (the seeds' limit). */
export const MAX_MESSAGES_PER_CONVERSATION = 10_000;
/** The rate limit's window. */
export const RATE_WINDOW_MS = 60_000;
const CLIENT_MESSAGE_ID_MAX = 200;

const CONVERSATION_QUERY = /* GraphQL */ `
  query ChatConversation($id: ID!) {
    conversation(id: $id) {
      id status user { id } character { id }
      settings { model temperature maxTokens contextWindowTokens }
    }
  }`;
const CHARACTER_QUERY = /* GraphQL */ `
  query ChatCharacter($reps: [_Any!]!) {
    _entities(representations: $reps) { ... on Character { name description personality scenario exampleDialogue systemPrompt } }
  }`;
const CREDITS_QUERY = /* GraphQL */ `query ChatCredits { me { credits } }`;
const ACTIVITY_MUTATION = /* GraphQL */ `mutation ChatActivity($id: ID!) { recordActivity(conversationId: $id) }`;

interface ChatConversation {
  id: string;
  status: 'ACTIVE' | 'ARCHIVED';
  user: { id: string };
  character: { id: string };
  settings: GenerationJob['settings'];
}

/** The conversation as the caller may chat in it: their own, active (unless `allowArchived`), with its character's persona. */
async function chatTarget(ctx: Context, viewer: Viewer, conversationId: string, allowArchived = false): Promise<Omit<GenerationJob, 'replyId'>> {
  const auth = { authorization: ctx.authorization };
  const { conversation } = await ctx.conversations.request<{ conversation: ChatConversation | null }>(CONVERSATION_QUERY, { id: conversationId }, auth);
  if (!conversation || conversation.user.id !== viewer.id) throw notFound('Conversation');
  if (conversation.status !== 'ACTIVE' && !allowArchived) throw conflict('The conversation is archived; unarchive it to chat.');
  const { _entities } = await ctx.characters.request<{ _entities: Array<GenerationJob['character'] | null> }>(
    CHARACTER_QUERY,
    { reps: [{ __typename: 'Character', id: conversation.character.id }] },
    auth,
  );
  const character = _entities[0];
  if (!character) throw notFound('Character');
  return { conversationId: conversation.id, userId: viewer.id, authorization: ctx.authorization, settings: conversation.settings, character };
}

/** A failure of our own infrastructure (e.g. Redis unreachable) that a retry may fix. */
function unavailable(message: string) {
  return contractError(ErrorCode.INTERNAL_SERVER_ERROR, message, { retryable: true });
}

/** RATE_LIMITED past the per-minute limit, INSUFFICIENT_CREDITS at zero credits. */
async function checkAllowance(ctx: Context, viewer: Viewer): Promise<void> {
  const decision = await ctx.rateLimiter.hit(`messages:${viewer.id}`, ctx.config.rateLimitMessagesPerMinute, RATE_WINDOW_MS).catch((err) => {
    // Rate limits and the queue share Redis: without it a message would be queued into nothing.
    ctx.log.error({ err }, 'rate limiter unavailable');
    throw unavailable('Chat is temporarily unavailable; please try again in a moment.');
  });
  if (!decision.allowed) throw rateLimited(decision, 'messages');
  const { me } = await ctx.users.request<{ me: { credits: number } | null }>(CREDITS_QUERY, {}, { authorization: ctx.authorization });
  if (!me || me.credits <= 0) throw contractError(ErrorCode.INSUFFICIENT_CREDITS, 'You have no credits left.');
}

async function publishCreated(ctx: Context, ...messages: MessageRow[]): Promise<void> {
  for (const message of messages) {
    await ctx.bus.publish(message.conversation_id, { kind: 'MESSAGE_CREATED', messageId: message.id, message });
  }
}

/** sendMessage: the checks in the contract's order, then the message and a PENDING reply, stored together, and the reply queued. */
export async function sendMessage(ctx: Context, input: { conversationId: string; content: string; clientMessageId?: string | null }) {
  const viewer = requireViewer(ctx.viewer);
  const target = await chatTarget(ctx, viewer, input.conversationId);
  const clientMessageId = input.clientMessageId == null ? null : text('clientMessageId', input.clientMessageId, { min: 1, max: CLIENT_MESSAGE_ID_MAX });
  if (clientMessageId) {
    const earlier = await ctx.store.exchangeByClientId(target.conversationId, clientMessageId);
    if (earlier) return earlier;
  }
  const content = text('content', input.content, { min: 1, max: LIMITS.messageMax });
  const moderationFlags = moderate(content, await ctx.store.recentFrom(target.conversationId, viewer.id, SPAM_RECENT_MESSAGES));
  const refused = (await ctx.store.moderationPolicy()).filter((flag) => moderationFlags.includes(flag));
  if (refused.length > 0) {
    throw contractError(ErrorCode.BAD_USER_INPUT, `content: refused by the content policy (${refused.join(', ')})`, { field: 'content', flags: refused });
  }
  if ((await ctx.store.countInPlace(target.conversationId)) >= MAX_MESSAGES_PER_CONVERSATION) {
    throw conflict(`A conversation holds at most ${MAX_MESSAGES_PER_CONVERSATION} messages; start a new one.`);
  }
  await checkAllowance(ctx, viewer);
  const exchange = await ctx.store.createExchange({ conversationId: target.conversationId, authorId: viewer.id, content, clientMessageId, moderationFlags });
  // A concurrent send with the same clientMessageId won the race: answer with its exchange.
  if (!exchange) return (await ctx.store.exchangeByClientId(target.conversationId, clientMessageId!))!;
  await publishCreated(ctx, exchange.message, exchange.reply);
  const reply = await queueReply(ctx, { ...target, replyId: exchange.reply.id }, exchange.reply);
  ctx.conversations
    .request(ACTIVITY_MUTATION, { id: target.conversationId }, { authorization: ctx.authorization })
    .catch((err) => ctx.log.warn({ err }, 'recording conversation activity failed'));
  return { message: exchange.message, reply };
}

/** Queues a stored reply (returned as stored); if the queue cannot take it, the reply ends FAILED rather than waiting forever. */
async function queueReply(ctx: Context, job: GenerationJob, reply: MessageRow): Promise<MessageRow> {
  try {
    await ctx.generator.enqueue(job);
    return reply;
  } catch (err) {
    ctx.log.error({ err, replyId: job.replyId }, 'queueing a reply failed');
    const failed = await ctx.store.finish(job.replyId, { status: 'FAILED', finish_reason: 'error', error: 'The reply could not be queued; regenerate it to try again.' });
    if (failed) await ctx.bus.publish(failed.conversation_id, { kind: 'REPLY_FAILED', messageId: failed.id, message: failed, error: failed.error }).catch(() => undefined);
    return failed ?? (await ctx.store.byId(job.replyId)) ?? reply;
  }
}

/** A reply of the caller's (or, for admins, anyone's) conversation; NOT_FOUND otherwise. */
async function reachableReply(ctx: Context, messageId: string, mayRead: (ctx: Context, id: string) => Promise<boolean>): Promise<MessageRow> {
  requireViewer(ctx.viewer);
  const message = await ctx.store.byId(messageId);
  if (!message || !(await mayRead(ctx, message.conversation_id))) throw notFound('Message');
  if (message.role !== 'ASSISTANT' || !message.reply_to) throw badInput('messageId', 'is not a reply to a message');
  return message;
}

/** How long a cancel waits for the instance generating the reply to end it, before ending it here. */
export const REMOTE_CANCEL_WAIT_MS = 2_000;

/** Ends an open reply as CANCELLED, keeping its text so far. */
async function stopReply(ctx: Context, reply: MessageRow): Promise<MessageRow> {
  if (await ctx.generator.cancel(reply.id)) return (await ctx.store.byId(reply.id))!;
  if (reply.status === 'STREAMING') {
    // Generated elsewhere: its instance ends it, so no delta follows the final event.
    await ctx.bus.requestCancel(reply.id);
    const deadline = Date.now() + REMOTE_CANCEL_WAIT_MS;
    while (Date.now() < deadline) {
      const now = await ctx.store.byId(reply.id);
      if (now && now.status !== 'PENDING' && now.status !== 'STREAMING') return now;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  // Not started anywhere (still queued), or its worker is gone: end it here.
  const ended = await ctx.store.finish(reply.id, { status: 'CANCELLED', finish_reason: 'cancelled' });
  if (!ended) return (await ctx.store.byId(reply.id))!;
  await ctx.bus.publish(ended.conversation_id, { kind: 'REPLY_CANCELLED', messageId: ended.id, message: ended });
  return ended;
}

/** cancelReply: stops the reply; one already ended is returned as it is. */
export async function cancelReply(ctx: Context, messageId: string, mayRead: (ctx: Context, id: string) => Promise<boolean>) {
  const reply = await reachableReply(ctx, messageId, mayRead);
  return reply.status === 'PENDING' || reply.status === 'STREAMING' ? stopReply(ctx, reply) : reply;
}

/** regenerateReply: the conversation's latest reply is replaced by a new one from the same history. */
export async function regenerateReply(ctx: Context, messageId: string, mayRead: (ctx: Context, id: string) => Promise<boolean>) {
  const viewer = requireViewer(ctx.viewer);
  const old = await reachableReply(ctx, messageId, mayRead);
  const target = await chatTarget(ctx, viewer, old.conversation_id);
  if (old.replaced_by) throw conflict('This reply has already been replaced.');
  const latest = await ctx.store.latest(old.conversation_id);
  if (latest?.id !== old.id) throw conflict('Only the latest reply of a conversation can be regenerated.');
  await checkAllowance(ctx, viewer);
  if (old.status === 'PENDING' || old.status === 'STREAMING') await stopReply(ctx, old);
  const reply = await ctx.store.replaceReply(old);
  await publishCreated(ctx, reply);
  return queueReply(ctx, { ...target, replyId: reply.id }, reply);
}

/** promptPreview: the prompt the next reply would get, for the conversation's owner. */
export async function promptPreview(ctx: Context, conversationId: string) {
  const viewer = requireViewer(ctx.viewer);
  // An archived conversation can still be previewed.
  const target = await chatTarget(ctx, viewer, conversationId, true);
  const prompt = await ctx.generator.prompt(target, Number.MAX_SAFE_INTEGER);
  return {
    strategy: prompt.strategy,
    totalTokens: prompt.totalTokens,
    budgetTokens: prompt.budgetTokens,
    droppedMessages: prompt.droppedMessages,
    parts: prompt.parts.map((part, i) => ({ kind: part.kind, role: part.role, tokens: part.tokens, content: prompt.messages[i].content })),
  };
}

/**
 * conversationEvents: live events of one conversation. A subscriber joining while a reply
 * streams first gets its text so far as one delta; later deltas continue from there.
 * The iterator's return() ends it at once (graphql-ws calls it when the client leaves).
 */
export async function conversationEvents(ctx: Context, conversationId: string, mayRead: (ctx: Context, id: string) => Promise<boolean>): Promise<AsyncGenerator<ConversationEvent>> {
  requireViewer(ctx.viewer);
  if (!(await mayRead(ctx, conversationId))) throw notFound('Conversation');
  let stopListening: (() => void) | undefined;
  let closed = false;
  const channel = createChannel<ConversationEvent>(() => {
    closed = true;
    stopListening?.();
    void ctx.sessions.leave(conversationId, ctx.authorization).catch((err) => ctx.log.warn({ err }, 'leaving a chat session failed'));
  });
  // Live events wait here until the text so far of streaming replies has been sent.
  const early: ConversationEvent[] = [];
  let replaying = true;
  const caughtUp = new Map<string, number>();
  const forward = (event: ConversationEvent) => {
    if (event.kind === 'REPLY_DELTA' && (caughtUp.get(event.messageId) ?? -1) >= (event.sequence ?? 0)) return;
    channel.writer.push(event);
  };
  stopListening = await ctx.bus.listen(
    conversationId,
    (event) => (replaying ? early.push(event) : forward(event)),
    () => channel.writer.fail(unavailable('Live events were interrupted; subscribe again to catch up.')),
  );
  await ctx.sessions.join(conversationId);
  for (const progress of await ctx.bus.progress(conversationId)) {
    // A reply that ended before this subscriber joined is history, unless its last events reached us.
    if (progress.ended && !early.some((event) => event.messageId === progress.replyId)) continue;
    caughtUp.set(progress.replyId, progress.sequence);
    channel.writer.push({ kind: 'REPLY_DELTA', messageId: progress.replyId, delta: progress.text, sequence: progress.sequence });
  }
  replaying = false;
  early.forEach(forward);
  if (closed) stopListening();
  return channel.iterator;
}
