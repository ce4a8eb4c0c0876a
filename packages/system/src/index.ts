/**
 * The whole system in one process: the four subgraphs and the gateway from one configuration
 * (`npm start`, tests, benchmarks). Running one service alone is @chat/shared/process's job.
 * The services still sign their calls to one another, each with its own key: the process holds
 * every service's key (generated, in development), so it configures itself.
 */
import { SUBGRAPH_NAMES, type Config, type SubgraphName } from '@chat/shared/config';
import { startSubgraphFrom, type SubgraphDefinition } from '@chat/shared/process';
import { loadServiceKeyring, type ServiceKeyring } from '@chat/shared/service-auth';
import type { RunningSubgraph } from '@chat/shared/subgraph';
import { startGateway, type RunningGateway } from '@chat/gateway';
import { createCharactersSubgraph } from '@chat/characters';
import { createConversationsSubgraph } from '@chat/conversations';
import { createMessagesSubgraph } from '@chat/messages';
import { createUsersSubgraph, type UsersService } from '@chat/users';

/** How each subgraph is built (the users subgraph verifies tokens with its own keys, as its main.ts says too). */
const SUBGRAPHS: { [N in SubgraphName]: SubgraphDefinition<any> } = {
  users: { name: 'users', create: createUsersSubgraph, ownKeys: (users: UsersService) => users.keys.getKey },
  characters: { name: 'characters', create: createCharactersSubgraph },
  conversations: { name: 'conversations', create: createConversationsSubgraph },
  messages: { name: 'messages', create: createMessagesSubgraph },
};

/** Starts one subgraph on its configured port, with its key from `keyring`. */
export function startSubgraph(name: SubgraphName, config: Config, keyring: ServiceKeyring): Promise<RunningSubgraph<any>> {
  return startSubgraphFrom(SUBGRAPHS[name], config, keyring);
}

/** The whole system in one process. */
export interface RunningSystem {
  gateway: RunningGateway;
  subgraphs: Record<SubgraphName, RunningSubgraph<any>>;
  /** The keys every service of the system signs and verifies with. */
  keyring: ServiceKeyring;
  stop(): Promise<void>;
}

/** Starts the four subgraphs, then the gateway in front of them, all with the keys the configuration gives (or generated). */
export async function startSystem(config: Config): Promise<RunningSystem> {
  const keyring = loadServiceKeyring(config);
  const started = await Promise.allSettled(SUBGRAPH_NAMES.map((name) => startSubgraph(name, config, keyring)));
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(running.map((s) => s.close()));
    throw failed.reason;
  }
  const subgraphs = Object.fromEntries(running.map((s) => [s.service.name, s])) as RunningSystem['subgraphs'];
  const gateway = await startGateway(config, keyring).catch(async (error) => {
    await Promise.all(running.map((s) => s.close()));
    throw error;
  });
  return {
    gateway,
    subgraphs,
    keyring,
    async stop() {
      await gateway.close();
      // Messages first: its in-flight replies still charge credits through the users subgraph.
      await subgraphs.messages.close();
      await Promise.all(running.filter((s) => s !== subgraphs.messages).map((s) => s.close()));
    },
  };
}
