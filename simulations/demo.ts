/**
 * `npm run demo`: the whole system on one machine, as separate processes over loopback.
 *
 * 1. Synthetic behaviour data for three merchants (non-IID category mixes), with ground truth.
 * 2. A coordinator process on a free port, a federation with SecAgg+ on, three enrolment tokens.
 * 3. Three `fedprofile client` processes, one per merchant, each on its own private events file.
 * 4. Rounds of masked-behaviour pre-training then profile fine-tuning; a line per round.
 * 5. The final global model downloaded as a TF.js artifact, scored against the popularity baseline on one
 *    merchant's held-out users, and a few of that merchant's users profiled locally next to their ground truth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROFILE_SMALL, type ModelConfig } from '../shared/model/config.js';
import { generateSynthetic, type UserTruth } from './synthetic/index.js';
import { LocalProfiler } from '../client-sdk/local-profiler.js';
import type { BehaviourEvent } from '../shared/data/events.js';
import { restCall, restJson } from '../coordinator/rest-client.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = resolve(process.env.FEDPROFILE_DEMO_DIR ?? join(ROOT, 'runs', 'demo'));
const BIN = join(ROOT, 'bin', 'fedprofile.js');
const MERCHANTS = 3;
const ADMIN_TOKEN = randomBytes(18).toString('base64url');
const HASH_KEY = randomBytes(18).toString('base64url');
const PRETRAIN_ROUNDS = 2;
const ROUNDS = 6;

const children: ChildProcess[] = [];
const say = (line: string): void => { process.stdout.write(`${line}\n`); };

function start(args: string[], name: string, logFile: string, secrets: Record<string, string> = {}): ChildProcess {
  // Secrets travel in the environment, not argv, so they do not show up in `ps`.
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...secrets } });
  const log: string[] = [];
  child.stdout!.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => log.push(b.toString()));
  child.on('exit', (code, signal) => {
    writeFileSync(logFile, log.join(''));
    if (code !== 0 && signal === null && !stopping) say(`! ${name} exited with code ${code}; see ${logFile}`);
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stopAll(): Promise<void> {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
}

const api = (base: string, method: string, path: string, body?: unknown): Promise<any> =>
  restJson(base, method, path, { body, token: ADMIN_TOKEN, retries: 4 });

async function startCoordinator(): Promise<string> {
  const child = start(['coordinator', '--port', '0', '--data-dir', join(OUT, 'coordinator')],
    'coordinator', join(OUT, 'coordinator.log'), { FEDPROFILE_ADMIN_TOKEN: ADMIN_TOKEN });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line) as { event?: string; url?: string };
    if (msg.event === 'listening' && msg.url) return msg.url;
  }
  throw new Error(`the coordinator exited before listening; see ${join(OUT, 'coordinator.log')}`);
}

/** The operator's copy of the final global model: the TF.js artifact pair, exactly as the coordinator serves it. */
async function downloadModel(base: string, federationId: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const file of ['model.json', 'weights.bin']) {
    const res = await restCall(base, 'GET', `/federations/${federationId}/rounds/latest/${file}`, { token: ADMIN_TOKEN, retries: 4 });
    if (res.status !== 200) throw new Error(`download ${file}: ${res.status} ${new TextDecoder().decode(res.bytes)}`);
    writeFileSync(join(dir, file), res.bytes);
  }
}

function fmt(v: unknown, digits = 4): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '   -  ';
}

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  const data = generateSynthetic({ seed: 7, users: 600, merchants: MERCHANTS, categories: 16, days: 45 });
  const categories = data.catalogue.categories.map((c) => c.id);
  writeFileSync(join(OUT, 'categories.json'), JSON.stringify(categories));
  const byMerchant = new Map<string, BehaviourEvent[]>();
  for (const e of data.events) {
    const m = e.merchantId ?? 'unknown';
    if (!byMerchant.has(m)) byMerchant.set(m, []);
    byMerchant.get(m)!.push(e);
  }
  const merchantIds = [...byMerchant.keys()].sort();
  for (const m of merchantIds) {
    mkdirSync(join(OUT, m), { recursive: true });
    writeFileSync(join(OUT, m, 'events.jsonl'), byMerchant.get(m)!.map((e) => JSON.stringify(e)).join('\n') + '\n');
  }
  say(`data      ${data.events.length} synthetic events, ${data.truth.length} users, merchants ${merchantIds.map((m) => `${m}:${byMerchant.get(m)!.length}`).join(' ')}`);

  const url = await startCoordinator();
  say(`coordinator listening on ${url} (dashboard: ${url}/dashboard/)`);

  // Transition statistics over the 512 most popular items federate beside the weights (docs/profile-quality.md).
  const model: ModelConfig = { ...PROFILE_SMALL, categoryVocab: categories.length + 1, transitionItems: 512 };
  const fed = await api(url, 'POST', '/federations', {
    name: 'demo: three merchants', model, seed: 7, rounds: ROUNDS,
    strategy: {
      name: 'fedavg', clientsPerRound: MERCHANTS, minFitClients: MERCHANTS, overSelection: 1, localEpochs: 2, batchSize: 32,
      learningRate: 0.005, optimizer: 'adam', evaluateEvery: 1, pretrainRounds: PRETRAIN_ROUNDS,
    },
    deadlines: { trainMs: 300_000 },
    secureAggregation: { clip: 0.5 },
  });
  say(`federation ${fed.id}: ${ROUNDS} rounds (${PRETRAIN_ROUNDS} pre-training, ${ROUNDS - PRETRAIN_ROUNDS} fine-tuning), FedAvg + SecAgg+`);

  for (const [i, m] of merchantIds.entries()) {
    const { token } = await api(url, 'POST', `/federations/${fed.id}/tokens`, { label: m });
    start(['client', '--coordinator', url, '--data', join(OUT, m, 'events.jsonl'),
      '--categories', join(OUT, 'categories.json'), '--name', m, '--work-dir', join(OUT, m, 'work'), '--quiet'],
    `client ${i + 1}`, join(OUT, m, 'client.log'), { FEDPROFILE_TOKEN: token, FEDPROFILE_HASH_KEY: HASH_KEY });
  }
  const joinBy = Date.now() + 120_000;
  while ((await api(url, 'GET', `/federations/${fed.id}`)).clientsOnline < MERCHANTS) {
    if (Date.now() > joinBy) throw new Error(`not all ${MERCHANTS} clients joined within 2 minutes; see the client logs in ${OUT}`);
    await sleep(200);
  }
  await api(url, 'POST', `/federations/${fed.id}/start`);

  say('round  phase     clients  loss     NDCG@10  AUC      seconds  updates in');
  const printed = new Set<number>();
  const started = Date.now();
  for (;;) {
    const f = await api(url, 'GET', `/federations/${fed.id}`);
    const { rounds } = await api(url, 'GET', `/federations/${fed.id}/rounds`) as { rounds: any[] };
    for (const r of rounds) {
      if (printed.has(r.round) || r.status === 'running' || (r.status === 'completed' && !r.evalMetrics)) continue;
      printed.add(r.round);
      const m = { ...(r.metrics ?? {}), ...(r.evalMetrics ?? {}) };
      const phase = r.round <= PRETRAIN_ROUNDS ? 'pretrain' : 'finetune';
      const secs = r.finishedAt ? ((r.finishedAt - r.startedAt) / 1000).toFixed(1) : '-';
      const bytes = `${((m['agg.bytesIn'] ?? 0) / 1e6).toFixed(2)} MB`;
      say(`${String(r.round).padStart(5)}  ${phase.padEnd(9)} ${String(r.contributors?.length ?? 0).padStart(7)}  ${fmt(m['train.trainLoss'])}   ${fmt(m.ndcg10)}   ${fmt(m.auc)}   ${secs.padStart(7)}  ${bytes}${r.status === 'completed' ? '' : `  ${r.status}: ${r.reason}`}`);
    }
    if (['completed', 'stopped', 'failed'].includes(f.status)) {
      if (f.status !== 'completed') throw new Error(`federation ended as ${f.status}`);
      // The last round's federated evaluation may land just after the federation is marked completed.
      if (printed.has(ROUNDS) || Date.now() - (f.updatedAt ?? 0) > 60_000) break;
    }
    if (Date.now() - started > 20 * 60_000) throw new Error('the federation did not finish within 20 minutes');
    await sleep(500);
  }

  // A merchant uses the shared model on its own users: nothing below leaves this process.
  const merchant = merchantIds[0]!;
  const modelDir = join(OUT, 'global-model');
  await downloadModel(url, fed.id, modelDir);
  say(`global model saved (model.json + weights.bin) in ${modelDir}`);
  const profiler = await LocalProfiler.open({ modelDir, hashKey: HASH_KEY, knownCategories: categories });
  try {
    const local = byMerchant.get(merchant)!;
    const truthById = new Map<string, UserTruth>(data.truth.map((t) => [t.userId, t]));
    const evaluation = await profiler.evaluate(local, { interestTruth: (userId) => truthById.get(userId)?.interests.slice(0, 3).map((i) => i.categoryId) });
    say(`\nheld-out evaluation on ${merchant}'s users (${evaluation.model.n} users)`);
    // Each profile field beside the one-line rule it has to beat, on the same users and negatives.
    const rules: [keyof typeof evaluation.model, string, number | null | undefined][] = [
      ['ndcg10', 'popularity', evaluation.baselines.popularity['ndcg10']],
      ['ndcg10', 'first-order Markov', evaluation.baselines.markov['ndcg10']],
      ['hr10', 'first-order Markov', evaluation.baselines.markov['hr10']],
      ['ndcg10Sampled', 'first-order Markov', evaluation.baselines.markov['ndcg10Sampled']],
      ['auc', 'purchase rate', evaluation.baselines.purchaseRate['auc']],
      ['interestP3', 'most-recent category', evaluation.baselines.mostRecentCategory['interestP3']],
      ['tierAcc', 'majority tier', evaluation.baselines.majorityTier['tierAcc']],
    ];
    say('metric              global model   rule                    rule score');
    for (const [k, rule, value] of rules) {
      say(`${String(k).padEnd(20)}${fmt(evaluation.model[k] as number).padStart(12)}   ${rule.padEnd(22)}${fmt(value ?? Number.NaN).padStart(12)}`);
    }
    const pq = evaluation.profile;
    const c = pq.completeness;
    say(`\nprofile quality on the same users`);
    say(`  completeness  ${fmt(c.usersComplete, 3)} of users with every field set (interests ${fmt(c.fields.interests, 2)}, propensity ${fmt(c.fields.propensity, 2)}, tier ${fmt(c.fields.spendingTier, 2)}, next items ${fmt(c.fields.nextItems, 2)})`);
    const st = pq.timeliness.staleness;
    if (st) say(`  timeliness    profiles refreshed at the held-out cut-off are ${fmt(st.medianSeconds / 86_400, 2)} days (${fmt(st.meanEventsBehind, 1)} events) behind; refresh ${fmt(pq.timeliness.refresh.singleUserMsP50, 1)} ms for one user, ${fmt(pq.timeliness.refresh.batchedMsPerUser, 2)} ms/user batched`);
    for (const fa of pq.faithfulness) {
      say(`  faithfulness  ${fa.method.padEnd(9)} removing the top ${fa.k} events moves the profile ${fmt(fa.topRemoved.combined)} vs ${fmt(fa.randomRemoved.combined)} for random ones (gap ${fmt(fa.gap)})`);
    }
    const users = [...new Set(local.map((e) => e.userId))].slice(0, 3);
    const profiles = await profiler.profile(users.map((u) => ({ userId: u, events: local.filter((e) => e.userId === u) })));
    for (const [i, p] of profiles.entries()) {
      const t = truthById.get(users[i]!)!;
      say(`\nuser ${users[i]} (segment ${p.segment} ${p.segmentLabel})`);
      say(`  interests   model: ${p.interests.slice(0, 3).map((x) => `${x.category} ${x.score.toFixed(2)}`).join(', ')}`);
      say(`              truth: ${t.interests.slice(0, 3).map((x) => `${x.categoryId} ${x.weight.toFixed(2)}`).join(', ')}`);
      say(`  tier        model: ${p.spendingTier.tier}   truth: ${t.priceTier}`);
      say(`  propensity  ${p.propensity.toFixed(3)}   (truth: latent purchase rate ${t.purchaseRate.toFixed(2)}, ${t.purchases} purchases)`);
      say(`  activity    ${p.activity.eventsPerDay.toFixed(2)} events/day, ${p.activity.purchaseFrequency.toFixed(2)} purchases/30d`);
      say(`  next items  ${p.nextItems.slice(0, 5).map((x) => x.item).join(', ')}`);
      say(`  why         ${p.explanation.slice(0, 3).map((x) => `${x.action} ${x.action === 'search' ? `in ${x.category}` : x.item}`).join('; ')}`);
    }
  } finally {
    profiler.close();
  }
}

process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
try {
  await main();
  await stopAll();
  say(`\ndemo finished; logs and artifacts in ${OUT}`);
} catch (err) {
  await stopAll();
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}${cause}\n`);
  process.exitCode = 1;
}
