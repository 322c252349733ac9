import { expect } from 'chai';
import { ExactPart } from '../../shared/compression/exact-part.js';
import { FedProfileError } from '../../shared/errors.js';
import { encodeVector } from '../../shared/weights/codec.js';
import { createClientAggregator } from '../../client-sdk/aggregators.js';
import { PlainServerSession } from '../../shared/aggregation/plain-session.js';
import { DecodingServerSession } from '../../shared/compression/upload.js';
import { UpdateCompressor } from '../../shared/compression/error-feedback.js';
import { decodedDownload, downloadBytes } from '../../simulations/federated/client-transforms.js';

const SPECS = [
  { name: 'embed/item', shape: [2, 3] }, { name: 'stats/popularity', shape: [3] }, { name: 'stats/transitions', shape: [2, 2] },
  { name: 'head/x', shape: [2] }, { name: 'stats/scorer-validation', shape: [1] },
];

describe('compression: the statistics stay float32 beside a lossy codec', () => {
  it('takes the stats/* positions out and puts them back exactly', () => {
    const part = ExactPart.statistics(SPECS)!;
    expect(part.exactCount).to.equal(8);
    expect(part.exactBytes).to.equal(32);
    const v = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(part.lossy(v))).to.deep.equal([0, 1, 2, 3, 4, 5, 13, 14]);
    const joined = part.join(Float32Array.of(-1, -2, -3, -4, -5, -6, -7, -8), v);
    expect(Array.from(joined)).to.deep.equal([-1, -2, -3, -4, -5, -6, 6, 7, 8, 9, 10, 11, 12, -7, -8, 15]);
    expect(ExactPart.statistics([{ name: 'embed/item', shape: [4] }])).to.equal(null);
    expect(() => part.lossy(new Float32Array(15))).to.throw(FedProfileError, /15 values, expected 16/);
    expect(() => part.join(new Float32Array(7), v)).to.throw(FedProfileError, /lossy part has 7 values, expected 8/);
  });

  it('q8 both ways: downloads and uploads keep the statistics exact, on the real client and server sessions', () => {
    const part = ExactPart.statistics(SPECS)!;
    // Small counts beside large weights: q8 over one chunk would round them to its step of ~0.4.
    const global = Float32Array.from([50, -50, 3, 7, 1, 2, 1e-3, 2e-3, 3e-3, 0, 5e-4, 4e-4, 7e-3, 9, -9, 0.25]);
    const down = decodedDownload(global, 'q8', part);
    const lossy = decodedDownload(global, 'q8', null);
    for (const i of [6, 7, 8, 9, 10, 11, 12, 15]) expect(down[i]).to.equal(global[i]);
    expect([6, 7, 8, 10, 11, 12].some((i) => lossy[i] !== global[i])).to.equal(true);
    expect(downloadBytes(global, 'q8', part)).to.equal(downloadBytes(part.lossy(global), 'q8') + 32);
    // Upload: the fit instruction names the exact ranges; the client sends them as float32 beside the encoding.
    const params = { compression: { codec: 'q8', exactRanges: part.exactRanges.map(([a, b]) => [a, b]) } };
    const client = createClientAggregator('plain', {
      federationId: 'f', clientId: 'a', round: 1, params, identity: { publicKey: new Uint8Array(32), secretKey: new Uint8Array(64) }, vectorLength: 16,
    });
    const [msg] = client.submit(global, 10);
    const payload = msg!.payload as { encoded: Uint8Array; exact: Float32Array };
    expect(payload.encoded.byteLength).to.equal(encodeVector(part.lossy(global), 'q8').byteLength);
    expect(Array.from(payload.exact)).to.deep.equal(Array.from(part.exact(global)));
    const server = new DecodingServerSession(new PlainServerSession({ vectorLength: 16, minResults: 1 }), 16, part);
    server.begin(['a']);
    server.handle('a', msg!.type, msg!.payload);
    const out = server.outcome();
    if (out.status !== 'done') throw new Error(`outcome ${out.status}`);
    for (const i of [6, 7, 8, 9, 10, 11, 12, 15]) expect(out.mean[i]).to.equal(global[i]);
    expect(out.metrics.uploadBytes).to.equal(payload.encoded.byteLength + 32);
    // The lossy part without the exact values is refused by name; a whole encoded update (a client that
    // predates the ranges) is accepted as it is. Ranges outside the vector are refused on the client.
    const bare = new DecodingServerSession(new PlainServerSession({ vectorLength: 16, minResults: 2 }), 16, part);
    bare.begin(['a', 'b']);
    expect(() => bare.handle('a', msg!.type, { encoded: payload.encoded, weight: 10 })).to.throw(FedProfileError, /holds 8 values, expected 16 \(or the lossy part beside plain\/update\.exact\)/);
    expect(() => bare.handle('a', msg!.type, { encoded: payload.encoded, exact: 'x', weight: 10 })).to.throw(FedProfileError, /plain\/update\.exact: expected float32/);
    bare.handle('b', msg!.type, { encoded: new UpdateCompressor({ codec: 'f16' }).compress(global).bytes, weight: 1 });
    expect(bare.outcome().status).to.equal('pending');
    expect(() => createClientAggregator('plain', {
      federationId: 'f', clientId: 'a', round: 1, params: { compression: { codec: 'q8', exactRanges: [[4, 20]] } },
      identity: { publicKey: new Uint8Array(32), secretKey: new Uint8Array(64) }, vectorLength: 16,
    })).to.throw(FedProfileError, /aggregation\.params\.compression\.exactRanges/);
  });
});
