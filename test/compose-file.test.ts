/**
 * The deployment files agree with the pipeline they deploy: docker-compose.yml runs Redis so that no job can be
 * evicted or lost on restart, every role under an init with time to drain, one writer, workers whose CPU limit
 * matches their threads; every command it runs exists in the CLI with the flags it passes; and the Dockerfile
 * builds the way CI does, on the glibc base image (docs/adr/0001-glibc-node-slim-base-image.md).
 *
 * No Docker engine is needed: the files are parsed, and the commands are checked against the built CLI.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliPath, repoRoot } from './helpers.js';

interface Service {
  image?: string;
  build?: string | { context?: string; target?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  init?: boolean;
  stop_grace_period?: string;
  volumes?: (string | { source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  environment?: Record<string, string | number | null>;
  deploy?: { replicas?: number; resources?: { limits?: { cpus?: string | number } } };
  profiles?: string[];
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** The roles that consume queues: they must drain on SIGTERM before Docker's SIGKILL. */
const PIPELINE_ROLES = new Set(['produce', 'work', 'write']);

// `merge: true` resolves the `<<: *anchor` keys the file uses to share settings between roles.
const compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as ComposeFile;
const services = Object.entries(compose.services);

/** A compose command as argv (the file uses plain space-separated strings, no shell quoting). */
function argv(service: Service): string[] {
  const { command } = service;
  if (command === undefined) return [];
  return Array.isArray(command) ? command.map(String) : command.trim().split(/\s+/);
}

/** The value following `--flag` in argv, if any. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `60s`, `1m30s`, `500ms` → seconds. */
function durationSeconds(value: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6 };
  let total = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g))
    total += Number(n) * units[unit!]!;
  return total;
}

/** Volume mounts as { source, target }, short syntax (`src:dst[:mode]`) or long. */
function mounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target ?? '' };
    const [source = '', target = source] = v.split(':');
    return { source, target };
  });
}

/** Services built from this repository's Dockerfile (the `dev` builder included). */
function isOurs(service: Service): boolean {
  return service.build !== undefined || (service.image ?? '').startsWith('skillsmith-indexer');
}

/**
 * Services that run the CLI: our image, final stage (not the dev builder, whose command is npm), with the image's
 * entrypoint (not the reader, which runs its own loop script around `search`).
 */
const cliServices = services.filter(
  ([, s]) =>
    isOurs(s) &&
    s.entrypoint === undefined &&
    (typeof s.build !== 'object' || (s.build.target ?? 'runtime') === 'runtime'),
);

describe('docker-compose.yml', () => {
  const redis = compose.services.redis;

  it('runs Redis 7 with a persistent volume and a redis-cli ping healthcheck', () => {
    expect(redis, 'a service named redis').toBeDefined();
    expect(redis!.image).toMatch(/^redis:7/);
    const data = mounts(redis!).find((m) => m.target === '/data');
    expect(data, 'a volume at /data (AOF and RDB files)').toBeDefined();
    expect(Object.keys(compose.volumes ?? {}), 'a named volume, not a container layer').toContain(
      data!.source,
    );
    const test = [redis!.healthcheck?.test ?? []].flat().join(' ');
    expect(test).toContain('redis-cli');
    expect(test).toContain('ping');
  });

  it('configures Redis never to evict and to persist with the AOF', () => {
    // Settings come from the command line, or from a config file of this repo mounted where the command reads it.
    const args = argv(redis!);
    const settings = new Map<string, string>();
    for (const m of mounts(redis!)) {
      if (!args.includes(m.target) || !m.source.startsWith('./')) continue;
      for (const line of readFileSync(join(repoRoot, m.source), 'utf8').split('\n')) {
        const [key, ...rest] = line.trim().split(/\s+/);
        if (key && !key.startsWith('#')) settings.set(key.toLowerCase(), rest.join(' '));
      }
    }
    args.forEach((arg, i) => {
      if (arg.startsWith('--')) settings.set(arg.slice(2).toLowerCase(), args[i + 1] ?? '');
    });
    expect(settings.get('maxmemory-policy'), 'eviction would silently drop queued jobs').toBe('noeviction');
    expect(settings.get('appendonly'), 'without the AOF a Redis restart loses every queued job').toBe('yes');
  });

  it('runs every service under an init process', () => {
    for (const [name, s] of services) expect(s.init, `${name}: init: true`).toBe(true);
  });

  it('gives every pipeline role time to drain its jobs on stop', () => {
    const roles = cliServices.filter(([, s]) => PIPELINE_ROLES.has(argv(s)[0] ?? ''));
    expect(roles.map(([, s]) => argv(s)[0]).sort()).toEqual(['produce', 'work', 'write']);
    for (const [name, s] of roles) {
      expect(s.stop_grace_period, `${name}: stop_grace_period`).toBeDefined();
      expect(durationSeconds(s.stop_grace_period!), `${name}: stop_grace_period`).toBeGreaterThanOrEqual(30);
    }
  });

  it('runs exactly one writer, whose database is on a named volume', () => {
    const writers = cliServices.filter(([, s]) => argv(s)[0] === 'write');
    expect(writers).toHaveLength(1);
    const [, writer] = writers[0]!;
    expect(writer.deploy?.replicas ?? 1).toBe(1);
    const db = flagValue(argv(writer), '--db');
    expect(db, 'write --db PATH').toBeDefined();
    const volume = mounts(writer).find((m) => db!.startsWith(`${m.target}/`));
    expect(volume, `a volume holding ${db}`).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(volume!.source);
  });

  it('runs replicated workers with a CPU limit matched to their threads', () => {
    const workers = cliServices.filter(([, s]) => argv(s)[0] === 'work');
    expect(workers).toHaveLength(1);
    const [, worker] = workers[0]!;
    expect(worker.deploy?.replicas).toBeGreaterThanOrEqual(1);
    const threads = flagValue(argv(worker), '--threads');
    expect(threads, 'work --threads N').toBeDefined();
    expect(Number(worker.deploy?.resources?.limits?.cpus)).toBe(Number(threads));
  });

  it('serves health on the port the image healthcheck probes', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const port = /SKILLSMITH_METRICS_PORT \|\| (\d+)/.exec(dockerfile)?.[1];
    expect(port, "the HEALTHCHECK's default metrics port").toBeDefined();
    for (const [name, s] of cliServices) {
      // A service without a metrics port must bring its own healthcheck instead of the image's.
      // A service on another port sets SKILLSMITH_METRICS_PORT, which the healthcheck reads.
      const own = s.healthcheck?.test !== undefined || s.healthcheck?.disable === true;
      const probed = String(s.environment?.SKILLSMITH_METRICS_PORT ?? port);
      if (!own) expect(flagValue(argv(s), '--metrics-port'), `${name}: --metrics-port`).toBe(probed);
    }
  });

  describe.each(cliServices.map(([name, s]) => [name, argv(s)] as const))('service %s', (_name, args) => {
    it(`runs a CLI command that exists and takes every flag given (${args.join(' ')})`, () => {
      const [command] = args;
      expect(command, 'a command').toBeDefined();
      // Throws (failing the test) unless --help exits 0; an unknown command prints the top-level help instead.
      const help = execFileSync(process.execPath, [cliPath, command!, '--help'], { encoding: 'utf8' });
      expect(help, `\`${command}\` is a command of the CLI`).toMatch(
        new RegExp(`^Usage: skillsmith-index ${command} `, 'm'),
      );
      for (const flag of args.filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
    });
  });
});

describe('Dockerfile', () => {
  // Instructions with their continuation lines joined; comment lines dropped (also inside continuations).
  const instructions = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const named = (keyword: string) => instructions.filter((i) => i.toUpperCase().startsWith(`${keyword} `));

  it('builds every stage on node:22-slim (glibc), its Debian (bookworm-slim), or an earlier stage', () => {
    const stages: string[] = [];
    const froms = named('FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage: the build toolchain stays out of the image
    for (const from of froms) {
      const [, image, stage] = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(from) ?? [];
      expect(
        /^(node:22-slim|debian:bookworm-slim)(@sha256:\w+)?$/.test(image ?? '') ||
          stages.includes(image ?? ''),
        `${from}: node:22-slim, debian:bookworm-slim or an earlier stage`,
      ).toBe(true);
      if (stage) stages.push(stage);
    }
  });

  it('installs and builds with the same npm steps as CI, without the CUDA download', () => {
    const runs = named('RUN').join('\n');
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).toMatch(/\bnpm run build\b/);
    expect(runs).toMatch(/\bnpm prune --omit=dev\b|\bnpm ci\b[^\n]*--omit=dev/);
    expect(instructions.join('\n')).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
  });

  it('never copies node_modules or dist from the host', () => {
    for (const copy of named('COPY').filter((c) => !/--from=/.test(c))) {
      expect(copy).not.toMatch(/node_modules|\bdist\b|^COPY\s+(\S+\s+)*\.\s+\S+$/);
    }
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toContain('node_modules');
    expect(ignored).toContain('dist');
  });

  it('runs the CLI as a non-root user under tini, with a /healthz healthcheck', () => {
    const users = named('USER');
    expect(users.at(-1)).toMatch(/^USER\s+node\b/);
    expect(named('ENTRYPOINT').at(-1)).toBe(
      'ENTRYPOINT ["tini", "--", "node", "dist/bin/skillsmith-index.js"]',
    );
    expect(named('HEALTHCHECK').at(-1)).toContain('/healthz');
  });
});

describe('readers and Redis auth in docker-compose.yml', () => {
  it('gives readers the live file and the snapshots read-only, and the writer the snapshots read-write', () => {
    const reader = compose.services.reader;
    expect(reader?.profiles).toContain('readers');
    const ro = (reader?.volumes ?? []).filter((v): v is string => typeof v === 'string' && v.endsWith(':ro'));
    expect(ro.map((v) => v.split(':')[0])).toEqual(expect.arrayContaining(['skills-db', 'snapshots']));
    expect(mounts(compose.services.writer!).map((m) => m.source)).toContain('snapshots');
  });

  it('passes REDIS_PASSWORD to Redis (requirepass, healthcheck) and to every role', () => {
    const redis = compose.services.redis!;
    expect(argv(redis).join(' ')).toContain('--requirepass ${REDIS_PASSWORD:-}');
    expect([redis.healthcheck?.test ?? []].flat().join(' ')).toContain('REDISCLI_AUTH');
    for (const [name, s] of cliServices) {
      if (argv(s).includes('--redis')) expect(s.environment?.REDIS_PASSWORD, name).toBeDefined();
    }
  });
});
