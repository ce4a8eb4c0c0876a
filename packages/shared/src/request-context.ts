/** How a subgraph builds each request's context from what all its requests share. */
import type { RequestIdentity } from './subgraph';

/** What every request of a subgraph shares: its context without the caller and the request's own DataLoaders. */
export type SharedContext<TContext> = Omit<TContext, keyof RequestIdentity | 'loaders'>;

/** A request's context: the caller, the shared parts, and DataLoaders made for this request alone (they cache per request). */
export function requestContext<TContext extends RequestIdentity & { loaders: unknown }>(
  identity: RequestIdentity,
  shared: SharedContext<TContext>,
  loaders: TContext['loaders'],
): TContext {
  return { ...identity, ...shared, loaders } as TContext;
}
