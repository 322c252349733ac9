import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLog, summariseStrategies, writeReport, type RoundRecord } from '../../simulations/report/index.js';

function record(strategy: string, round: number, ndcg10: number, bytes: number): RoundRecord {
  return {
    strategy, round, phase: 'finetune', loss: 1 / round, ndcg10, hr10: ndcg10 * 1.5, auc: 0.5 + ndcg10, interestP3: 0.3, tierAcc: 0.4,
    seconds: 1, totalSeconds: round, bytesUp: bytes, bytesDown: bytes, totalBytesUp: bytes * round, totalBytesDown: bytes * round,
    clientsSelected: 3, clientsCompleted: 3, clientsDropped: 0,
  };
}

describe('simulation report', () => {
  it('writes metrics.jsonl, summary.json, SVG + PNG plots with text, and report.md', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'fp-report-'));
    const log = new MetricsLog(join(dir, 'metrics.jsonl'));
    for (let r = 1; r <= 3; r++) {
      log.append(record('centralized', r, 0.1 * r, 0));
      log.append(record('fedavg', r, 0.095 * r, 1e6));
    }
    log.close();
    const participation = { fedavg: { a: 3, b: 2, c: 3 } };
    const strategies = summariseStrategies(log.records, participation);
    expect(strategies['fedavg']!.roundsTo90pctCentralizedNdcg).to.equal(3);
    expect(strategies['fedavg']!.bytesUp).to.equal(3e6);
    expect(strategies['centralized']!.ndcg10).to.be.closeTo(0.3, 1e-12);
    const out = await writeReport(dir, { strategies, config: { seed: 1 }, backend: 'wasm' }, log.records, participation);

    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines).to.have.length(6);
    expect(JSON.parse(lines[1]!).strategy).to.equal('fedavg');
    const summary = JSON.parse(readFileSync(out.summaryPath, 'utf8'));
    expect(Object.keys(summary.strategies)).to.deep.equal(['centralized', 'fedavg']);
    for (const k of ['ndcg10', 'hr10', 'auc', 'interestP3', 'tierAcc', 'rounds', 'seconds', 'bytesUp', 'bytesDown']) {
      expect(summary.strategies.fedavg).to.have.property(k);
    }
    const plots = readdirSync(join(dir, 'plots')).sort();
    expect(plots).to.deep.equal([
      'auc-by-bytes.png', 'auc-by-bytes.svg', 'metrics-by-round.png', 'metrics-by-round.svg',
      'ndcg-by-bytes.png', 'ndcg-by-bytes.svg', 'participation.png', 'participation.svg',
    ]);
    for (const p of plots) {
      const buf = readFileSync(join(dir, 'plots', p));
      if (p.endsWith('.png')) {
        expect([...buf.subarray(0, 8)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        expect(statSync(join(dir, 'plots', p)).size).to.be.above(10_000);
      } else {
        const svg = buf.toString('utf8');
        expect(svg.startsWith('<svg')).to.equal(true);
        expect(svg).to.include('</svg>');
        expect(svg).to.include('<text');
      }
    }
    const md = readFileSync(out.reportPath, 'utf8');
    expect(md).to.include('| fedavg | 0.2850 |');
    expect(md).to.include('![Test metrics per round](plots/metrics-by-round.png)');
    expect(md).to.include('"seed": 1');
  });
});
