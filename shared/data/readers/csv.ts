/**
 * Splits one CSV line (RFC 4180 quoting, `""` escapes a quote). Returns null when a quote is left open:
 * quoted fields spanning several lines are not supported, so such a row is dropped and counted by the caller.
 */
export function splitCsvLine(line: string, delimiter = ','): string[] | null {
  if (!line.includes('"')) return line.split(delimiter);
  const fields: string[] = [];
  let field = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQuotes) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else field += ch;
    } else if (ch === '"') inQuotes = true;
    else if (ch === delimiter) {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  if (inQuotes) return null;
  fields.push(field);
  return fields;
}

/** Header names compared loosely: `user_id`, `UserId` and `userid` all mean the same column. */
export function normaliseHeaderName(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_-]/g, '');
}

/** Maps each wanted column (by normalised name) to its index, or -1 when the header lacks it. */
export function indexColumns<K extends string>(header: string[], wanted: readonly K[]): Record<K, number> {
  const normalised = header.map(normaliseHeaderName);
  const out = {} as Record<K, number>;
  for (const w of wanted) out[w] = normalised.indexOf(normaliseHeaderName(w));
  return out;
}
