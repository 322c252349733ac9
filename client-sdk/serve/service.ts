import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { cleanEventStream } from '../../shared/data/clean.js';
import { readEvents } from '../../shared/data/readers/index.js';
import { ConfigError } from '../../shared/errors.js';
import type { BackendChoice } from '../../shared/tf/backend.js';
import { LocalProfiler } from '../local-profiler.js';
import { merchantJson, type MerchantEndpoint, type MerchantFederationInfo } from '../merchant-http.js';
import { profileServiceApp } from './app.js';
import { ProfileState } from './profile-state.js';

export interface ProfileServiceOptions {
  /** The merchant's events (any supported format): profiled at start. */
  data: string;
  hashKey: string;
  knownCategories?: readonly string[];
  knownItems?: readonly string[];
  /** Bearer token the merchant's own systems present (16+ characters). */
  authToken: string;
  /** The model: a saved directory, or the coordinator (enrolment token), which is then polled for new rounds. */
  model: { modelDir: string } | MerchantEndpoint;
  /** How often to ask the coordinator for a newer model (default 60 s; 0 = never). */
  modelPollMs?: number;
  port?: number;
  host?: string;
  backend?: BackendChoice;
  logger?: Logger;
}

export interface RunningProfileService {
  url: string;
  port: number;
  state: ProfileState;
  /** Asks the coordinator for a newer model now; resolves true when one was loaded. */
  checkModel(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Starts `fedprofile serve`: loads the model and the merchant's events, profiles every user, then serves them.
 * The only outbound traffic is the model poll (GET /api/v1/merchant/federation and the model files) when the
 * model comes from a coordinator; events and profiles never leave this process.
 */
export async function startProfileService(opts: ProfileServiceOptions): Promise<RunningProfileService> {
  if (opts.authToken.length < 16) throw new ConfigError('the service token must be at least 16 characters');
  const profilerOpts = { hashKey: opts.hashKey, knownCategories: opts.knownCategories, knownItems: opts.knownItems, backend: opts.backend };
  const profiler = await LocalProfiler.open({ ...profilerOpts, ...opts.model });
  const { users } = await cleanEventStream(readEvents({ path: opts.data }));
  const state = new ProfileState(profiler);
  const t0 = performance.now();
  await state.load(users);
  opts.logger?.info({ users: state.users, ms: Math.round(performance.now() - t0), modelRound: state.modelRound }, 'profiles computed');

  const remote = 'url' in opts.model ? opts.model : undefined;
  let modelHash: string | undefined;
  if (remote) modelHash = (await merchantJson<MerchantFederationInfo>(remote, 'GET', '/federation', 'cannot read the federation')).modelHash;
  const checkModel = async (): Promise<boolean> => {
    if (!remote) return false;
    const info = await merchantJson<MerchantFederationInfo>(remote, 'GET', '/federation', 'cannot read the federation');
    if (info.modelHash === modelHash) return false;
    const next = await LocalProfiler.open({ ...profilerOpts, ...remote, round: info.modelRound });
    await state.replaceProfiler(next);
    modelHash = info.modelHash;
    opts.logger?.info({ round: info.modelRound }, 'new global model loaded; profiles recomputed');
    return true;
  };
  const every = opts.modelPollMs ?? 60_000;
  const timer = remote && every > 0
    ? setInterval(() => { checkModel().catch((e: Error) => opts.logger?.warn({ err: e.message }, 'model update check failed')); }, every)
    : undefined;
  timer?.unref();

  const app = profileServiceApp(state, { authToken: opts.authToken });
  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8090, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, state, checkModel,
    close: async () => {
      if (timer) clearInterval(timer);
      await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
      state.close();
    },
  };
}
