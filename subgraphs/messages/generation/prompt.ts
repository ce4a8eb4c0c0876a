import { buildPrompt, summarizeHistory, type BuiltPrompt, type ResilientProvider } from '../llm';
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
