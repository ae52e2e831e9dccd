import type { DocumentKind } from '../store/types';

/** REST collection name → document kind. */
export const COLLECTIONS: Record<string, DocumentKind> = {
  segments: 'Segment',
  devices: 'Device',
  policies: 'Policy',
  policytests: 'PolicyTest',
  posturerules: 'PostureRule',
};

export const COLLECTION_NAMES = Object.keys(COLLECTIONS);

/** Accepts `segments`, `segment`, `Segment`, `policy`… (the CLI passes what the user typed). */
export function kindOf(word: string): DocumentKind | null {
  const w = word.toLowerCase();
  if (COLLECTIONS[w]) return COLLECTIONS[w];
  for (const [plural, kind] of Object.entries(COLLECTIONS)) if (kind.toLowerCase() === w) return kind;
  if (w === 'policy') return 'Policy';
  return null;
}
