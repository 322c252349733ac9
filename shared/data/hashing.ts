import { createHmac } from 'node:crypto';
import { ConfigError } from '../errors.js';

/**
 * Keyed hashing of raw ids into the model's fixed vocabularies (HMAC-SHA256).
 *
 * Why keyed, and who holds the key: the key is a federation-wide secret shared by the merchants and never given
 * to the coordinator. Because every merchant uses the same key, the same product or category lands on the same
 * embedding row everywhere, so item embeddings learnt at one merchant align with the others' and can be
 * averaged. Because the coordinator does not know the key, it cannot hash candidate ids and compare, so it
 * cannot invert the ids behind embedding rows, user keys or top-K outputs. Raw ids never leave the client.
 *
 * Reserved ids follow shared/data/encoded.ts: item 0 = PAD, 1 = MASK (real items in [2, itemVocab));
 * category and text 0 = PAD (real ids from 1).
 */
export interface HasherOptions {
  key: string | Uint8Array;
  itemVocab: number;
  categoryVocab: number;
  textVocab: number;
  /**
   * The federation's category taxonomy, when one exists. Listed categories get collision-free ids (open
   * addressing in sorted order, so every merchant with the same list and key gets the same ids); other
   * categories are hashed and may collide. Small category vocabularies need this: 20 categories hashed into
   * 32 slots almost surely collide.
   */
  knownCategories?: readonly string[];
  /**
   * The federation's shared item catalogue, when one exists: listed items get collision-free ids by the same
   * keyed open addressing, so item embeddings never share a row. Unlisted items are hashed and may collide.
   */
  knownItems?: readonly string[];
}

/** How many distinct items share an id with another item (items - distinct ids), and the share of items that do. */
export interface CollisionReport {
  items: number;
  ids: number;
  collidedItems: number;
  collisionRate: number;
}

export interface Hasher {
  readonly itemVocab: number;
  readonly categoryVocab: number;
  readonly textVocab: number;
  item(itemId: string): number;
  category(categoryId: string): number;
  /** Hashed word ids of lower-cased word tokens, in text order, at most `maxTokens` (all when omitted). */
  text(text: string, maxTokens?: number): number[];
  /** A stable pseudonym (32 hex chars) for a user: same per key, meaningless without it. */
  userKey(userId: string): string;
  /** Local-only reverse map: the raw category names this hasher has seen for a hashed id (sorted). */
  categoryNames(id: number): string[];
}

/** Lower-cased word tokens (letters and digits, any script). */
export function wordTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

const CACHE_LIMIT = 500_000;

export function createHasher(opts: HasherOptions): Hasher {
  const { itemVocab, categoryVocab, textVocab } = opts;
  if (!Number.isInteger(itemVocab) || itemVocab < 3) throw new ConfigError(`itemVocab must be an integer >= 3 (got ${itemVocab})`);
  if (!Number.isInteger(categoryVocab) || categoryVocab < 2) throw new ConfigError(`categoryVocab must be an integer >= 2 (got ${categoryVocab})`);
  if (!Number.isInteger(textVocab) || textVocab < 0) throw new ConfigError(`textVocab must be an integer >= 0 (got ${textVocab})`);
  const key = typeof opts.key === 'string' ? Buffer.from(opts.key, 'utf8') : Buffer.from(opts.key);
  if (key.length === 0) throw new ConfigError('the hashing key must not be empty');

  const digest = (domain: string, value: string): Buffer => createHmac('sha256', key).update(domain).update('\0').update(value).digest();
  // 48 bits of the MAC: the modulo bias over vocabularies of at most a few million is below 1e-8.
  const slot = (domain: string, value: string, size: number): number => digest(domain, value).readUIntBE(0, 6) % size;

  const cached = (domain: string, offset: number, size: number): ((v: string) => number) => {
    const cache = new Map<string, number>();
    return (v) => {
      let id = cache.get(v);
      if (id === undefined) {
        if (cache.size >= CACHE_LIMIT) cache.clear();
        id = offset + slot(domain, v, size);
        cache.set(v, id);
      }
      return id;
    };
  };

  const hashedItem = cached('item', 2, itemVocab - 2);
  const fixedItems = assignKnownIds(opts.knownItems ?? [], 2, itemVocab, hashedItem, 'item catalogue', 'model.itemVocab');
  const hashItem = fixedItems.size === 0 ? hashedItem : (itemId: string): number => fixedItems.get(itemId) ?? hashedItem(itemId);
  const hashCategory = cached('category', 1, categoryVocab - 1);
  const hashWord = textVocab > 1 ? cached('text', 1, textVocab - 1) : () => 0;

  const fixedCategories = assignKnownIds(opts.knownCategories ?? [], 1, categoryVocab, hashCategory, 'category taxonomy', 'model.categoryVocab');
  const seen = new Map<number, Set<string>>();

  return {
    itemVocab, categoryVocab, textVocab,
    item: hashItem,
    category(categoryId) {
      const id = fixedCategories.get(categoryId) ?? hashCategory(categoryId);
      let names = seen.get(id);
      if (!names) seen.set(id, (names = new Set()));
      names.add(categoryId);
      return id;
    },
    text(text, maxTokens) {
      if (textVocab <= 1) return [];
      const words = wordTokens(text);
      const n = maxTokens === undefined ? words.length : Math.min(maxTokens, words.length);
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = hashWord(words[i]);
      return out;
    },
    userKey: (userId) => digest('user', userId).subarray(0, 16).toString('hex'),
    categoryNames: (id) => [...(seen.get(id) ?? [])].sort(),
  };
}

/** Items that share an id with some other item under `hasher`, over the distinct ids given. */
export function itemCollisions(hasher: Pick<Hasher, 'item'>, itemIds: Iterable<string>): CollisionReport {
  const distinct = new Set(itemIds);
  const byId = new Map<number, number>();
  for (const item of distinct) {
    const id = hasher.item(item);
    byId.set(id, (byId.get(id) ?? 0) + 1);
  }
  const items = distinct.size;
  const collidedItems = [...byId.values()].reduce((n, c) => n + (c > 1 ? c : 0), 0);
  return { items, ids: byId.size, collidedItems, collisionRate: items === 0 ? 0 : collidedItems / items };
}

/**
 * Open addressing over [first, vocab) in sorted-name order: deterministic for a given list and key, so every
 * merchant with the same list gets the same ids.
 */
function assignKnownIds(
  list: readonly string[], first: number, vocab: number, hashed: (v: string) => number, what: string, field: string,
): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  const slots = vocab - first;
  const names = [...new Set(list)].sort();
  // More names than slots would make some share an embedding row at every merchant, silently.
  if (names.length > slots) {
    throw new ConfigError(`the ${what} lists ${names.length} entries but ${field} ${vocab} has only ${slots} slots; raise ${field} to at least ${names.length + first}`, { entries: names.length, vocab });
  }
  for (const name of names) {
    let id = hashed(name);
    while (taken.has(id)) id = id + 1 >= vocab ? first : id + 1;
    taken.add(id);
    out.set(name, id);
  }
  return out;
}
