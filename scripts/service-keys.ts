/**
 * `npm run -s service-keys >> .env`: a fresh set of service identity keys (packages/shared/src/service-auth.ts)
 * as environment lines, for Docker Compose's `.env` or any deployment's secrets:
 *
 * - SERVICE_PUBLIC_KEYS: every service's public key, which every service is given;
 * - <SERVICE>_SERVICE_PRIVATE_KEYS (GATEWAY_…, USERS_…, …): one service's own private key, which
 *   docker-compose.yml gives that service alone, as its SERVICE_PRIVATE_KEYS.
 *
 * A service holding only its own key can sign only as itself. Values are single-quoted JSON (no
 * JWK holds a quote), as Compose's .env reads them. Keep the output out of git.
 */
import { fileURLToPath } from 'node:url';
import { generateServiceKeySet, SERVICE_NAMES, serviceKeyEnvironment, type ServiceKeySet, type ServiceName } from '@chat/shared/service-auth';

/** The variable holding one service's private key (docker-compose.yml passes it on as that service's SERVICE_PRIVATE_KEYS). */
export const privateKeyVariable = (service: ServiceName): string => `${service.toUpperCase()}_SERVICE_PRIVATE_KEYS`;

/** A key set as `NAME='value'` lines: the public keys, then each service's private key. */
export function serviceKeyLines(set: ServiceKeySet): string[] {
  const line = (name: string, value: string) => `${name}='${value}'`;
  return [
    line('SERVICE_PUBLIC_KEYS', serviceKeyEnvironment(set, []).SERVICE_PUBLIC_KEYS),
    ...SERVICE_NAMES.map((service) => line(privateKeyVariable(service), serviceKeyEnvironment(set, [service]).SERVICE_PRIVATE_KEYS)),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(['# Service identity keys (npm run service-keys): each service signs its calls with its own.', ...serviceKeyLines(generateServiceKeySet())].join('\n'));
}
