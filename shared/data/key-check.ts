import { createHmac } from 'node:crypto';

/**
 * A key check value for the federation's hashing secret: the first 16 hex digits of HMAC-SHA256(key, fixed
 * label). Equal keys give equal values, so a merchant with a mistyped key is caught before its profiles are
 * computed with the wrong embedding rows; the value does not reveal the key (a one-way MAC of a constant).
 */
export function keyCheckValue(key: string | Uint8Array): string {
  return createHmac('sha256', typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key))
    .update('fedprofile key check value v1').digest('hex').slice(0, 16);
}
