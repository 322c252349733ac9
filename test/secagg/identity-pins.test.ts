import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientAggregator } from '../../client-sdk/aggregators.js';
import { IdentityMismatchError, IdentityPins } from '../../client-sdk/identity-pins.js';
import { FedProfileError } from '../../shared/errors.js';
import { generateIdentity } from '../../shared/secagg/keys.js';
import { MSG } from '../../shared/secagg/messages.js';

const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');

describe('SecAgg+ identity pinning in the client SDK', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pins-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const keys = new Map(['b', 'c', 'd', 'e'].map((id) => [id, generateIdentity().publicKey]));
  const offered = (swap?: string): Array<{ id: string; identityKey: Uint8Array }> =>
    [...keys].map(([id, k]) => ({ id, identityKey: id === swap ? generateIdentity().publicKey : k }));

  it('trust on first use: keys are pinned in the work dir and a changed key is refused, also after a restart', () => {
    const pins = IdentityPins.load(dir);
    const lookup = pins.admit(offered());
    expect(b64(lookup('c')!)).to.equal(b64(keys.get('c')!));
    const saved = JSON.parse(readFileSync(join(dir, 'pinned-identities.json'), 'utf8')) as Record<string, string>;
    expect(saved).to.deep.equal(Object.fromEntries([...keys].map(([id, k]) => [id, b64(k)])));
    const again = IdentityPins.load(dir);
    expect(() => again.admit(offered('d'))).to.throw(IdentityMismatchError, /different identity key for d .*pinned-identities\.json/);
    // The same keys are still accepted, and a new client id is pinned on first sight.
    const newcomer = generateIdentity().publicKey;
    expect(again.admit([...offered(), { id: 'f', identityKey: newcomer }])('f')).to.deep.equal(newcomer);
  });

  it('a trusted directory: mismatches are refused and clients missing from it are not trusted', () => {
    const file = join(dir, 'trusted.json');
    writeFileSync(file, JSON.stringify({ b: b64(keys.get('b')!), c: b64(keys.get('c')!), d: b64(keys.get('d')!) }));
    const pins = IdentityPins.load(dir, file);
    expect(() => pins.admit(offered('b'))).to.throw(IdentityMismatchError, /trusted\.json/);
    const lookup = pins.admit(offered());
    expect(lookup('e')).to.equal(undefined);
    expect(lookup('b')).to.deep.equal(keys.get('b'));
  });

  it('a malformed directory is refused with the file and field named', () => {
    const file = join(dir, 'trusted.json');
    writeFileSync(file, JSON.stringify({ b: 'not-a-key' }));
    expect(() => IdentityPins.load(dir, file)).to.throw(FedProfileError, /trusted\.json: b: expected a base64 32-byte Ed25519 public key/);
    expect(() => IdentityPins.load(dir, join(dir, 'missing.json'))).to.throw(FedProfileError, /cannot read the trusted identities file/);
  });

  it('the SDK session refuses a setup whose neighbour key changed, before any key is generated', () => {
    const pins = IdentityPins.load(dir);
    const args = {
      federationId: 'f', clientId: 'a', round: 1, params: {}, identity: generateIdentity(), vectorLength: 4, secagg: { pins },
    };
    const setup = (swap?: string): unknown => ({ version: 2, participants: 5, threshold: 3, neighbours: offered(swap) });
    expect(createClientAggregator('secagg', args).handle(MSG.setup, setup())).to.have.length(1);
    const next = createClientAggregator('secagg', { ...args, round: 2 });
    expect(() => next.handle(MSG.setup, setup('e'))).to.throw(IdentityMismatchError);
  });

  it('the coordinator\'s params cannot lower the SDK client\'s floor on k and t', () => {
    const nbs = [...keys].map(([id, identityKey]) => ({ id, identityKey }));
    const args = { federationId: 'f', clientId: 'a', round: 1, params: { neighbors: 4, threshold: 3 }, identity: generateIdentity(), vectorLength: 4 };
    // n = 50 derives 32 / 17 with the protocol defaults: a 4 / 3 setup is refused although the params ask for it.
    expect(() => createClientAggregator('secagg', args).handle(MSG.setup, { version: 2, participants: 50, threshold: 3, neighbours: nbs }))
      .to.throw(FedProfileError, /at least 32 \/ 17/);
    // An operator who runs a sparser graph tells merchants to lower the floor locally.
    const lowered = createClientAggregator('secagg', { ...args, secagg: { minNeighbors: 4, minThreshold: 3 } });
    expect(lowered.handle(MSG.setup, { version: 2, participants: 50, threshold: 3, neighbours: nbs })).to.have.length(1);
  });
});
