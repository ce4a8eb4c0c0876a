import { buildPrompt, summarizeHistory, SUMMARY_MAX_TOKENS, type BuiltPrompt, type HistoryMessage, type ResilientProvider } from '../llm';
import type { MessagesStore } from '../store';
import type { GenerationJob } from './job';

/**
 * The prompt a reply would get now, from the conversation's history before `beforeSeq`. Large
 * windows keep a running summary of what fell out, extended only when more falls out.
 */
export async function replyPrompt(
  deps: { store: MessagesStore; provider: ResilientProvider },
  job: Pick<GenerationJob, 'conversationId' | 'settings' | 'character'>,
  beforeSeq: number,
  signal?: AbortSignal,
): Promise<BuiltPrompt> {
  const { store, provider } = deps;
  const history = await store.history(job.conversationId, beforeSeq);
  const input = { character: job.character, history, contextWindowTokens: job.settings.contextWindowTokens, maxTokens: job.settings.maxTokens };
  const first = buildPrompt(input);
  if (first.strategy !== 'summary-buffer' || first.droppedMessages === 0) return first;
  const saved = await store.summary(job.conversationId);
  let summary = saved?.summary ?? null;
  if (!saved || saved.covered_messages < first.droppedMessages) {
    const fresh = history.slice(saved?.covered_messages ?? 0, first.droppedMessages);
    summary = await summarizeHistory(provider, job.settings.model, fresh, { previousSummary: summary, characterName: job.character.name, signal });
    await store.saveSummary(job.conversationId, summary, first.droppedMessages);
  }
  return buildPrompt({ ...input, summary });
}

/**
 * The most prompt tokens a reply can be asked with now, without calling the model: the prompt
 * that fits, with `pending` (a message about to be stored) as its last message, plus room for the
 * running summary when one is kept. What a hold of credits is sized by.
 */
export async function promptTokenBound(
  store: MessagesStore,
  job: Pick<GenerationJob, 'conversationId' | 'settings' | 'character'>,
  beforeSeq: number,
  pending?: HistoryMessage,
): Promise<number> {
  const history = await store.history(job.conversationId, beforeSeq);
  const built = buildPrompt({
    character: job.character,
    history: pending ? [...history, pending] : history,
    contextWindowTokens: job.settings.contextWindowTokens,
    maxTokens: job.settings.maxTokens,
  });
  const summaryRoom = built.strategy === 'summary-buffer' && built.droppedMessages > 0 ? SUMMARY_MAX_TOKENS : 0;
  return built.totalTokens + summaryRoom;
}
