import { ACTIONS, type Action, type BehaviourEvent } from '../events.js';
import { toMillis } from './timestamp.js';

/** Either a valid event or the reason it was dropped (reasons become keys of ReadReport.droppedByReason). */
export type RowResult = { ok: true; event: BehaviourEvent } | { ok: false; reason: string };

const ACTION_SET = new Set<string>(ACTIONS);

/** Raw, loosely typed fields of one row of the generic schema (CSV cells or JSON values). */
export interface RawEventFields {
  userId: unknown;
  timestamp: unknown;
  itemId: unknown;
  categoryId: unknown;
  action: unknown;
  price?: unknown;
  text?: unknown;
  merchantId?: unknown;
}

function idString(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return s === '' ? null : s;
}

/** Validates and normalises one generic row; every failure has a short, stable reason. */
export function buildEvent(raw: RawEventFields): RowResult {
  const userId = idString(raw.userId);
  if (userId === null) return { ok: false, reason: 'missing userId' };
  const timestamp = toMillis(raw.timestamp);
  if (timestamp === null) return { ok: false, reason: 'invalid timestamp' };
  const itemId = idString(raw.itemId);
  if (itemId === null) return { ok: false, reason: 'missing itemId' };
  const categoryId = idString(raw.categoryId);
  if (categoryId === null) return { ok: false, reason: 'missing categoryId' };
  const action = typeof raw.action === 'string' ? raw.action.trim().toLowerCase() : '';
  if (!ACTION_SET.has(action)) return { ok: false, reason: 'unknown action' };
  const event: BehaviourEvent = { userId, timestamp, itemId, categoryId, action: action as Action };
  if (raw.price !== undefined && raw.price !== null && raw.price !== '') {
    const price = typeof raw.price === 'number' ? raw.price : typeof raw.price === 'string' ? Number(raw.price.trim()) : NaN;
    if (!Number.isFinite(price) || price < 0) return { ok: false, reason: 'invalid price' };
    event.price = price;
  }
  if (typeof raw.text === 'string' && raw.text !== '') event.text = raw.text;
  const merchantId = idString(raw.merchantId);
  if (merchantId !== null) event.merchantId = merchantId;
  return { ok: true, event };
}
