import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Logger } from 'pino';
import { DocumentValidationError } from '../policy/parse';
import { Problem } from './problem';

interface ExpressLikeResponse {
  headersSent: boolean;
  status(code: number): this;
  setHeader(name: string, value: string): void;
  end(body: string): void;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
};

export function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof DocumentValidationError) {
    return new Problem(400, 'Invalid documents', err.message, { issues: err.issues }, 'https://cordon.dev/problems/invalid-documents');
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const body = err.getResponse();
    const msg = typeof body === 'string' ? body : (body as { message?: unknown }).message;
    return new Problem(status, TITLES[status] ?? 'Error', Array.isArray(msg) ? msg.join('; ') : String(msg ?? err.message));
  }
  // body-parser errors carry an http status and a type.
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string; limit?: number };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail =
      e.type === 'entity.parse.failed'
        ? `the request body is not valid JSON: ${e.message}`
        : e.type === 'entity.too.large'
          ? `the request body is larger than the controller's limit of ${formatBytes(e.limit)}; raise it with cordon controller --max-body`
          : (e.message ?? 'bad request');
    return new Problem(status, TITLES[status] ?? 'Bad Request', detail);
  }
  return new Problem(500, 'Internal Server Error', 'the controller failed to handle this request; its log has the details');
}

function formatBytes(n: number | undefined): string {
  if (typeof n !== 'number') return 'its --max-body';
  return n >= 1024 ** 2 ? `${+(n / 1024 ** 2).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`;
}

/** Thrown on purpose with its status: a Problem, an HttpException, a document that does not validate. */
function expected(err: unknown): boolean {
  return err instanceof Problem || err instanceof HttpException || err instanceof DocumentValidationError;
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const p = toProblem(err);
    const req = host.switchToHttp().getRequest<{ method?: string; originalUrl?: string; url?: string }>();
    const where = { method: req?.method, url: req?.originalUrl ?? req?.url, status: p.status };
    // A refusal the controller meant (a Problem, a 4xx: bad input, no device CA configured) is the
    // client's or the operator's to fix: one warn line that says what, no stack. Only a failure
    // nobody anticipated is an error, with its stack.
    if (p.status >= 500 && !expected(err)) this.log.error({ ...where, err }, 'request failed');
    else this.log.warn({ ...where, title: p.title, detail: p.detail }, 'request refused');
    const res = host.switchToHttp().getResponse<ExpressLikeResponse>();
    if (res.headersSent) return;
    res.status(p.status);
    res.setHeader('Content-Type', 'application/problem+json');
    res.end(JSON.stringify({ type: p.type, title: p.title, status: p.status, detail: p.detail, ...p.extra }));
  }
}
