/** promptPreview: the prompt the next reply would get, part by part, for the conversation's owner. */
import { requireViewer } from '@chat/shared/auth';
import type { Context } from '../context';
import { chatTarget } from './checks';

/** promptPreview: each part of the prompt with its token count; an archived conversation can still be previewed. */
export async function promptPreview(ctx: Context, conversationId: string) {
  const viewer = requireViewer(ctx.viewer);
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
