/**
 * The Dockerfile, docker-compose.yml and README's configuration table agree with the code
 * (no Docker engine runs here, so this is the review, automated).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { generateServiceKeySet, SERVICE_NAMES } from '@chat/shared/service-auth';
import { privateKeyVariable, serviceKeyLines } from '../../scripts/service-keys';
import { workspaceFolders } from '../../scripts/workspaces';

const file = (path: string) => new URL(`../../${path}`, import.meta.url);
const read = (path: string) => readFileSync(file(path), 'utf8');

/** Every environment variable loadConfig reads. */
function configVariables(): string[] {
  // The configuration, and the LLM providers' part of it (LLM_PROVIDER… and LLM_CONFIG).
  const source = read('packages/shared/src/config.ts') + read('packages/shared/src/llm-config.ts');
  const names = new Set<string>();
  // The keys the example LLM_CONFIG reads from the environment (apiKeyEnv).
  for (const [, name] of read('deploy/llm.example.yaml').matchAll(/apiKeyEnv: ([A-Z][A-Z0-9_]*)/g)) names.add(name);
  for (const [, name] of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(name);
  for (const [, name] of source.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)) names.add(name);
  for (const name of SUBGRAPH_NAMES) names.add(`${name.toUpperCase()}_URL`);
  return [...names].sort();
}

interface ComposeService {
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
const compose = () => parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };

describe('Dockerfile', () => {
  it("installs exactly the lockfile, after copying it and every workspace's package.json, so npm links all @chat/* packages", () => {
    const dockerfile = read('Dockerfile');
    const install = dockerfile.indexOf('RUN npm ci');
    expect(dockerfile.indexOf('COPY package.json package-lock.json')).toBeGreaterThan(0);
    expect(dockerfile.indexOf('COPY package.json package-lock.json')).toBeLessThan(install);
    expect(install).toBeGreaterThan(0);
    for (const dir of workspaceFolders()) {
      const copy = dockerfile.indexOf(`COPY ${dir}/package.json ${dir}/`);
      if (copy < 0 || copy > install) throw new Error(`Dockerfile: add "COPY ${dir}/package.json ${dir}/" before RUN npm ci`);
    }
  });
});

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, Redis, the four subgraphs, the gateway, a load balancer and the trace and metrics stack', () => {
    expect(Object.keys(compose().services).sort()).toEqual(['gateway', 'jaeger', 'lb', 'otel-collector', 'postgres', 'prometheus', 'redis', ...SUBGRAPH_NAMES].sort());
  });

  it('runs two replicas of the gateway and of messages behind the load balancer', () => {
    const { services } = compose() as { services: Record<string, ComposeService & { deploy?: { replicas?: string | number }; ports?: string[]; volumes?: string[] }> };
    expect(String(services.gateway.deploy?.replicas)).toContain('2');
    expect(String(services.messages.deploy?.replicas)).toContain('2');
    expect(services.gateway.ports).toBeUndefined();
    expect(services.lb.ports?.[0]).toMatch(/:80$/);
    const nginx = read('deploy/nginx.conf');
    expect(services.lb.volumes?.[0]).toContain('./deploy/nginx.conf');
    expect(nginx).toContain('server gateway:4000');
    expect(nginx).toContain('proxy_set_header Upgrade $http_upgrade');
  });

  it('starts each service from an entry point that exists', () => {
    const { services } = compose();
    for (const name of SUBGRAPH_NAMES) expect(services[name].command).toEqual(['npx', 'tsx', `subgraphs/${name}/main.ts`]);
    expect(services.gateway.command).toEqual(['npx', 'tsx', 'gateway/src/main.ts']);
    for (const name of [...SUBGRAPH_NAMES, 'gateway']) expect(existsSync(file(services[name].command![2]))).toBe(true);
  });

  it('sets only variables the code reads, and every subgraph URL for every service', () => {
    const known = configVariables();
    const { services } = compose();
    for (const name of [...SUBGRAPH_NAMES, 'gateway']) {
      const env = services[name].environment ?? {};
      for (const variable of Object.keys(env)) {
        if (!known.includes(variable)) throw new Error(`docker-compose.yml: ${name} sets ${variable}, which packages/shared/src/config.ts does not read`);
      }
      for (const subgraph of SUBGRAPH_NAMES) expect(env[`${subgraph.toUpperCase()}_URL`]).toBe(`http://${subgraph}:${new URL(String(services[subgraph].environment![`${subgraph.toUpperCase()}_URL`])).port}/graphql`);
      expect(env.HOST).toBe('0.0.0.0');
    }
    expect(services.users.environment!.JWT_PRIVATE_JWK).toBeDefined();
  });

  it("gives each service its own signing key and every service's public key, as npm run service-keys prints them", () => {
    const { services } = compose();
    for (const name of SERVICE_NAMES) {
      const env = services[name].environment!;
      expect([name, String(env.SERVICE_PRIVATE_KEYS)]).toEqual([name, expect.stringMatching(new RegExp(`^\\$\\{${privateKeyVariable(name)}:\\?`))]);
      expect([name, String(env.SERVICE_PUBLIC_KEYS)]).toEqual([name, expect.stringMatching(/^\$\{SERVICE_PUBLIC_KEYS:\?/)]);
    }
    const printed = serviceKeyLines(generateServiceKeySet()).map((line) => line.slice(0, line.indexOf('=')));
    expect(printed.sort()).toEqual(['SERVICE_PUBLIC_KEYS', ...SERVICE_NAMES.map(privateKeyVariable)].sort());
  });

  it("has the load balancer set X-Forwarded-For to the address it saw, never append to the client's", () => {
    const nginx = read('deploy/nginx.conf');
    expect(nginx).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
    expect(nginx).not.toContain('$proxy_add_x_forwarded_for');
    expect(String(compose().services.gateway.environment!.TRUST_PROXY)).toBe('true');
  });

  it("checks each service's /ready on the port it listens on", () => {
    const { services } = compose();
    for (const name of [...SUBGRAPH_NAMES, 'gateway']) {
      const env = services[name].environment!;
      const port = name === 'gateway' ? String(env.PORT) : new URL(String(env[`${name.toUpperCase()}_URL`])).port;
      expect(services[name].healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${port}/ready`);
    }
    expect(Object.keys(services.gateway.depends_on ?? {}).sort()).toEqual([...SUBGRAPH_NAMES].sort());
  });

  it("sends every service's spans to the collector, which forwards them to Jaeger, and has Prometheus scrape every /metrics", () => {
    const { services } = compose();
    const prometheus = parseYaml(read('deploy/prometheus.yml')) as { scrape_configs: Array<{ dns_sd_configs: Array<{ names: string[]; port: number }> }> };
    const targets = prometheus.scrape_configs.flatMap((job) => job.dns_sd_configs.map((c) => `${c.names[0]}:${c.port}`));
    for (const name of [...SUBGRAPH_NAMES, 'gateway']) {
      const env = services[name].environment!;
      const port = name === 'gateway' ? String(env.PORT) : new URL(String(env[`${name.toUpperCase()}_URL`])).port;
      expect(String(env.OTEL_EXPORTER_OTLP_ENDPOINT)).toContain('http://otel-collector:4318');
      expect(env.OTEL_SERVICE_NAME).toBe(name);
      expect(targets).toContain(`${name}:${port}`);
    }
    const collector = parseYaml(read('deploy/otel-collector.yaml')) as any;
    expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(collector.exporters['otlp/jaeger'].endpoint).toBe('jaeger:4317');
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['otel-collector', 'jaeger', 'prometheus']));
  });
});

describe('README configuration table', () => {
  it('documents every variable packages/shared/src/config.ts reads', () => {
    const readme = read('README.md');
    const start = readme.indexOf('\n## Configuration');
    expect(start).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start + 1);
    const table = readme.slice(start, end < 0 ? undefined : end);
    const missing = configVariables().filter((name) => !table.includes(`\`${name}\``));
    if (missing.length) throw new Error(`README.md: add ${missing.join(', ')} to the Configuration table`);
  });
});
