/**
 * The baseline: @apollo/gateway + @apollo/server as their documentation starts them, nothing
 * tuned, plain JavaScript run by plain Node (no tsx, hence no source-map stack traces).
 * `node bench/gateway/gateways/stock.js --port <n> --supergraph <file>`
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

const argument = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const port = Number(argument('port'));
const supergraphSdl = readFileSync(argument('supergraph'), 'utf8');

const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' } });
console.log(`ready ${port}`);
const stop = () => void server.stop().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
