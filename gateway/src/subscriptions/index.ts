/** Federated subscriptions for a stock @apollo/gateway: graphql-ws in front, subgraph WebSockets behind. */
export { attachSubscriptionServer, CLIENT_CLOSE_GRACE_MS } from './server';
export type { AttachSubscriptionServerOptions, SubscriptionServer } from './server';
export type { OpenCount, SocketLimits, SubscriptionAuth } from './connection';
export type { SocketOperationRequest } from './dispatch';
export { createSupergraphPlanner } from './planner';
export type { OperationContext, SubgraphInfo, SubscriptionPlan, SupergraphPlanner, SupergraphPlannerOptions } from './planner';
export { createUpstreamClient, createUpstreamPool, toUpstreamErrors, toWebSocketUrl, upstreamClosedError } from './upstream';
export type { UpstreamPool, UpstreamPoolOptions, UpstreamRequest, UpstreamSink } from './upstream';
export { cachingDataSource, createEntityCache, createEventExecutor } from './execute';
export type { EntityCache, EventExecutor, EventExecutorOptions, GatewayRequestContext } from './execute';
export { startGatewaySubscription, SubscriptionTerminatedError } from './subscribe';
export type { GatewaySubscriptionOptions } from './subscribe';
export { createChannel } from '@chat/shared/channel';
export type { Channel, ChannelWriter } from '@chat/shared/channel';
export * from './protocol';
