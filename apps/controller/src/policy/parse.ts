/**
 * Turns user input (a YAML stream, a JSON text, or already-parsed objects from
 * REST) into validated documents, reporting every problem at once with the
 * file, document, field and reason (DESIGN.md: "Bad input gets a clear error").
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { API_VERSION, Document, KINDS, Kind, SCHEMAS } from './schema';

export interface Issue {
  file?: string;
  /** 0-based index of the document in its input. */
  document?: number;
  kind?: string;
  name?: string;
  /** Field path, e.g. `spec.allow[1].ports[0]`; empty for the whole document. */
  path: string;
  message: string;
  /** 1-based line in the YAML source, when known. */
  line?: number;
}

export type DocumentIssue = Issue & { document: number };

/** `FILE: document N (Kind/name): path: message` */
export function formatIssue(i: Issue): string {
  const where: string[] = [];
  if (i.file) where.push(i.file);
  let doc = i.document !== undefined ? `document ${i.document}` : '';
  if (i.kind || i.name) doc += `${doc ? ' ' : ''}(${i.kind ?? '?'}/${i.name ?? '?'})`;
  if (doc) where.push(doc);
  if (i.path) where.push(i.path);
  return [...where, i.message].join(': ');
}

export class DocumentValidationError extends Error {
  constructor(readonly issues: DocumentIssue[]) {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the documents:\n` +
        issues.map((i) => `  ${formatIssue(i)}`).join('\n'),
    );
    this.name = 'DocumentValidationError';
  }
}

/** `['spec', 'allow', 1, 'ports', 0]` → `spec.allow[1].ports[0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

interface RawDoc {
  value: unknown;
  /** Finds the line of a path in the source, when the input was YAML. */
  lineOf?: (path: readonly PropertyKey[]) => number | undefined;
}

function readYaml(text: string, file: string | undefined, issues: DocumentIssue[]): RawDoc[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: RawDoc[] = [];
  list.forEach((d, index) => {
    if (d.errors.length > 0) {
      for (const e of d.errors) {
        const pos = lineCounter.linePos(e.pos[0]);
        issues.push({
          file,
          document: index,
          path: '',
          line: pos.line,
          message: `YAML syntax error at line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`,
        });
      }
      out.push({ value: undefined });
      return;
    }
    const lineOf = (path: readonly PropertyKey[]) => {
      for (let n = path.length; n >= 0; n--) {
        const node = d.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
        if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
      }
      return undefined;
    };
    out.push({ value: d.toJS({ maxAliasCount: 100 }), lineOf });
  });
  // A single top-level list (JSON array or YAML sequence) is a list of documents.
  if (out.length === 1 && Array.isArray(out[0].value)) return (out[0].value as unknown[]).map((value) => ({ value }));
  // `---` at the end of a file leaves an empty document: nothing to validate.
  return out;
}

/**
 * Fields the controller adds when it returns a stored document (GET /v1/segments/NAME, `cordon get -o yaml`):
 * accepted on input so that what was read can be applied back, and not stored. `version` is the stored
 * version the document was read at: apply refuses the document when the stored one has moved on since.
 */
export const SERVER_FIELDS = ['version', 'createdAt', 'updatedAt'] as const;

/** A validated document and the stored `version` it was read at, when it carries one. */
export interface ReadDocument {
  document: Document;
  version?: number;
}

/**
 * Parses and validates documents. `input` is a YAML stream (one or many
 * documents; JSON is YAML), or an array of objects as REST receives them.
 * Throws DocumentValidationError listing every problem of every document.
 */
export function parseDocuments(input: string | unknown[], source?: string): Document[] {
  return readDocuments(input, source).map((r) => r.document);
}

/**
 * parseDocuments, keeping the `version` each document names (SERVER_FIELDS). `values`, when given,
 * receives each non-empty document as read (before validation), in order: what `cordon apply` then
 * sends as JSON, so that the controller does not parse the YAML a second time.
 */
export function readDocuments(input: string | unknown[], source?: string, values?: unknown[]): ReadDocument[] {
  const issues: DocumentIssue[] = [];
  const raws: RawDoc[] = typeof input === 'string' ? readYaml(input, source, issues) : input.map((value) => ({ value }));
  const docs: ReadDocument[] = [];
  const seen = new Map<string, number>();

  raws.forEach((raw, index) => {
    const v = raw.value;
    if (v === undefined || v === null) {
      if (typeof input !== 'string') issues.push({ file: source, document: index, path: '', message: 'empty document' });
      return;
    }
    values?.push(v);
    const push = (path: readonly PropertyKey[], message: string, kind?: string, name?: string) =>
      issues.push({ file: source, document: index, kind, name, path: formatPath(path), message, line: raw.lineOf?.(path) });
    if (typeof v !== 'object' || Array.isArray(v)) {
      push([], 'a document is an object with apiVersion, kind, metadata and spec');
      return;
    }
    const o = v as Record<string, unknown>;
    const kind = typeof o.kind === 'string' && (KINDS as readonly string[]).includes(o.kind) ? (o.kind as Kind) : undefined;
    const meta = o.metadata as Record<string, unknown> | undefined;
    const name = meta && typeof meta === 'object' && typeof meta.name === 'string' ? meta.name : undefined;
    if (!kind) {
      push(['kind'], o.kind === undefined ? `kind is missing; it is one of ${KINDS.join(', ')}` : `unknown kind ${JSON.stringify(o.kind)}; it is one of ${KINDS.join(', ')}`, typeof o.kind === 'string' ? o.kind : undefined, name);
      if (o.apiVersion !== API_VERSION) push(['apiVersion'], `apiVersion must be ${API_VERSION}`, undefined, name);
      return;
    }
    const { version, createdAt, updatedAt, ...bare } = o;
    let expected: number | undefined;
    if (version !== undefined && version !== null) {
      if (typeof version === 'number' && Number.isInteger(version) && version >= 1) expected = version;
      else push(['version'], 'version is the stored version the document was read at (an integer from 1); remove it to apply regardless', kind, name);
    }
    for (const [field, t] of [['createdAt', createdAt], ['updatedAt', updatedAt]] as const) {
      if (t !== undefined && t !== null && typeof t !== 'string' && !(t instanceof Date)) push([field], `${field} is set by the controller (a time); it is ignored on input`, kind, name);
    }
    const schema = SCHEMAS[kind] as unknown as z.ZodType<Document>;
    const r = schema.safeParse(bare);
    if (!r.success) {
      for (const iss of r.error.issues) push(iss.path, issueMessage(iss), kind, name);
      return;
    }
    const key = `${kind}/${r.data.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      push(['metadata', 'name'], `duplicate ${kind} ${r.data.metadata.name}: document ${first} has the same kind and name`, kind, name);
      return;
    }
    seen.set(key, index);
    docs.push(expected === undefined ? { document: r.data } : { document: r.data, version: expected });
  });

  if (issues.length > 0) throw new DocumentValidationError(issues);
  return docs;
}

function issueMessage(iss: z.core.$ZodIssue): string {
  if (iss.code === 'unrecognized_keys') {
    return `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  return iss.message;
}
