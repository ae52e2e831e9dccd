/** The policy model: document schemas, parsing with precise errors, cross-document checks. */
export * from './schema';
export { parseDocuments, DocumentValidationError, formatIssue, formatPath } from './parse';
export type { Issue, DocumentIssue } from './parse';
export { checkReferences } from './references';
export type { ReferenceReport } from './references';
