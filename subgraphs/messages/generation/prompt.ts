import { buildPrompt, summarizeHistory, SUMMARY_MAX_TOKENS, type BuiltPrompt, type HistoryMessage, type ResilientProvider } from '../llm';
import type { MessageRow, MessagesStore, SummaryRow } from '../store';
import type { GenerationJob } from './job';

/** What a prompt is built for: the conversation's settings and character. */
type PromptJob = Pick<GenerationJob, 'conversationId' | 'settings' | 'character'>;

/**
 * The prompt a reply would get now, from the path of the conversation down to `leafId` (the
 * message it answers), and `pending` after it (the text a continued reply goes on from). Large
 * windows keep a running summary of what fell out, extended only when more falls out, and reused
 * only on the branch it summarises: another branch gets a summary of its own history.
 */
export async function replyPrompt(
  deps: { store: MessagesStore; provider: ResilientProvider },
  job: PromptJob,
  leafId: string | null,
  options: { signal?: AbortSignal; pending?: HistoryMessage } = {},
): Promise<BuiltPrompt> {
  const { store, provider } = deps;
  const path = await store.history(leafId);
  const history: HistoryMessage[] = options.pending ? [...path, options.pending] : path;
  const input = { character: job.character, history, contextWindowTokens: job.settings.contextWindowTokens, maxTokens: job.settings.maxTokens };
  const first = buildPrompt(input);
  if (first.strategy !== 'summary-buffer' || first.droppedMessages === 0) return first;
  const saved = summaryOnPath(await store.summary(job.conversationId), path);
  let summary = saved?.summary ?? null;
  if (!saved || saved.covered < first.droppedMessages) {
    const fresh = history.slice(saved?.covered ?? 0, first.droppedMessages);
    summary = await summarizeHistory(provider, job.settings.model, fresh, { previousSummary: summary, characterName: job.character.name, signal: options.signal });
    const through = path[Math.min(first.droppedMessages, path.length) - 1];
    if (through) await store.saveSummary(job.conversationId, summary, first.droppedMessages, through.id);
  }
  return buildPrompt({ ...input, summary });
}

/**
 * The stored summary, when it summarises this history: the last message it covers is on the path,
 * at the place it covered (then it covers the path's first `covered` messages); otherwise none.
 */
export function summaryOnPath(saved: SummaryRow | undefined, path: readonly Pick<MessageRow, 'id'>[]): { summary: string; covered: number } | undefined {
  if (!saved?.covers_through) return undefined;
  const at = path.findIndex((m) => m.id === saved.covers_through);
  return at >= 0 && at + 1 === saved.covered_messages ? { summary: saved.summary, covered: saved.covered_messages } : undefined;
}

/**
 * The most prompt tokens a reply can be asked with now, without calling the model: the prompt
 * that fits the history down to `leafId`, with `pending` (a message about to be stored, or a
 * continued reply's text) as its last message, plus room for the running summary when one is
 * kept. What a hold of credits is sized by.
 */
export async function promptTokenBound(store: MessagesStore, job: PromptJob, leafId: string | null, pending?: HistoryMessage): Promise<number> {
  const history = await store.history(leafId);
  const built = buildPrompt({
    character: job.character,
    history: pending ? [...history, pending] : history,
    contextWindowTokens: job.settings.contextWindowTokens,
    maxTokens: job.settings.maxTokens,
  });
  const summaryRoom = built.strategy === 'summary-buffer' && built.droppedMessages > 0 ? SUMMARY_MAX_TOKENS : 0;
  return built.totalTokens + summaryRoom;
}
