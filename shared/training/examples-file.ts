import { readFile, writeFile } from 'node:fs/promises';
import type { EncodedSequence, UserExample } from '../data/encoded.js';
import { DataFileError } from '../errors.js';
import type { ExampleSplits } from './worker-protocol.js';

/**
 * A plain JSON file of encoded examples, so a training worker can load a client's data itself instead of
 * receiving it through postMessage. Only hashed ids are in it (the same as in memory).
 */
const FORMAT = 'fedprofile-examples/1';

const SEQ_FIELDS = ['item', 'category', 'action', 'price', 'gap', 'text'] as const;

function seqToJson(s: EncodedSequence): Record<string, number[] | number> {
  const o: Record<string, number[] | number> = { length: s.length };
  for (const f of SEQ_FIELDS) o[f] = Array.from(s[f]);
  return o;
}

function exampleToJson(e: UserExample): unknown {
  return {
    userKey: e.userKey,
    input: seqToJson(e.input),
    labels: { ...e.labels, interests: Array.from(e.labels.interests) },
    ...(e.history ? { history: Array.from(e.history) } : {}),
  };
}

export async function writeExamplesFile(file: string, splits: ExampleSplits): Promise<void> {
  const body = {
    format: FORMAT,
    train: splits.train.map(exampleToJson),
    validation: (splits.validation ?? []).map(exampleToJson),
    test: (splits.test ?? []).map(exampleToJson),
  };
  await writeFile(file, JSON.stringify(body));
}

interface JsonExample {
  userKey: string;
  input: Record<string, number[] | number>;
  labels: { purchased: 0 | 1; interests: number[]; tier: number; tierKnown?: boolean; nextItems: number[] };
  history?: number[];
}

function exampleFromJson(file: string, j: JsonExample, where: string): UserExample {
  if (typeof j?.userKey !== 'string' || typeof j.input !== 'object' || typeof j.labels !== 'object') {
    throw new DataFileError(file, `${where} is not an encoded example`);
  }
  const arr = (f: (typeof SEQ_FIELDS)[number]): Int32Array => {
    const v = j.input[f];
    if (!Array.isArray(v)) throw new DataFileError(file, `${where}.input.${f} is missing`);
    return Int32Array.from(v);
  };
  return {
    userKey: j.userKey,
    input: {
      item: arr('item'), category: arr('category'), action: arr('action'), price: arr('price'), gap: arr('gap'),
      text: arr('text'), length: Number(j.input.length),
    },
    labels: {
      purchased: j.labels.purchased === 1 ? 1 : 0,
      interests: Float32Array.from(j.labels.interests ?? []),
      tier: Number(j.labels.tier),
      ...(j.labels.tierKnown === false ? { tierKnown: false } : {}),
      nextItems: Array.isArray(j.labels.nextItems) ? j.labels.nextItems.map(Number) : [],
    },
    ...(Array.isArray(j.history) ? { history: Int32Array.from(j.history.map(Number)) } : {}),
  };
}

export async function readExamplesFile(file: string): Promise<ExampleSplits> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DataFileError(file, `cannot read the examples file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let body: { format?: string; train?: JsonExample[]; validation?: JsonExample[]; test?: JsonExample[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new DataFileError(file, 'is not JSON; expected an examples file written by writeExamplesFile');
  }
  if (body?.format !== FORMAT || !Array.isArray(body.train)) {
    throw new DataFileError(file, `is not a ${FORMAT} file`);
  }
  const conv = (xs: JsonExample[] | undefined, name: string) => (xs ?? []).map((j, i) => exampleFromJson(file, j, `${name}[${i}]`));
  return { train: conv(body.train, 'train'), validation: conv(body.validation, 'validation'), test: conv(body.test, 'test') };
}
