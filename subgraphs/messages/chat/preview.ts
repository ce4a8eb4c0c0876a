/** promptPreview: the prompt the next reply would get, part by part, for the conversation's owner. */
import { requireViewer } from '@chat/shared/auth';
import type { Context } from '../context';
import { rateLimited } from '@chat/shared/rate-limit';
import { chatTarget, RATE_WINDOW_MS } from './checks';
import { previewParts } from './preview-parts';

/** Previews a user may ask for a minute: on a 128k window one can start a summary call to the model, which nobody pays for. */
export const PREVIEWS_PER_MINUTE = 10;

/** promptPreview: each part of the prompt with its token count; an archived conversation can still be previewed. */
export async function promptPreview(ctx: Context, conversationId: string) {
  const viewer = requireViewer(ctx.viewer);
  const decision = await ctx.rateLimiter.hit(`preview:${viewer.id}`, PREVIEWS_PER_MINUTE, RATE_WINDOW_MS);
  if (!decision.allowed) throw rateLimited(decision, 'prompt previews');
  const target = await chatTarget(ctx, viewer, conversationId, true);
  // The next reply answers the active path's last message: the prompt is that path, nothing of other branches.
  const end = await ctx.store.pathEnd(target.conversationId);
  const prompt = await ctx.generator.prompt(target, end?.id ?? null);
  return {
    strategy: prompt.strategy,
    totalTokens: prompt.totalTokens,
    budgetTokens: prompt.budgetTokens,
    droppedMessages: prompt.droppedMessages,
    parts: previewParts(prompt),
  };
}
