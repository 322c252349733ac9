/** Category names and the words people type when searching or reviewing in them. */
export const CATEGORY_WORDS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['electronics', ['phone', 'laptop', 'charger', 'headphones', 'cable', 'camera', 'speaker', 'tablet']],
  ['books', ['novel', 'cookbook', 'biography', 'thriller', 'paperback', 'poetry', 'atlas', 'comic']],
  ['fashion', ['dress', 'jacket', 'shirt', 'jeans', 'scarf', 'sneakers', 'coat', 'skirt']],
  ['beauty', ['lipstick', 'serum', 'perfume', 'mascara', 'shampoo', 'lotion', 'cream', 'nailpolish']],
  ['home', ['lamp', 'rug', 'curtain', 'cushion', 'vase', 'shelf', 'candle', 'clock']],
  ['kitchen', ['pan', 'knife', 'blender', 'kettle', 'mug', 'skillet', 'toaster', 'spatula']],
  ['sports', ['yoga', 'dumbbell', 'racket', 'football', 'bike', 'helmet', 'running', 'swimsuit']],
  ['toys', ['lego', 'puzzle', 'doll', 'robot', 'plush', 'blocks', 'kite', 'boardgame']],
  ['garden', ['seeds', 'hose', 'shovel', 'planter', 'fertilizer', 'rake', 'gloves', 'mower']],
  ['grocery', ['coffee', 'tea', 'pasta', 'olive', 'chocolate', 'honey', 'rice', 'spices']],
  ['pets', ['leash', 'collar', 'kibble', 'aquarium', 'catnip', 'treats', 'petbed', 'litter']],
  ['automotive', ['tyre', 'wiper', 'motoroil', 'battery', 'polish', 'dashcam', 'carmats', 'jumpstarter']],
  ['baby', ['stroller', 'diaper', 'babybottle', 'crib', 'onesie', 'pacifier', 'carrier', 'wipes']],
  ['health', ['vitamins', 'bandage', 'thermometer', 'protein', 'facemask', 'supplement', 'bathscale', 'toothbrush']],
  ['music', ['guitar', 'piano', 'vinyl', 'drum', 'ukulele', 'strings', 'amplifier', 'microphone']],
  ['office', ['notebook', 'pen', 'stapler', 'printer', 'desk', 'folder', 'marker', 'officechair']],
  ['jewelry', ['ring', 'necklace', 'bracelet', 'earrings', 'wristwatch', 'pendant', 'gold', 'silver']],
  ['games', ['console', 'controller', 'headset', 'keyboard', 'mouse', 'cartridge', 'joystick', 'gamepad']],
  ['movies', ['bluray', 'dvd', 'boxset', 'documentary', 'anime', 'series', 'classic', 'soundtrack']],
  ['crafts', ['yarn', 'fabric', 'paint', 'brushes', 'glue', 'beads', 'canvas', 'sewing']],
  ['tools', ['drill', 'hammer', 'wrench', 'saw', 'screwdriver', 'ladder', 'pliers', 'spiritlevel']],
  ['travel', ['suitcase', 'backpack', 'passport', 'neckpillow', 'adapter', 'luggage', 'flask', 'organizer']],
  ['outdoor', ['hiking', 'camping', 'lantern', 'compass', 'boots', 'sleepingbag', 'stove', 'binoculars']],
  ['luxury', ['handbag', 'designer', 'cashmere', 'leather', 'silk', 'chronograph', 'crystal', 'champagne']],
];

export const REVIEW_WORDS = ['great', 'love', 'excellent', 'fine', 'okay', 'disappointing', 'broke', 'recommend'];

/** Name and vocabulary of category i; beyond the built-in list, synthetic names keep ids unique. */
export function categoryWords(i: number): { name: string; words: string[] } {
  if (i < CATEGORY_WORDS.length) return { name: CATEGORY_WORDS[i][0], words: [...CATEGORY_WORDS[i][1]] };
  return { name: `category${i + 1}`, words: Array.from({ length: 8 }, (_, w) => `c${i + 1}word${w + 1}`) };
}
