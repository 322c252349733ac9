import cliProgress from 'cli-progress';

/**
 * Two bars on a terminal (rounds of the current strategy, clients of the current round); plain log lines
 * when the output is not a terminal (CI, files), so logs stay readable.
 */
export interface Progress {
  startStrategy(name: string, rounds: number): void;
  startRound(round: number, clients: number): void;
  clientDone(): void;
  endRound(summary: string): void;
  note(line: string): void;
  stop(): void;
}

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled) {
    return { startStrategy() {}, startRound() {}, clientDone() {}, endRound() {}, note() {}, stop() {} };
  }
  if (!stream.isTTY) {
    let strategy = '';
    let round = 0;
    return {
      startStrategy(name, rounds) { strategy = name; stream.write(`[${name}] ${rounds} round(s)\n`); },
      startRound(r) { round = r; },
      clientDone() {},
      endRound(summary) { stream.write(`[${strategy}] round ${round}: ${summary}\n`); },
      note(line) { stream.write(`${line}\n`); },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar({
    format: '{label} |{bar}| {value}/{total} {info}',
    hideCursor: true, clearOnComplete: false, stream, barsize: 30, etaBuffer: 5,
  }, cliProgress.Presets.shades_classic);
  let rounds: cliProgress.SingleBar | undefined;
  let clients: cliProgress.SingleBar | undefined;
  let label = '';
  return {
    startStrategy(name, total) {
      label = name.padEnd(11);
      rounds?.stop();
      clients?.stop();
      if (rounds) multi.remove(rounds);
      if (clients) multi.remove(clients);
      rounds = multi.create(total, 0, { label: `${label} rounds `, info: '' });
      clients = multi.create(1, 0, { label: `${label} clients`, info: '' });
    },
    startRound(_r, n) { clients?.setTotal(Math.max(1, n)); clients?.update(0); },
    clientDone() { clients?.increment(); },
    endRound(summary) { rounds?.increment(1, { info: summary }); },
    note(line) { multi.log(`${line}\n`); },
    stop() { multi.stop(); },
  };
}
