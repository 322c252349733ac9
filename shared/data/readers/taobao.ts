import { DataFileError } from '../../errors.js';
import type { Action, BehaviourEvent } from '../events.js';
import { readLines } from './file.js';
import type { ReportBuilder } from './report.js';
import { secondsToMillis } from './timestamp.js';

/**
 * Taobao UserBehavior.csv behaviour types. A favourite ('fav') is mapped to 'click': it is an explicit sign of
 * interest stronger than a page view but short of a cart, and it carries no text, so 'review' would be wrong.
 */
const BEHAVIOUR_TO_ACTION: Record<string, Action> = { pv: 'view', fav: 'click', cart: 'cart', buy: 'purchase' };

/** No header: user_id,item_id,category_id,behavior_type,timestamp(seconds). */
export function looksLikeTaobaoLine(line: string): boolean {
  const c = line.split(',');
  return c.length === 5 && /^\d+$/.test(c[0]) && /^\d+$/.test(c[1]) && /^\d+$/.test(c[2]) &&
    c[3] in BEHAVIOUR_TO_ACTION && /^-?\d+$/.test(c[4].trim());
}

export function checkTaobaoFirstLine(path: string, line: string): void {
  if (!looksLikeTaobaoLine(line)) {
    throw new DataFileError(
      path,
      `is not a Taobao UserBehavior.csv: expected header-less rows user_id,item_id,category_id,behavior_type(pv|buy|cart|fav),timestamp (first line: ${line.slice(0, 120)})`,
    );
  }
}

export async function* readTaobao(path: string, report: ReportBuilder): AsyncGenerator<BehaviourEvent> {
  for await (const { line, lineNo } of readLines(path)) {
    report.row();
    const c = line.split(',');
    if (c.length !== 5) { report.drop('wrong number of columns', lineNo); continue; }
    const userId = c[0].trim();
    const itemId = c[1].trim();
    const categoryId = c[2].trim();
    if (!userId) { report.drop('missing user_id', lineNo); continue; }
    if (!itemId) { report.drop('missing item_id', lineNo); continue; }
    if (!categoryId) { report.drop('missing category_id', lineNo); continue; }
    const action = BEHAVIOUR_TO_ACTION[c[3].trim()];
    if (!action) { report.drop('unknown behavior_type', lineNo); continue; }
    const timestamp = secondsToMillis(c[4]);
    if (timestamp === null) { report.drop('invalid timestamp', lineNo); continue; }
    report.keep(userId, action);
    yield { userId, timestamp, itemId, categoryId, action };
  }
}
