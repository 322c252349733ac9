import { readFileSync } from 'node:fs';
import { DataFileError } from '../shared/errors.js';

/**
 * A taxonomy file is a JSON array of category id strings (`fedprofile data generate` writes one as
 * taxonomy.json); anything else is refused with the file's name.
 */
export function readTaxonomy(file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, `cannot read the category taxonomy: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => typeof c === 'string' && c.length > 0)) {
    throw new DataFileError(file, 'a category taxonomy must be a non-empty JSON array of category id strings, e.g. ["books","garden"]');
  }
  return parsed as string[];
}

/**
 * An item catalogue file is a JSON array of item id strings shared by the federation's merchants: listed
 * items get collision-free model ids (see createHasher's knownItems), identical at every merchant.
 */
export function readItemCatalogue(file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, `cannot read the item catalogue: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => typeof c === 'string' && c.length > 0)) {
    throw new DataFileError(file, 'an item catalogue must be a non-empty JSON array of item id strings, e.g. ["sku-1","sku-2"]');
  }
  return parsed as string[];
}
