// SPDX-License-Identifier: Apache-2.0
/**
 * Server-sent events read with fetch() (EventSource cannot send the
 * Authorization header, and the token never goes in a URL): a parser of the
 * text/event-stream format, pure and tested in sse.spec.ts, and openStream(),
 * which feeds a response body through it until the stream ends or is aborted.
 */
import { authHeaders } from './api';

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Chunks in, whole events out (fields split across chunks are held until their blank line). */
export class SseParser {
  private buf = '';
  private event = 'message';
  private data: string[] = [];
  private id: string | undefined;
  /** Events longer than this are a broken stream, not something to hold in memory. */
  constructor(private readonly maxBuffer = 8 * 2 ** 20) {}

  push(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    this.buf += chunk;
    if (this.buf.length > this.maxBuffer) throw new Error(`the stream sent more than ${this.maxBuffer} bytes without an event end`);
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\n|\r/)) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length) out.push({ event: this.event, data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) });
        this.event = 'message';
        this.data = [];
        this.id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: the server's heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

export class StreamError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * GETs `path` as an event stream with the signed-in token and hands each event to `onEvent`; resolves when the
 * server ends the stream, rejects (StreamError) when it refuses it or the connection breaks.
 */
export async function openStream(path: string, onEvent: (e: SseEvent) => void, signal: AbortSignal, lastEventId?: string): Promise<void> {
  const headers: Record<string, string> = { ...authHeaders(), accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const r = await fetch(path, { headers, signal, credentials: 'omit', cache: 'no-store' });
  if (!r.ok || !r.body) {
    let detail = `HTTP ${r.status}`;
    try {
      detail = ((await r.json()) as { detail?: string }).detail ?? detail;
    } catch {
      /* not a problem document */
    }
    throw new StreamError(r.status, detail);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const e of parser.push(value)) onEvent(e);
  }
}
